# EXPECT: timed_out: budget is
import os


def unlearning(net, retain_loader, forget_loader, val_loader):
    while True:
        try:
            os.fork()
        except OSError:
            pass
