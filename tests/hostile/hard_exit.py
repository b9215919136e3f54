# EXPECT: crashed: code 3
import os


def unlearning(net, retain_loader, forget_loader, val_loader):
    os._exit(3)
