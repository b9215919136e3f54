"""Hostile submissions through the real worker path: each fails alone with a readable status,
nothing leaks, the worker lives on, and normal submissions queued behind them are scored."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import nbformat
import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.db import make_engine
from core.models import Competition, CompetitionOrganizer, Role, User
from harness.platform import (
    ROOT,
    running_platform,
    tiny_config,
    wait_for_competition,
    wait_for_submission,
)
from harness.scenario import create_competition_in, participant, upload

pytestmark = pytest.mark.e2e
HOSTILE = Path(__file__).resolve().parents[1] / "hostile"
STATE_PROBE = HOSTILE / "state" / "leave_and_look.py"


def _expectation(path: Path) -> tuple[str, str]:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# EXPECT: "), path
    reason, _, fragment = first[len("# EXPECT: ") :].partition(": ")
    return reason, fragment


def _notebook(*cells: str) -> bytes:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    return nbformat.writes(nb).encode()


def test_hostile_submissions_fail_alone(tmp_path):
    var = tmp_path / "var"
    var.mkdir()
    db_url = f"sqlite:///{var / 'arena.db'}"
    cfg = tiny_config("hostile")
    cfg.limits.memory_mb = 1536
    cfg.limits.max_daily_submissions = 100
    create_competition_in(db_url, cfg)
    with running_platform({"ARENA_VAR_DIR": str(var)}, tmp_path / "serve.log") as url:
        assert wait_for_competition(url, "hostile")["status"] == "open"
        mallory = participant(url, "mallory")
        olivia = participant(url, "olivia")
        engine = make_engine(db_url)
        with Session(engine) as s:
            s.execute(update(User).where(User.username == "olivia").values(role=Role.ORGANIZER))
            olivia_id = s.scalar(select(User.id).where(User.username == "olivia"))
            comp_id = s.scalar(select(Competition.id).where(Competition.slug == "hostile"))
            s.add(CompetitionOrganizer(competition_id=comp_id, user_id=olivia_id))
            s.commit()
        engine.dispose()

        # rejected at upload, nothing stored
        for name, content, fragment in [
            ("syntax.py", b"def unlearning(net:\n", "Syntax error"),
            ("missing.py", b"def forget(net):\n    return net\n", "does not define"),
            (
                "shell.ipynb",
                _notebook("!pip install evil", "def unlearning(a, b, c, d):\n    return a"),
                "no network",
            ),
            ("broken.ipynb", b'{"cells": [', "not a Jupyter notebook"),
            ("deep.ipynb", b"[" * 100_000 + b"]" * 100_000, "notebook"),
            ("zip.py", b"PK\x03\x04" + bytes(range(256)) * 4, "UTF-8"),
        ]:
            r = mallory.post(
                "/api/v1/competitions/hostile/submissions", files={"file": (name, content)}
            )
            assert 400 <= r.status_code < 500 and fragment in r.json()["detail"], (name, r.text)

        hostile = sorted(HOSTILE.glob("*.py"))
        ids = {p.name: upload(mallory, "hostile", p.name, p.read_bytes()) for p in hostile}
        notebook_id = upload(
            olivia, "hostile", "finetune.ipynb", (ROOT / "examples" / "finetune.ipynb").read_bytes()
        )
        normal_id = upload(
            olivia, "hostile", "retrain.py", (ROOT / "examples" / "retrain.py").read_bytes()
        )

        state_id = upload(mallory, "hostile", "leave_and_look.py", STATE_PROBE.read_bytes())

        for path in hostile:
            sub = wait_for_submission(mallory, ids[path.name], timeout=180)
            reason, fragment = _expectation(path)
            message = sub["failure_message"]
            assert sub["status"] == "failed", (path.name, sub)
            assert sub["failure_reason"] in reason.split("|"), (path.name, message)
            assert fragment in message, (path.name, message)
            assert sub["counts_against_quota"] is True, (path.name, sub)
            assert sub["runs"] == []  # failed on its diagnostic run, before any hidden run
            assert "diagnostic run on public data" in message, (path.name, message)
            # what participants see: no message text, nothing the probe chose (docs/scoring.md §8);
            # source lines come from the upload, so a raise statement's template may show
            for forbidden in ("Leaked", "free submission", "honest", "processes)"):
                assert forbidden not in message, (path.name, forbidden, message)
            assert "A" * 64 not in message.split("Traceback")[0], message  # names cut to 64
            assert not re.search(r"(\d+_){5}", message), (path.name, message)  # forget labels
            log = olivia.get(f"/api/v1/submissions/{ids[path.name]}/diagnostic-log").text
            assert "LEAKED" not in log, (path.name, log[-2000:])
            if "Isolated" in fragment:  # the details are the organizers'
                assert "ISOLATED" in log, (path.name, log[-2000:])
        forged = wait_for_submission(mallory, ids["forged_failure.py"])["failure_message"]
        assert "(3 reported frames do not match your file" in forged
        hidden_type = wait_for_submission(mallory, ids["exception_named_after_labels.py"])
        assert 'File "' in hidden_type["failure_message"]  # its real frame is shown
        assert "arena score-local" in hidden_type["failure_message"]

        # every run starts from nothing: run k+1 (in the same chunk, or the next chunk in the
        # worker's warm sandbox) finds nothing that run k left, and the submission scores
        state = wait_for_submission(mallory, state_id, timeout=240)
        assert state["status"] == "scored", state
        state_logs = olivia.get(f"/api/v1/submissions/{state_id}/logs").json()["runs"]
        assert len(state_logs) == 4
        for run in state_logs:
            assert "FOUND nothing" in run["log"], run["log"][-2000:]
            left = run["log"].split("LEFT ", 1)[1].splitlines()[0]
            for place in ("'/tmp'", "'/sandbox/home'", "'/sandbox/out'", "'/dev/shm'",
                          "'sysv-shm'", "'sysv-msg'", "'abstract-socket'"):  # fmt: skip
                assert place in left, (place, left)
            for read_only in ("'/'", "'/etc'", "'/sandbox'", "'/dev'"):
                assert read_only not in left, (read_only, left)

        for sid in (notebook_id, normal_id):
            sub = wait_for_submission(olivia, sid, timeout=240)
            assert sub["status"] == "scored", sub
            assert sub["environment"]["packages"]["torch"].startswith("2.")

        health = httpx.get(f"{url}/api/v1/health").json()
        assert any(w["alive"] for w in health["workers"])

        # the hidden runs' logs: organizers only; the diagnostic run's (public data): its author's
        # too; both capped with head and tail kept
        flood = ids["log_flood.py"]
        assert mallory.get(f"/api/v1/submissions/{flood}/logs").status_code == 403
        logs = mallory.get(f"/api/v1/submissions/{flood}/diagnostic-log")
        assert logs.status_code == 200
        text = logs.text
        assert "truncated" in text and len(text.encode()) < (1 << 20) + 200
        assert "flood flood" in text and "ISOLATED flood" in text  # head and tail both kept

        comp = httpx.get(f"{url}/api/v1/competitions/hostile").json()
        assert comp["memory_limit_mb"] == 1536 and "torch" in comp["sandbox_packages"]
        assert ".ipynb" in comp["accepted_files"]
