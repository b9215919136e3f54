"""Every status change of submissions, private stages, chunks, runs and preparations.

This module is the one owner of those columns: the jobs, the reaper and the services call it,
and a test fails on a status written anywhere else. Each change is a conditional update: it
names the states it may leave (``frm``) and applies only to rows still in one of them, so that
two workers (or a worker and a cancel) never both win; and it refuses, with
:class:`IllegalTransition`, a move that the tables below do not allow (a programming error,
never a race).

Terms (as in :mod:`core.results`): a submission's **status** follows its first (public)
**stage**; under staged N a scored final pick then runs a second stage up to the private N
(``private_stage``). A stage is not a **part** (the public or private part of the forget set
that a leaderboard ranks on).
"""

from core.state.machine import (
    INITIAL,
    TRANSITIONS,
    IllegalTransition,
    allowed,
    change,
    initial,
    move,
)
from core.state.submissions import (
    cancel_submission,
    claim_private_stage,
    claim_submission,
    fail_private_stage,
    fail_submission,
    finish_private_stage,
    finish_submission,
    queue_private_stage,
    requeue_private_stage,
    requeue_submission,
)
from core.state.work import (
    RUN_OUTCOMES,
    abandon_chunks,
    back_to_draft,
    claim_chunk,
    fail_chunk,
    fail_preparation,
    finish_chunk,
    preparation_done,
    record_run_outcome,
    requeue_chunk,
    start_preparation,
    start_run,
)

__all__ = [
    "INITIAL",
    "IllegalTransition",
    "RUN_OUTCOMES",
    "TRANSITIONS",
    "abandon_chunks",
    "allowed",
    "back_to_draft",
    "cancel_submission",
    "change",
    "claim_chunk",
    "claim_private_stage",
    "claim_submission",
    "fail_chunk",
    "fail_preparation",
    "fail_private_stage",
    "fail_submission",
    "finish_chunk",
    "finish_private_stage",
    "finish_submission",
    "initial",
    "move",
    "preparation_done",
    "queue_private_stage",
    "record_run_outcome",
    "requeue_chunk",
    "requeue_private_stage",
    "requeue_submission",
    "start_preparation",
    "start_run",
]
