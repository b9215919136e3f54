"""A multi-file submission: this entry module defines unlearning; helpers.py beside it does
the work. Submit the folder (`arena submit -c digits32 multi-file/`, sent as a zip) or a zip of
it; score it locally with `arena score-local` on the zip.

The recipe: re-initialise the classifier head, then fine-tune on the retain set for a share of
the per-run budget (a simple forgetting baseline in the spirit of the 2023 entries).
"""

import os

from helpers import finetune, reset_head


def unlearning(net, retain_loader, forget_loader, val_loader):
    budget = float(os.environ.get("ARENA_BUDGET_SECONDS", "60"))
    deadline = 0.6 * budget  # on the platform's clock, which started at the import
    reset_head(net)
    finetune(net, retain_loader, deadline, epochs=3)
    return net.eval()
