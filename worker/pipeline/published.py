"""What a participant learns of a run that saw hidden data (docs/security.md, "what leaves a
hidden-data run"): its status, its time at the published precision, and (of the submission) the
score. Nothing the run chose after its data was handed over: no exception type, frame, module
name, source line, signal, exit code or tensor name, whatever the run claims about when it
failed.

One choke point, :func:`published`, applied by :func:`worker.pipeline.trials.run_trial` to
every run on hidden data (the scoring jobs and the baselines), failures at import included (the
run's own data did not exist yet, but an earlier run's could reach it through state the host
shares, its page cache). A run on public data (the diagnostic run, ``arena score-local``) keeps
its full message, so the same import error is shown in full there.

The messages are a fixed table keyed by the outcome; the only figures in them are the platform's
own (budget, memory limit) and the run's charged time, written by the worker.
"""

from __future__ import annotations

from dataclasses import replace

from worker.sandbox.run_spec import RunResult

DIAGNOSTIC = (
    "The diagnostic run on public data (on your submission's page) shows your traceback and log."
)
FIXED = {
    "crashed": "The run failed on the hidden data. What it raised, where and how it ended is not "
    "shown for runs on hidden data (it could carry them). " + DIAGNOSTIC,
    "out_of_memory": "The run raised a memory error on the hidden data. " + DIAGNOSTIC,
    "invalid_output": "What unlearning() returned on the hidden data is not a valid model of the "
    "original architecture. " + DIAGNOSTIC,
}


def published(result: RunResult) -> RunResult:
    """``result`` as a participant may see it of a run on hidden data: a message the run chose
    (``reported``) becomes its outcome's fixed text, at import too (an import sees no data of its
    own run, but can read what an earlier run left in the host's caches; the diagnostic run on
    public data shows the same import error in full)."""
    if not result.reported:
        return result
    return replace(result, message=FIXED.get(result.outcome, FIXED["crashed"]))
