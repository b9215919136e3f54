# EXPECT: invalid_output: do not fit the original architecture
import torch


def unlearning(net, retain_loader, forget_loader, val_loader):
    return torch.nn.Sequential(torch.nn.Linear(64, 3))
