# EXPECT: timed_out: budget is
import signal


def unlearning(net, retain_loader, forget_loader, val_loader):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        pass
