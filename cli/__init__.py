"""The `arena` command.

As in the worker (``worker/__init__.py``): OpenMP threads sleep when idle, so that CPU time
measured here (`arena score-local`'s budget and runs) is the work done, not spinning.
"""

import os

os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
