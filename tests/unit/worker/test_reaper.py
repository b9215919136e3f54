"""The reaper on its own (in process): lost running work is requeued with its finished runs
kept, then failed as the platform's fault; lost queue messages are resent; a lost preparation
resumes, then fails. Two reapers at once act once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from core.db import session_scope
from core.models import Competition, Run, Submission, User, WorkChunk, utcnow
from core.queue import CONTROL_QUEUE, enqueue_scoring, queue_depth
from core.settings import get_settings
from harness.platform import tiny_config
from server.services.platform import seed_competition
from worker.hardware import run_queue
from worker.jobs.reap import reap


@pytest.fixture
def settings(migrated_db):
    s = get_settings()
    saved = s.stale_after_seconds, s.max_attempts
    s.stale_after_seconds, s.max_attempts = 60, 3
    yield s
    s.stale_after_seconds, s.max_attempts = saved


def _competition(slug: str, status: str = "open") -> int:
    with session_scope() as s:
        comp = seed_competition(s, tiny_config(slug))
        comp.status = status
        return comp.id


def _submission(
    comp_id: int, status: str, beat_age: float | None, attempts: int = 0, age: float = 0
) -> int:
    now = utcnow()
    with session_scope() as s:
        user = User(username=f"reap-{now.timestamp()}-{status}-{attempts}", password_hash="x")
        s.add(user)
        s.flush()
        sub = Submission(
            competition_id=comp_id,
            user_id=user.id,
            filename="m.py",
            kind="py",
            sha256="0" * 64,
            size_bytes=1,
            n_models=4,
            status=status,
            attempts=attempts,
            created_at=now - timedelta(seconds=age),
            heartbeat_at=None if beat_age is None else now - timedelta(seconds=beat_age),
        )
        s.add(sub)
        s.flush()
        s.add(
            Run(
                submission_id=sub.id,
                index=0,
                seed=1,
                status="finished",
                budget_seconds=1,
                seconds=0.5,
            )
        )
        s.add(Run(submission_id=sub.id, index=1, seed=2, status="running", budget_seconds=1))
        return sub.id


def _get(sid: int) -> tuple[Submission, list[str]]:
    with session_scope() as s:
        sub = s.get(Submission, sid)
        runs = s.scalars(
            select(Run.status).where(Run.submission_id == sid).order_by(Run.index)
        ).all()
        s.expunge(sub)
        return sub, list(runs)


def test_a_lost_running_submission_is_requeued_keeping_its_finished_runs(settings):
    comp = _competition("reap-a")
    lost = _submission(comp, "running", beat_age=300)
    alive = _submission(comp, "running", beat_age=5)
    counts = reap(settings)
    assert counts["requeued"] >= 1
    sub, runs = _get(lost)
    assert sub.status == "queued" and sub.attempts == 1 and runs == ["finished"]
    sub, runs = _get(alive)
    assert sub.status == "running" and runs == ["finished", "running"]
    assert reap(settings)["requeued"] == 0  # nothing more to do: acted once


def test_the_last_attempt_fails_as_the_platforms_fault(settings):
    comp = _competition("reap-b")
    sid = _submission(comp, "running", beat_age=300, attempts=2)
    reap(settings)
    sub, _ = _get(sid)
    assert sub.status == "failed" and sub.failure_reason == "infrastructure"
    assert sub.counts_against_quota is False and "stopped answering 3 times" in sub.failure_message


def _purge(queue: str) -> None:
    """Empty a queue of the (real, filesystem) test broker."""
    from worker.celery_app import app

    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge(queue)


def test_a_queued_submission_whose_message_was_lost_is_sent_again(settings):
    comp = _competition("reap-c")
    waiting = _submission(comp, "queued", beat_age=None, age=600)
    fresh = _submission(comp, "queued", beat_age=None, age=1)
    _purge(CONTROL_QUEUE)
    assert queue_depth(CONTROL_QUEUE) == 0
    reap(settings)
    assert _get(waiting)[0].heartbeat_at is not None  # resent, stamped
    assert _get(fresh)[0].heartbeat_at is None
    assert _get(waiting)[0].status == "queued"
    assert queue_depth(CONTROL_QUEUE) >= 1  # the message is in the broker


def test_queued_work_is_not_resent_while_its_queue_holds_messages(settings):
    comp = _competition("reap-c2")
    _purge(CONTROL_QUEUE)
    enqueue_scoring(10**9)  # somebody else's message, waiting for a worker
    waiting = _submission(comp, "queued", beat_age=None, age=600)
    reap(settings)
    assert _get(waiting)[0].heartbeat_at is None  # its message is probably in the queue too
    _purge(CONTROL_QUEUE)


def _chunk(comp_id: int, sid: int | None, status: str, beat_age: float | None, **kw) -> int:
    now = utcnow()
    with session_scope() as s:
        chunk = WorkChunk(
            kind="runs" if sid is not None else "references",
            competition_id=comp_id,
            submission_id=sid,
            start=kw.get("start", 0),
            stop=kw.get("stop", 2),
            hardware_class="cpu-test",
            status=status,
            attempts=kw.get("attempts", 0),
            worker="w1@host" if status == "running" else None,
            sent_at=None if kw.get("held") else now - timedelta(seconds=kw.get("sent_age", 0)),
            created_at=now - timedelta(seconds=kw.get("age", 0)),
            heartbeat_at=None if beat_age is None else now - timedelta(seconds=beat_age),
        )
        s.add(chunk)
        s.flush()
        return chunk.id


def _chunk_row(chunk_id: int) -> WorkChunk:
    with session_scope() as s:
        row = s.get(WorkChunk, chunk_id)
        s.expunge(row)
        return row


def test_a_lost_chunk_goes_back_to_its_queue_keeping_finished_runs(settings):
    comp = _competition("reap-e")
    sid = _submission(comp, "running", beat_age=300)  # its own beat is old: chunks carry it
    lost = _chunk(comp, sid, "running", beat_age=300)
    alive = _chunk(comp, sid, "running", beat_age=2, start=2, stop=4)
    _purge(run_queue("cpu-test"))
    counts = reap(settings)
    assert counts["chunks_requeued"] == 1 and counts["requeued"] == 0
    row = _chunk_row(lost)
    assert row.status == "queued" and row.attempts == 1 and row.worker is None
    assert _chunk_row(alive).status == "running"
    sub, runs = _get(sid)
    assert sub.status == "running" and runs == ["finished"]  # the lost run 1 will run again
    assert queue_depth(run_queue("cpu-test")) == 1  # sent to its hardware class
    assert reap(settings)["chunks_requeued"] == 0  # acted once
    _purge(run_queue("cpu-test"))


def test_a_chunk_lost_too_often_fails_its_submission_as_crashed_and_counted(settings):
    comp = _competition("reap-f")
    sid = _submission(comp, "running", beat_age=300)
    lost = _chunk(comp, sid, "running", beat_age=300, attempts=2)
    other = _chunk(comp, sid, "queued", beat_age=None, start=2, stop=4)
    assert reap(settings)["chunks_failed"] == 1
    assert _chunk_row(lost).status == "failed"
    assert _chunk_row(other).status == "abandoned"
    sub, _ = _get(sid)
    # the worker was lost while running this submission's code on every attempt: not provably
    # the platform's fault, so not a free submission
    assert sub.status == "failed" and sub.failure_reason == "crashed"
    assert sub.counts_against_quota is True
    assert "lost on each of its 3 attempts" in sub.failure_message


def test_a_lost_chunk_message_is_resent_only_when_its_queue_is_empty(settings):
    comp = _competition("reap-g")
    sid = _submission(comp, "running", beat_age=300)
    waiting = _chunk(comp, sid, "queued", beat_age=None, sent_age=600)
    before = _chunk_row(waiting).sent_at
    _purge(run_queue("cpu-test"))
    assert reap(settings)["chunks_resent"] == 1
    assert _chunk_row(waiting).sent_at > before
    assert queue_depth(run_queue("cpu-test")) == 1
    with session_scope() as s:
        s.get(WorkChunk, waiting).sent_at = before
    assert reap(settings)["chunks_resent"] == 0  # a message is waiting: no duplicate
    _purge(run_queue("cpu-test"))


def test_a_lost_preparation_resumes_then_fails(settings):
    cid = _competition("reap-d", status="preparing")
    with session_scope() as s:
        s.get(Competition, cid).heartbeat_at = utcnow() - timedelta(seconds=300)
    assert reap(settings)["preparations"] == 1
    with session_scope() as s:
        comp = s.get(Competition, cid)
        assert comp.status == "preparing" and comp.preparation_attempts == 1
        comp.heartbeat_at = utcnow() - timedelta(seconds=300)
        comp.preparation_attempts = 2
    reap(settings)
    with session_scope() as s:
        comp = s.get(Competition, cid)
        assert comp.status == "failed" and "prepare again to resume" in comp.status_message


def test_held_chunks_whose_first_chunk_was_never_sent_are_started(settings):
    comp = _competition("reap-h")
    sid = _submission(comp, "running", beat_age=300)
    held = [
        _chunk(comp, sid, "queued", None, held=True, age=600, start=a, stop=a + 2)
        for a in (0, 2, 4)
    ]
    _purge(run_queue("cpu-test"))
    assert reap(settings)["chunks_resent"] == 1  # the first only: fail fast still holds
    rows = [_chunk_row(c) for c in held]
    assert rows[0].sent_at is not None and rows[1].sent_at is None and rows[2].sent_at is None
    assert reap(settings)["chunks_resent"] == 0  # the first is on its way: the rest wait for it
    _purge(run_queue("cpu-test"))
