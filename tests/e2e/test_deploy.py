"""The deployment files, checked without a container engine (none on these machines): Debian's
`docker-compose` validates and prints docker-compose.yml (every profile), the services' commands
exist in the CLI, their environment variables are settings, and the Dockerfile copies what the
package needs. What needs an engine is documented in docs/deploy.md."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
ARENA = str(Path(sys.executable).parent / "arena")
OUR_IMAGE = ("api", "worker", "gpu-worker")


@pytest.fixture(scope="module")
def compose() -> dict:
    exe = shutil.which("docker-compose")
    assert exe, "docker-compose is missing: `make system` installs Debian's docker-compose"
    out = subprocess.run(
        [exe, "-f", "docker-compose.yml", "--profile", "gpu", "--profile", "monitoring", "config"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return yaml.safe_load(out.stdout)


def test_compose_has_every_service_of_the_platform(compose):
    services = compose["services"]
    assert set(services) == {"api", "worker", "gpu-worker", "postgres", "redis", "flower"}
    gpu = services["gpu-worker"]
    devices = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]
    assert gpu["command"][:2] == ["arena", "worker"] and "--gpu" in gpu["command"]
    for name in ("worker", "gpu-worker"):  # the sandbox needs namespaces in the container
        assert services[name]["cap_add"] == ["SYS_ADMIN"]  # for the first, root bubblewrap
        opts = [o.replace("seccomp:", "seccomp=", 1) for o in services[name]["security_opt"]]
        assert "seccomp=./deploy/seccomp-worker.json" in opts and "seccomp=unconfined" not in opts
        assert not services[name].get("privileged")
    for name in OUR_IMAGE:  # one storage shared by the API and every worker
        assert any(str(v).startswith("storage:/data") for v in services[name]["volumes"])
    # without a profile, only the CPU platform starts
    assert services["gpu-worker"]["profiles"] == ["gpu"]
    assert services["flower"]["profiles"] == ["monitoring"]
    assert not any(services[n].get("profiles") for n in ("api", "worker", "postgres", "redis"))


def _setting_names() -> set[str]:
    names = set()
    for name, field in Settings.model_fields.items():
        names.add(f"ARENA_{name.upper()}")
        choices = getattr(field.validation_alias, "choices", None) or []
        names.update(str(c).upper() for c in choices)
    return names


def test_the_services_environment_is_made_of_settings(compose):
    known = _setting_names() | {"FORWARDED_ALLOW_IPS"}  # uvicorn's own (docs/deploy.md)
    for name in OUR_IMAGE:
        env = compose["services"][name]["environment"]
        unknown = set(env) - known
        assert not unknown, f"{name}: {unknown} are not settings (core/settings.py)"
        Settings.model_validate(
            {
                k.removeprefix("ARENA_").lower(): v
                for k, v in env.items()
                if k in known - {"FORWARDED_ALLOW_IPS"}
            }
        )  # and their values validate
        assert env["DATABASE_URL"].startswith("postgresql://") and env["BROKER_URL"].startswith(
            "redis://"
        )


def test_a_deployment_restarts_waits_for_health_and_seeds_no_demo(compose):
    services = compose["services"]
    for name in ("api", "worker", "gpu-worker", "postgres", "redis"):
        assert services[name]["restart"] == "unless-stopped", name
        assert services[name].get("healthcheck") or name.endswith("worker")
    for name in ("worker", "gpu-worker"):  # the API migrates the database before it answers
        needs = services[name]["depends_on"]
        assert needs["api"]["condition"] == "service_healthy"
        assert needs["postgres"]["condition"] == needs["redis"]["condition"] == "service_healthy"
    for name in OUR_IMAGE:
        assert services[name]["environment"]["ARENA_SEED_DEMO"] == "false"


def test_the_services_commands_exist(compose):
    for name in OUR_IMAGE:
        command = compose["services"][name]["command"]
        assert command[0] == "arena"
        out = subprocess.run(
            [ARENA, *command[1:], "--help"], capture_output=True, text=True, timeout=60
        )
        assert out.returncode == 0, f"{name}: {command}: {out.stdout}{out.stderr}"


def test_the_dockerfile_copies_what_the_package_needs():
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    copied = {src for line in lines if line.startswith("COPY ") for src in line.split()[1:-1]}
    import tomllib

    found = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    packages = {name.rstrip("*") for name in found["find"]["include"]}
    assert {"core", "server", "worker", "scoring", "cli", "migrations"} <= packages
    for package in (*sorted(packages), "frontend", "docs", "examples"):
        assert package in copied and (ROOT / package).is_dir(), package
    assert "pyproject.toml" in copied and "alembic.ini" in copied
    assert any("bubblewrap" in line for line in lines)  # the sandbox
    assert any("useradd" in line and "arena-sandbox" in line for line in lines)


def test_the_worker_seccomp_profile_is_the_one_the_platform_generates():
    import json

    from worker.sandbox.seccomp import docker_profile

    profile = json.loads((ROOT / "deploy" / "seccomp-worker.json").read_text())
    assert profile == docker_profile(), (
        "run: python -m worker.sandbox.seccomp docker-profile > deploy/seccomp-worker.json"
    )
    refused = set(profile["syscalls"][0]["names"])
    assert {
        "io_uring_setup",
        "bpf",
        "perf_event_open",
        "keyctl",
        "kexec_load",
        "init_module",
    } <= refused
    assert not {"clone", "unshare", "mount", "setns", "pivot_root"} & refused  # bubblewrap's
