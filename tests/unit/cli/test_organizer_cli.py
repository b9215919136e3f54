"""The organizer and participant CLI against a running platform (`arena serve`), on the
embedded default and on PostgreSQL + Redis: create from YAML, upload the dataset, prepare with
a progress bar, open, accept the rules, submit, teams, export, audit, close."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.platform import ROOT, running_platform
from harness.services import clean_redis_url, fresh_postgres_database
from tests.organizer_flow import (
    EXAMPLE_BUNDLE,
    FINETUNE,
    competition_yaml,
    dataset_npz,
    digits32_hidden,
    einops_wheelhouse,
    tiny_bundle,
)

pytestmark = [pytest.mark.e2e]
ARENA = str(Path(sys.executable).parent / "arena")
PASSWORD = "correct horse battery"


def _arena(env: dict[str, str], *args: str, ok: bool = True) -> subprocess.CompletedProcess:
    out = subprocess.run(
        [ARENA, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    if ok:
        assert out.returncode == 0, (args, out.stdout, out.stderr)
    return out


def _flow(platform_env: dict[str, str], url: str, tmp_path: Path) -> None:
    env = {**os.environ, **platform_env, "ARENA_URL": url, "ARENA_PASSWORD": PASSWORD}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")  # where `arena login` saves the token
    env.pop("ARENA_TOKEN", None)
    for name, role in (("olga", "organizer"), ("pat", "participant"), ("quinn", "participant")):
        _arena(env, "admin", "create-user", name, "--role", role)
    olga = {**env, "ARENA_TOKEN": _arena(env, "login", "olga").stdout.strip()}
    pat = {**env, "ARENA_TOKEN": _arena(env, "login", "pat").stdout.strip()}
    quinn = {**env, "ARENA_TOKEN": _arena(env, "login", "quinn").stdout.strip()}

    bad = tmp_path / "bad.yaml"
    bad.write_text(
        competition_yaml("clitest").replace("n_models: 4", "n_models: 1")
        + "phases:\n  - {name: a, start: 2027-01-02T00:00:00Z, end: 2027-01-01T00:00:00Z}\n"
    )
    out = _arena(olga, "competition", "create", str(bad), ok=False)
    assert out.returncode == 1 and "scoring.n_models" in out.stderr
    assert "phases[0].end: before phases[0].start" in out.stderr
    out = _arena(pat, "competition", "create", str(bad), ok=False)
    assert out.returncode == 1 and "organizer role" in out.stderr

    good = tmp_path / "clitest.yaml"
    good.write_text(competition_yaml("clitest"))
    assert _arena(olga, "competition", "create", str(good)).stdout.strip() == "clitest"
    data = tmp_path / "data.npz"
    data.write_bytes(dataset_npz())
    out = _arena(olga, "competition", "dataset", "clitest", str(data))
    assert "split sizes" in out.stdout and "class counts" in out.stdout
    out = _arena(olga, "competition", "prepare", "clitest", "--poll", "0.5")
    assert "'clitest' is ready" in out.stderr
    _arena(olga, "competition", "open", "clitest")

    out = _arena(
        pat, "submit", "--competition", "clitest", str(ROOT / "examples" / "identity.py"), ok=False
    )
    assert out.returncode == 1 and "accept-rules" in out.stderr
    method = tmp_path / "finetune.py"
    method.write_bytes(FINETUNE)
    _arena(pat, "team", "create", "clitest", "cli-team")
    team_id = _arena(pat, "team", "show", "clitest").stdout.split("(id ")[1].split(")")[0]
    _arena(pat, "team", "invite", team_id, "quinn")
    assert "accept" in _arena(quinn, "team", "show", "clitest").stdout
    assert "pat, quinn" in _arena(quinn, "team", "accept", team_id).stdout
    out = _arena(
        pat, "submit", "--accept-rules", "--competition", "clitest", str(method), "--poll", "0.5",
        "-m", "fine-tune on retain", "--method", "FT", "--link", "https://example.org/ft",
    )  # fmt: skip
    assert "scored" in out.stdout
    out = _arena(pat, "leaderboard", "clitest")
    assert "cli-team" in out.stdout and "retrain" in out.stdout
    out = _arena(pat, "leaderboard", "clitest", "--board", "private", ok=False)
    assert out.returncode == 1 and "403" in out.stderr

    _participants_day(env, tmp_path)

    csv_text = _arena(olga, "competition", "export", "clitest", "--board", "private").stdout
    assert csv_text.startswith("rank,name,team,score") and "cli-team" in csv_text
    assert ",message," in csv_text.splitlines()[0] and "fine-tune on retain" in csv_text
    assert "competition_opened" in _arena(olga, "competition", "audit", "clitest").stdout
    _arena(olga, "competition", "close", "clitest")
    assert "cli-team" in _arena(pat, "leaderboard", "clitest", "--board", "private").stdout


def _participants_day(env: dict[str, str], tmp_path: Path) -> None:
    """A saved login, one's submissions, code back, compute, the board as CSV and by pages,
    tokens, logout: every participant command against the running platform."""
    saved = {**env, "XDG_CONFIG_HOME": str(tmp_path / "pat-config")}
    assert "created" in _arena(saved, "register", "newcomer").stderr
    taken = _arena(saved, "register", "newcomer", ok=False)
    assert taken.returncode == 1 and "409" in taken.stderr and "choose another" in taken.stderr
    login = _arena(saved, "login", "pat")
    creds = tmp_path / "pat-config" / "arena" / "credentials.json"
    assert "saved for" in login.stderr and creds.stat().st_mode & 0o777 == 0o600
    listing = _arena(saved, "submissions", "clitest").stdout  # the saved token, no ARENA_TOKEN
    assert "finetune.py" in listing and "scored" in listing and "fine-tune on" in listing
    sid = re.search(r"^\W*(\d+)\W", listing.split("finetune.py")[0].splitlines()[-1]).group(1)
    assert "scored" in _arena(saved, "status", sid).stdout
    assert "is a final pick" in _arena(saved, "final", sid).stderr
    assert "no longer" in _arena(saved, "final", sid, "--unset").stderr
    done = _arena(saved, "cancel", sid, ok=False)
    assert done.returncode == 1 and "nothing to cancel" in done.stderr
    back = tmp_path / "back.py"
    _arena(saved, "download", sid, "--out", str(back))
    assert back.read_bytes() == FINETUNE
    again = _arena(saved, "download", sid, "--out", str(back), ok=False)
    assert again.returncode == 1 and "--force" in again.stderr
    assert "Compute in clitest" in _arena(saved, "compute", "clitest").stdout
    board = _arena(saved, "leaderboard", "clitest", "--csv").stdout.splitlines()
    assert (
        board[0]
        == "rank,name,team,score,score_ci_low,score_ci_high,submissions,reference,rank_low,rank_high"
    )
    assert any(line.startswith("1,cli-team,True,") for line in board)
    assert "page 1 of" in _arena(saved, "leaderboard", "clitest", "--per-page", "1").stdout
    assert "Your API tokens" in _arena(saved, "tokens").stdout
    assert "clitest" in _arena(saved, "competitions").stdout
    _arena(saved, "logout")
    assert not creds.exists()
    out = _arena(saved, "submissions", "clitest", ok=False)
    assert out.returncode == 1 and "401" in out.stderr and "Log in" in out.stderr


def _bundles(env: dict[str, str], url: str, tmp_path: Path) -> None:
    """validate offline, create from a folder under another slug, the kit, export, recreate
    from the export, update from a folder."""
    env = {**os.environ, **env, "ARENA_URL": url, "ARENA_PASSWORD": PASSWORD}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    env.pop("ARENA_TOKEN", None)
    olga = {**env, "ARENA_TOKEN": _arena(env, "login", "olga").stdout.strip()}
    pat = {**env, "ARENA_TOKEN": _arena(env, "login", "pat").stdout.strip()}
    assert "valid" in _arena(env, "competition", "validate", str(EXAMPLE_BUNDLE)).stderr
    folder = tiny_bundle(tmp_path)
    broken = tmp_path / "broken"
    shutil.copytree(folder, broken)
    (broken / "model.py").write_text("import torch\ndef build_model(**kw):\n    return 1\n")
    (broken / "pages" / "Bad Name.md").write_text("x")
    out = _arena(env, "competition", "validate", str(broken), ok=False)
    assert out.returncode == 1 and "pages are pages/NAME.md" in out.stderr, out.stderr
    (broken / "pages" / "Bad Name.md").unlink()
    out = _arena(olga, "competition", "create", str(broken), ok=False)
    assert out.returncode == 1 and "not a torch.nn.Module" in out.stderr, out.stderr

    created = _arena(olga, "competition", "create", str(folder), "--slug", "cli-bundle")
    assert created.stdout.strip() == "cli-bundle"
    out = _arena(pat, "kit", "cli-bundle", str(tmp_path / "pat-kit"), ok=False)
    assert out.returncode == 1 and "404" in out.stderr  # a draft: only its organizers see it
    assert "checksums verified" in _arena(olga, "kit", "cli-bundle", str(tmp_path / "kit")).stderr
    for name in ("starter.py", "starter.ipynb", "model.py", "dev.npz", "competition.yaml"):
        assert (tmp_path / "kit" / name).is_file(), name
    kit = tmp_path / "kit"  # the participant's loop: the starter scored on the dev split, locally
    local = ["--kit", str(kit), "-n", "2", "--cache-dir", str(tmp_path / "cache")]
    out = _arena(env, "score-local", str(kit / "starter.py"), *local)
    assert (
        "development split at N = 2" in out.stderr
        and "not comparable" in out.stderr
        and "scored" in out.stdout
    ), out.stderr
    out = _arena(olga, "score-local", str(kit / "starter.ipynb"), "-c", "cli-bundle", *local[2:])
    assert "scored" in out.stdout, out.stderr  # the kit fetched from the platform, models cached
    (kit / "dev.npz").rename(tmp_path / "dev.npz")
    out = _arena(env, "score-local", str(kit / "starter.py"), *local, ok=False)
    assert out.returncode == 1 and "no development split" in out.stderr
    (tmp_path / "dev.npz").rename(kit / "dev.npz")
    exported = tmp_path / "export.zip"
    _arena(olga, "competition", "bundle", "cli-bundle", str(exported))
    assert (
        _arena(olga, "competition", "create", str(exported), "--slug", "cli-bundle2").stdout.strip()
        == "cli-bundle2"
    )
    a = _arena(olga, "competition", "show", "cli-bundle").stdout
    b = _arena(olga, "competition", "show", "cli-bundle2").stdout
    assert a.replace("cli-bundle", "X") == b.replace("cli-bundle2", "X")
    (folder / "pages" / "faq.md").write_text("# FAQ\n")
    assert "bundle" in _arena(olga, "competition", "update", "cli-bundle", str(folder)).stderr

    # end to end on the running platform: the hidden data, a preparation with the organizer's
    # model (Celery worker), and the kit's starter script scored in the sandbox
    data = tmp_path / "hidden.npz"
    data.write_bytes(digits32_hidden())
    assert "split sizes" in _arena(olga, "competition", "dataset", "cli-bundle", str(data)).stdout
    out = _arena(olga, "competition", "prepare", "cli-bundle", "--poll", "0.5")
    assert "'cli-bundle' is ready" in out.stderr, out.stderr
    out = _arena(olga, "competition", "validity", "cli-bundle")  # computed at the preparation
    assert "What a perfect method scores" in out.stdout and "preparation" in out.stderr, out
    assert "computed at the close" in out.stderr
    _arena(olga, "competition", "open", "cli-bundle")
    out = _arena(pat, "competition", "validity", "cli-bundle", ok=False)  # open, not closed
    assert out.returncode == 1 and "403" in out.stderr and "organizers" in out.stderr
    starter = str(tmp_path / "kit" / "starter.py")
    out = _arena(pat, "submit", "--accept-rules", "-c", "cli-bundle", starter, "--poll", "0.5")
    assert "scored" in out.stdout, (out.stdout, out.stderr)
    multi = str(tmp_path / "kit" / "multi-file")  # a folder: sent as a zip, helpers imported
    out = _arena(pat, "submit", "-c", "cli-bundle", multi, "--poll", "0.5", "-m", "two files")
    assert "scored" in out.stdout, (out.stdout, out.stderr)


def test_organizer_cli_on_the_embedded_platform(tmp_path):
    wheels = einops_wheelhouse(tmp_path / "wheelhouse")  # digits32's runtime, installed offline
    env = {"ARENA_VAR_DIR": str(tmp_path / "var"), "ARENA_WHEELHOUSE": str(wheels)}
    with running_platform(env, tmp_path / "serve.log") as url:
        _flow(env, url, tmp_path)
        _bundles(env, url, tmp_path)


@pytest.mark.services
def test_organizer_cli_on_postgres_and_redis(tmp_path):
    broker = clean_redis_url()
    with fresh_postgres_database() as db_url:
        env = {"ARENA_VAR_DIR": str(tmp_path / "var"), "DATABASE_URL": db_url, "BROKER_URL": broker}
        with running_platform(env, tmp_path / "serve.log") as url:
            _flow(env, url, tmp_path)
