# EXPECT: crashed: ZeroDivisionError
import math

RATIO = math.pi / 0


def unlearning(net, retain_loader, forget_loader, val_loader):
    return net
