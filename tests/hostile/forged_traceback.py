# EXPECT: crashed: do not match your file
import traceback


def unlearning(net, retain_loader, forget_loader, val_loader):
    labels = "_".join(str(int(y)) for _, ys in forget_loader for y in ys)
    real = traceback.extract_tb

    def forged(tb, limit=None):
        frames = real(tb, limit)
        path = frames[-1].filename
        fake = [traceback.FrameSummary(path, 6, f"HIDDEN_{labels}", line="x", lookup_line=False)]
        return traceback.StackSummary.from_list(fake + list(frames))

    traceback.extract_tb = forged
    raise ValueError(f"HIDDEN {labels}")
