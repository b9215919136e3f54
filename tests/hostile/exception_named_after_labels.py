# EXPECT: crashed: not one the platform can verify
def unlearning(net, retain_loader, forget_loader, val_loader):
    labels = "_".join(str(int(y)) for _, ys in forget_loader for y in ys)
    hidden = type(f"HIDDEN_{labels}", (Exception,), {"__module__": "builtins"})
    raise hidden(f"HIDDEN in the message too: {labels}")
