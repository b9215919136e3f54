"""The worker: jobs, sandbox, training.

OpenMP threads sleep when idle instead of spinning (``OMP_WAIT_POLICY=PASSIVE``), set before
torch loads its OpenMP runtime: a spinning thread burns CPU time while it waits, many times the
real work on a busy host, and CPU time is what the clock charges runs and times the original
training with (docs/scoring.md §1). The sandbox's runs get the same setting.
"""

import os

os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
