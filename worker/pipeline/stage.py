"""Which stage of a submission is being worked on, and how a stage ends in failure.

A submission's first stage runs its public N (``status``: queued → running → scored); under
staged N a scored final pick runs a second stage up to the private N (``private_stage``).
Every status change goes through :mod:`core.state`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from core import state
from core.competition_config import CompetitionConfig
from core.db import session_scope
from core.models import (
    ChunkKind,
    Competition,
    FailureReason,
    PrivateStage,
    Submission,
    SubmissionStatus,
)
from worker.pipeline import fanout
from worker.pipeline.picks import private_stage_ended

Stage = Literal["public", "private"]

INFRASTRUCTURE_MESSAGE = (
    "An internal error of the platform stopped the scoring of this submission. It does not count "
    "against your quota; the platform's log has the details for its operators. Please submit again "
    "later."
)


class SubmissionFailed(Exception):
    """A stage ends: ``counts`` says whether it counts against the participant's quota."""

    def __init__(self, reason: FailureReason, message: str, counts: bool = True) -> None:
        super().__init__(message)
        self.reason, self.message, self.counts = reason, message, counts


def infrastructure_failure() -> SubmissionFailed:
    return SubmissionFailed(FailureReason.INFRASTRUCTURE, INFRASTRUCTURE_MESSAGE, counts=False)


class Cancelled(Exception):
    """The submission was cancelled while it ran; its status already says so."""


@dataclass(frozen=True)
class Context:
    submission_id: int
    kind: str
    config: CompetitionConfig
    slug: str
    competition_id: int
    scoring_version: int
    stage: Stage = "public"  # "private": a final pick's runs up to the private N (staged N)

    @property
    def n_runs(self) -> int:
        """Runs this stage needs: N, the public N, or (private stage) the private N."""
        cfg = self.config.scoring
        return cfg.n_references if self.stage == "private" else cfg.n_public


def context_of(sub: Submission, comp: Competition, stage: Stage = "public") -> Context:
    return Context(
        sub.id,
        sub.kind,
        comp.working_config,
        comp.slug,
        comp.id,
        comp.scoring_version,
        stage,
    )


def stage_of(sub: Submission | None) -> Stage | None:
    """Which stage of this submission is being worked on: "public", "private" or None."""
    if sub is None:
        return None
    if sub.status == SubmissionStatus.RUNNING:
        return "public"
    if sub.status == SubmissionStatus.SCORED and sub.private_stage == PrivateStage.RUNNING:
        return "private"
    return None


def running_context(submission_id: int) -> Context | None:
    with session_scope() as s:
        sub = s.get(Submission, submission_id)
        stage = stage_of(sub)
        if sub is None or stage is None:
            return None
        return context_of(sub, s.get(Competition, sub.competition_id), stage)


def cancelled(submission_id: int) -> bool:
    """True once the submission's stage is no longer being worked on (cancelled, failed)."""
    with session_scope() as s:
        return stage_of(s.get(Submission, submission_id)) is None


def fail(ctx: Context, failure: SubmissionFailed) -> None:
    """End the stage: a public stage fails the submission; a private one leaves the public
    score standing. Its chunks still queued or running are abandoned."""
    with session_scope() as s:
        if ctx.stage == "private":
            state.fail_private_stage(s, ctx.submission_id, f"{failure.reason}: {failure.message}")
        else:
            state.fail_submission(
                s, ctx.submission_id, failure.reason, failure.message, counts=failure.counts
            )
    fanout.abandon(ChunkKind.RUNS, ctx.competition_id, ctx.submission_id)
    if ctx.stage == "private":
        private_stage_ended(ctx.competition_id)
