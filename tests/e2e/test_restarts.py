"""Restart PostgreSQL and Redis during a burst of uploads and scoring (private servers on
spare ports): every accepted upload is stored and ends scored; no upload was accepted without
being stored; while the database is down the API answers 503 with Retry-After, never 500."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from core.storage import Storage
from harness.platform import (
    running_platform,
    tiny_config,
    wait_for_competition,
    wait_for_submission,
)
from harness.scenario import create_competition_in, participant
from tests.private_servers import private_servers

pytestmark = [pytest.mark.e2e, pytest.mark.services]
GOOD = b"def unlearning(net, retain_loader, forget_loader, val_loader):\n    return net\n"


def test_database_and_broker_restarts_lose_nothing(tmp_path):
    with private_servers(tmp_path / "servers") as (pg, rd):
        cfg = tiny_config("restarts")
        cfg.limits.max_daily_submissions = 100
        create_competition_in(pg.url.replace("postgresql://", "postgresql+psycopg://"), cfg)
        env = {
            "ARENA_VAR_DIR": str(tmp_path / "var"),
            "DATABASE_URL": pg.url,
            "BROKER_URL": rd.url,
            "ARENA_STALE_AFTER_SECONDS": "8",
            "ARENA_REAPER_INTERVAL_SECONDS": "1",
        }
        with running_platform(env, tmp_path / "serve.log") as url:
            assert wait_for_competition(url, "restarts", timeout=240)["status"] == "open"
            clients = [participant(url, f"burst{i}") for i in range(3)]
            for c in clients:
                assert c.post("/api/v1/competitions/restarts/rules/accept").status_code == 200
            results: list[tuple[int, int | None]] = []

            def burst() -> None:
                for i in range(36):
                    c = clients[i % 3]
                    try:
                        r = c.post(
                            "/api/v1/competitions/restarts/submissions",
                            files={"file": (f"m{i}.py", GOOD)},
                            timeout=30,
                        )
                        sid = r.json().get("id") if r.status_code == 202 else None
                        results.append((r.status_code, sid))
                    except httpx.HTTPError:
                        results.append((0, None))  # connection trouble: not accepted
                    time.sleep(0.25)

            thread = threading.Thread(target=burst)
            thread.start()
            time.sleep(2)
            pg.stop()  # the database goes away in the middle of the burst
            down = httpx.get(f"{url}/api/v1/competitions/restarts", timeout=30)
            assert down.status_code == 503 and "Retry-After" in down.headers, down.text
            assert "database" in down.json()["detail"].lower()
            time.sleep(2)
            pg.start()
            time.sleep(2)
            rd.stop()  # then the broker (it keeps nothing on disk: queued messages are lost)
            time.sleep(2)
            rd.start()
            thread.join(timeout=120)

            codes = [code for code, _ in results]
            assert 500 not in codes and all(code in (202, 503, 0) for code in codes), codes
            accepted = [sid for code, sid in results if code == 202]
            assert len(accepted) >= 10 and len(set(accepted)) == len(accepted)
            storage = Storage.__new__(Storage)
            storage.root = tmp_path / "var" / "storage"
            for sid in accepted:  # stored before the 202
                assert storage.submission_code(sid).is_file(), sid
            owner = {sid: clients[i % 3] for i, (code, sid) in enumerate(results) if code == 202}
            for sid in accepted:  # and every one is scored in the end
                sub = wait_for_submission(owner[sid], sid, timeout=300)
                assert sub["status"] == "scored", sub
