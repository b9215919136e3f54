"""ARENA_LOG_FORMAT=json makes the API's log records JSON too (uvicorn's own included), one
object per line, as the workers' are (core/logs.py)."""

from __future__ import annotations

import json

import httpx
import pytest

from harness.platform import running_platform

pytestmark = pytest.mark.e2e


def test_the_api_logs_json_like_the_workers(tmp_path):
    env = {
        "ARENA_VAR_DIR": str(tmp_path / "var"),
        "ARENA_START_WORKER": "false",
        "ARENA_LOG_FORMAT": "json",
        "ARENA_ACCESS_LOG": "true",
    }
    log = tmp_path / "serve.log"
    with running_platform(env, log, require_worker=False) as url:
        assert httpx.get(f"{url}/api/v1/competitions").status_code == 200
    records = []
    for line in log.read_text().splitlines():
        if line.startswith("{"):
            records.append(json.loads(line))
    loggers = {r["logger"] for r in records}
    assert {"uvicorn.error", "uvicorn.access"} <= loggers, loggers
    access = [r for r in records if r["logger"] == "uvicorn.access"]
    assert any("/api/v1/competitions" in r["message"] for r in access)
    assert all({"time", "level", "message"} <= set(r) for r in records)
