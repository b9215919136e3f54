# EXPECT: out_of_memory: memory
def unlearning(net, retain_loader, forget_loader, val_loader):
    hoard = []
    while True:
        hoard.append(bytearray(64 << 20))
        hoard[-1][::4096] = b"x" * len(hoard[-1][::4096])  # touch the pages
