# EXPECT: timed_out|out_of_memory: stopped
import os


def unlearning(net, retain_loader, forget_loader, val_loader):
    while True:
        try:
            os.fork()
        except OSError:
            pass
