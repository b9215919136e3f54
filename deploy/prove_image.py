"""Run the image's steps without a container engine, and the compose file's services on them.

No container engine runs on the project's machines and no registry can be reached, so this
proves the deployment the nearest way: a clean Debian root (debootstrap, Debian 12, as the
image's python:3.11-slim base), the Dockerfile's instructions executed in it in order (ENV,
ARG, WORKDIR, COPY, RUN; each RUN inside the root through bubblewrap, which gives it a mount
namespace of its own as a container would), then the compose file's service commands, with its
environment, inside that root: the API (`arena serve`, no worker, no demo), a worker
(`arena worker`), PostgreSQL and Redis being this host's (the compose file's images cannot be
pulled). An organizer creates the demo competition from its bundle, prepares and opens it, a
participant submits `examples/finetune.py`, and the submission must be scored. The last line
printed is one JSON object with the timings.

    sudo python3 deploy/prove_image.py [--rootfs /var/tmp/arena-rootfs]

Where this differs from `docker compose up` (said again in docs/deploy.md): the root's Python
is Debian's python3.11 in a virtualenv first on PATH (python:3.11-slim's is built from source);
torch's CPU wheel comes from this machine's disk, standing in for the TORCH_INDEX_URL step
(download.pytorch.org cannot be reached here); the host's CA bundle is bound in (this
machine reaches PyPI through a TLS-inspecting proxy); PostgreSQL and Redis are the host's.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import yaml

SRC = Path(__file__).resolve().parent.parent
VENV = "/opt/venv"  # stands in for python:3.11-slim's own Python


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in dockerfile.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def in_root(rootfs: Path, command: str, env: dict[str, str], cwd: str, **kw) -> subprocess.Popen:
    """``command`` (sh -c) inside the root: its own mount namespace, the host's network."""
    argv = ["bwrap", "--bind", str(rootfs), "/", "--dev", "/dev", "--proc", "/proc"]
    argv += ["--bind", "/sys", "/sys", "--ro-bind", "/etc/resolv.conf", "/etc/resolv.conf"]
    if Path("/opt/wheels").is_dir():
        argv += ["--ro-bind", "/opt/wheels", "/opt/wheels"]
    if (rootfs / "etc/ssl/certs").is_dir():  # the host's CAs (a TLS-inspecting proxy's too)
        bundle = "/etc/ssl/certs/ca-certificates.crt"
        argv += ["--ro-bind", bundle, bundle]
    argv += ["--chdir", cwd, "--clearenv"]
    for k, v in env.items():
        argv += ["--setenv", k, v]
    # a process group of its own: stopped as a container is, every process of it signalled
    return subprocess.Popen([*argv, "/bin/sh", "-c", command], start_new_session=True, **kw)


def run(rootfs: Path, command: str, env: dict[str, str], cwd: str) -> None:
    print(f"+ {command[:160]}", flush=True)
    if in_root(rootfs, command, env, cwd).wait() != 0:
        raise SystemExit(f"failed in the root: {command}")


def build(rootfs: Path, env: dict[str, str]) -> dict[str, str]:
    """The Dockerfile's instructions, in order; returns the image's environment."""
    cwd = "/"
    args: dict[str, str] = {"TORCH_INDEX_URL": ""}  # the step is replaced: see the docstring
    for word, rest in instructions(SRC / "Dockerfile"):
        if word == "FROM":
            continue
        if word == "ARG":
            name, _, default = rest.partition("=")
            env.setdefault(name, args.get(name, default))
        elif word == "ENV":
            for pair in shlex.split(rest):
                k, _, v = pair.partition("=")
                env[k] = v
        elif word == "WORKDIR":
            cwd = rest
            (rootfs / cwd.lstrip("/")).mkdir(parents=True, exist_ok=True)
        elif word == "COPY":
            *sources, dest = shlex.split(rest)
            target = rootfs / (dest if dest.startswith("/") else f"{cwd}/{dest}").lstrip("/")
            for source in sources:
                path = SRC / source
                if path.is_dir():
                    shutil.copytree(path, target, dirs_exist_ok=True)
                else:
                    target.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(path, target / path.name)
        elif word == "RUN":
            run(rootfs, rest, env, cwd)
        elif word not in ("EXPOSE", "CMD", "LABEL"):
            raise SystemExit(f"deploy/prove_image.py does not know {word}")
    env["_WORKDIR"] = cwd
    return env


def base(rootfs: Path) -> dict[str, str]:
    """The base image's part: a Python that pip may install into, torch's CPU wheel."""
    path = f"{VENV}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"  # Docker's
    env = {"PATH": path, "HOME": "/root", "LANG": "C.UTF-8"}
    env["PIP_CERT"] = "/etc/ssl/certs/ca-certificates.crt"  # the host's bundle, bound in
    if not (rootfs / VENV.lstrip("/") / "bin" / "python").exists():
        run(rootfs, f"python3 -m venv {VENV}", env, "/")
    wheel = sorted(Path("/opt/wheels").glob("torch-2.13.0*cp311*.whl"))
    if wheel:
        run(rootfs, f"pip install --quiet --no-deps {wheel[0]}", env, "/")
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait(predicate, timeout: float, what: str) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            if predicate():
                return time.monotonic() - start
        except Exception:  # noqa: BLE001 - not up yet
            pass
        time.sleep(1)
    raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}")


def health(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=3) as r:
        return json.load(r)


def services(rootfs: Path, image_env: dict[str, str]) -> dict[str, float]:
    """The compose file's api and worker commands with its environment, inside the root."""
    compose = yaml.safe_load((SRC / "docker-compose.yml").read_text())["services"]
    port = free_port()
    db = f"arena_prove_{os.getpid()}"
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f"CREATE DATABASE {db}"])
    host = {
        "DATABASE_URL": f"postgresql://postgres@127.0.0.1:5432/{db}",
        "BROKER_URL": "redis://127.0.0.1:6379/11",
        "PORT": str(port),
    }
    subprocess.run(["redis-cli", "-n", "11", "flushdb"], capture_output=True)
    cwd = image_env.pop("_WORKDIR")
    logs = Path(rootfs / "data")
    logs.mkdir(exist_ok=True)
    procs, timings = [], {}
    try:
        for name in ("api", "worker"):
            env = {**image_env, **{k: str(v) for k, v in compose[name]["environment"].items()}}
            env.update({k: v for k, v in host.items()})
            if name == "worker":
                env.pop("PORT")
            command = shlex.join(compose[name]["command"])
            out = open(logs / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
            started = time.monotonic()
            procs.append(in_root(rootfs, command, env, cwd, stdout=out, stderr=out))
            if name == "api":
                wait(lambda: health(port)["database"] == "ok", 180, "the API")
                timings["api_healthy_s"] = time.monotonic() - started
        timings["worker_taking_work_s"] = wait(
            lambda: any(w["alive"] and w["takes_work"] for w in health(port)["workers"]),
            180,
            "a worker taking work",
        )
        timings.update(scenario(rootfs, {**image_env, **host}, cwd, port))
    finally:
        for p in reversed(procs):  # docker compose stop: SIGTERM to every process, then kill
            _signal_group(p, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                _signal_group(p, signal.SIGKILL)
        drop = f"DROP DATABASE {db} WITH (FORCE)"
        subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", drop])
    return timings


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


def scenario(rootfs: Path, env: dict[str, str], cwd: str, port: int) -> dict[str, float]:
    """An organizer creates and opens the demo from its bundle; a participant's submission is
    scored. With the CLI inside the root, as an operator would in `docker compose exec`."""
    url = f"http://127.0.0.1:{port}"
    env = {**env, "ARENA_URL": url, "ARENA_PASSWORD": "a-long-password"}
    run(rootfs, "arena admin create-user olga --role organizer", env, cwd)
    org = f"export ARENA_TOKEN=$(arena login olga --url {url}) && "
    started = time.monotonic()
    run(rootfs, org + "arena competition create examples/competitions/digits-demo", env, cwd)
    run(rootfs, org + "arena competition prepare digits-demo", env, cwd)

    def status() -> str:
        with urllib.request.urlopen(f"{url}/api/v1/competitions/digits-demo", timeout=5) as r:
            return json.load(r)["status"]

    wait(lambda: status() in ("ready", "open"), 900, "the preparation")
    prepared = time.monotonic() - started
    if status() == "ready":
        run(rootfs, org + "arena competition open digits-demo", env, cwd)
    started = time.monotonic()
    run(rootfs, "arena register pat", env, cwd)
    pat = f"export ARENA_TOKEN=$(arena login pat --url {url}) && "
    run(
        rootfs,
        pat + "arena submit --accept-rules -c digits-demo examples/finetune.py "
        "| tee /data/submit.log && grep -q scored /data/submit.log",
        env,
        cwd,
    )
    return {"prepared_s": prepared, "submission_scored_s": time.monotonic() - started}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rootfs", type=Path, default=Path("/var/tmp/arena-rootfs"))
    a = parser.parse_args()
    started = time.monotonic()
    pristine = a.rootfs.with_name(a.rootfs.name + ".debootstrap")  # made once, copied each run
    if not (pristine / "usr/bin/python3").exists():
        subprocess.run(
            [
                "debootstrap", "--variant=minbase",
                "--include=python3,python3-venv,python3-pip,ca-certificates",
                "bookworm", str(pristine), "http://deb.debian.org/debian",
            ],
            check=True,
        )  # fmt: skip
    shutil.rmtree(a.rootfs, ignore_errors=True)
    subprocess.run(["cp", "-a", str(pristine), str(a.rootfs)], check=True)
    debootstrapped = time.monotonic() - started
    started = time.monotonic()
    env = build(a.rootfs, base(a.rootfs))
    built = time.monotonic() - started
    timings = services(a.rootfs, env)
    print(
        json.dumps(
            {"fresh_root_s": round(debootstrapped, 1), "image_steps_s": round(built, 1)}
            | {k: round(v, 1) for k, v in timings.items()}
        )
    )


if __name__ == "__main__":
    sys.exit(main())
