"""The walking skeleton's acceptance path, run against a live platform (embedded or real services)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np

from core.splits import public_mask
from harness.platform import ROOT, wait_for_competition, wait_for_submission
from harness.scenario import participant, upload

CRASHING = """
def helper(net):
    raise RuntimeError("boom from participant code")


def unlearning(net, retain_loader, forget_loader, val_loader):
    return helper(net)
"""


def run_scenario(url: str, slug: str, tmp_path: Path, *, use_cli: bool = True) -> None:
    comp = wait_for_competition(url, slug)
    assert comp["status"] == "open", comp
    assert comp["budgets"] and comp["budgets"][0]["budget_seconds"] >= 1.5

    alice, bob, carol = (
        participant(url, "alice"),
        participant(url, "bob"),
        participant(url, "carol"),
    )
    retrain_id = upload(alice, slug, "retrain.py", (ROOT / "examples" / "retrain.py").read_bytes())
    crash_id = upload(carol, slug, "crash.py", CRASHING.encode())

    if use_cli:  # the CLI path: `arena submit` follows the submission until it is scored
        token = bob.headers["Authorization"].split()[1]
        env = {**os.environ, "ARENA_URL": url, "ARENA_TOKEN": token}
        out = subprocess.run(
            [
                str(Path(sys.executable).parent / "arena"),
                "submit",
                "--accept-rules",
                "--competition",
                slug,
                str(ROOT / "examples" / "identity.py"),
                "--poll",
                "0.3",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert out.returncode == 0, out.stderr + out.stdout
        assert "scored" in out.stdout
        identity = bob.get(f"/api/v1/competitions/{slug}/submissions").json()[0]
    else:
        identity = wait_for_submission(
            bob, upload(bob, slug, "identity.py", (ROOT / "examples" / "identity.py").read_bytes())
        )

    retrain = wait_for_submission(alice, retrain_id)
    crash = wait_for_submission(carol, crash_id)

    assert retrain["status"] == "scored", retrain
    assert identity["status"] == "scored", identity
    assert identity["score"] == 0.0  # identical runs: degenerate, every ε at the cap
    assert retrain["score"] > identity["score"]
    assert retrain["forgetting_quality"] > 0
    low, high = retrain["score_ci"]
    assert low <= retrain["score"] <= high
    assert retrain["runs_done"] == retrain["n_models"] == 4
    assert len(retrain["runs"]) == 4
    assert all(
        r["status"] == "finished" and r["seconds"] <= r["budget_seconds"] for r in retrain["runs"]
    )
    # participants see the public part of the forget set only (30% of the 24, by the seed)
    public = np.flatnonzero(public_mask(24, 0.3, 7))
    assert sum(retrain["epsilon_histogram"]["counts"]) == len(public) - retrain["n_unscorable"]
    f_low, f_high = retrain["forgetting_quality_ci"]
    assert f_low <= retrain["forgetting_quality"] <= f_high
    assert set(retrain["secondary"]) >= {
        "mia",
        "mia_target",
        "avg_gap",
        "rf_jsd_x1e4",
        "jsd_to_retrained_x1e4",
    }
    # before the close, public examples by their position in the public part, never by id
    assert len(retrain["most_distinguishable"]) == min(10, len(public))
    assert set(retrain["most_distinguishable"]) <= set(range(1, len(public) + 1))
    assert retrain["private_score"] is None  # organizers only until the close

    assert crash["status"] == "failed"
    assert crash["failure_reason"] == "crashed"
    assert crash["counts_against_quota"] is True
    message = crash["failure_message"]
    assert "boom from participant code" in message and "in helper" in message
    assert (
        "sandbox/entry" not in message and "worker/" not in message
    )  # only the participant's frames

    # nobody else may read a submission
    assert bob.get(f"/api/v1/submissions/{retrain_id}").status_code == 404

    board = httpx.get(f"{url}/api/v1/competitions/{slug}/leaderboard").json()
    ranked = [r for r in board["rows"] if not r["reference"]]
    assert [r["name"] for r in ranked] == ["alice", "bob"]  # the crashed one has no row
    assert [r["rank"] for r in ranked] == [1, 2]
    assert ranked[0]["score"] == retrain["score"] and ranked[0]["submissions"] == 1
    references = {r["name"] for r in board["rows"] if r["reference"]}
    assert references == {"retrain, 2 vs 2", "original model (do nothing)"}

    health = httpx.get(f"{url}/api/v1/health").json()
    assert health["database"] == "ok" and health["broker"].startswith("ok")
    assert any(w["alive"] for w in health["workers"])
    page = httpx.get(f"{url}/c/{slug}")
    assert page.status_code == 200 and "alice" in page.text
