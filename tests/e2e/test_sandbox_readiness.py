"""The sandbox checks itself at start: the demo path as an unprivileged user (no root anywhere
in the platform), and a platform started where namespaces cannot be made (a jail that forbids
them): it says why and what fixes it, and its worker takes no work, so a submission waits
instead of failing as `infrastructure`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from harness.platform import ROOT, running_platform, tiny_config, unprivileged, wait_for_submission
from harness.scenario import GOOD_SUBMISSION, create_competition_in, participant, upload

pytestmark = pytest.mark.e2e

NOBODY = 65534
# a jail in which no namespace can be made (as with user namespaces disabled), run as uid 1000
NO_NAMESPACES = (
    "bwrap", "--unshare-user", "--disable-userns", "--uid", "1000", "--gid", "1000",
    "--bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--",
)  # fmt: skip


@pytest.fixture()
def shared_var():
    """A var folder the unprivileged platform can write (pytest's own tmp is root's, 0700)."""
    folder = Path(tempfile.mkdtemp(prefix="arena-unprivileged-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _env(var: Path) -> dict[str, str]:
    return {
        "ARENA_VAR_DIR": str(var),
        "HOME": str(var),  # nobody's home does not exist
        "NUMBA_CACHE_DIR": str(var / "numba"),  # the checkout is root's: kernels cached here
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def test_the_readiness_report_where_namespaces_are_forbidden():
    out = subprocess.run(
        [*NO_NAMESPACES, sys.executable, "-m", "worker.sandbox.readiness"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert out.returncode == 1, out.stdout + out.stderr
    assert "sandbox: NOT READY" in out.stdout
    assert "reason: bubblewrap cannot create the sandbox here: bwrap:" in out.stdout
    assert "fix:" in out.stdout and "namespaces" in out.stdout.split("fix:")[1]
    ready = subprocess.run(
        [sys.executable, "-m", "worker.sandbox.readiness"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert ready.returncode == 0 and "sandbox: ready" in ready.stdout, ready.stdout
    assert "network: none" in ready.stdout and "seccomp" in ready.stdout


def test_the_demo_path_unprivileged_then_a_worker_that_cannot_confine_takes_nothing(
    shared_var, tmp_path
):
    var = shared_var
    create_competition_in(f"sqlite:///{var / 'arena.db'}", tiny_config("tiny-nobody"))
    prefix = unprivileged(NOBODY)
    if prefix:
        for path in [var, *var.rglob("*")]:
            os.chown(path, NOBODY, NOBODY)
    log = tmp_path / "serve-nobody.log"
    with running_platform(_env(var), log, timeout=180, prefix=prefix) as url:
        alice = participant(url, "alice")
        sid = upload(alice, "tiny-nobody", "identity.py", GOOD_SUBMISSION)
        done = wait_for_submission(alice, sid)
        assert done["status"] == "scored", done
        workers = httpx.get(f"{url}/api/v1/health").json()["workers"]
        assert workers and all(w["takes_work"] for w in workers)
    banner = log.read_text()
    assert "sandbox: ready" in banner
    if prefix:  # the platform was nobody: its sandbox runs as nobody, in a user namespace
        assert f"runs as this user (uid {NOBODY}) inside its own user namespace" in banner

    # the same platform where no namespace can be made: it says so, and takes no work
    if prefix:  # the jail runs as this process's own user (root), mapped to uid 1000
        for path in [var, *var.rglob("*")]:
            os.chown(path, os.geteuid(), os.getegid())
    log = tmp_path / "serve-no-namespaces.log"
    env = {**_env(var), "ARENA_HEARTBEAT_SECONDS": "1"}
    with running_platform(env, log, require_worker=False, prefix=NO_NAMESPACES) as url:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            health = httpx.get(f"{url}/api/v1/health").json()
            fresh = [w for w in health["workers"] if w["alive"] and w["sandbox"] is not None]
            if health["status"] == "degraded" and any(not w["takes_work"] for w in fresh):
                break
            time.sleep(0.5)
        assert health["status"] == "degraded", health
        idle = next(w for w in fresh if not w["takes_work"])
        assert idle["sandbox"]["ready"] is False and "bwrap" in idle["sandbox"]["reason"]
        bob = participant(url, "bob")
        sid = upload(bob, "tiny-nobody", "identity.py", GOOD_SUBMISSION)
        time.sleep(5)  # a worker that took it would have failed it or started its runs by now
        assert bob.get(f"/api/v1/submissions/{sid}").json()["status"] == "queued"
        page = httpx.get(f"{url}/c/tiny-nobody").text
        assert "Packages in the sandbox" in page and "reported by a worker of class" in page
    text = log.read_text()
    assert "sandbox: NOT READY" in text and "fix:" in text
    assert "takes no work: its sandbox is not ready" in text
