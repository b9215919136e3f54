"""A competition's runtime: the packages its sandboxes add to the platform's own (``runtime``).

Resolved once per competition and worker into a cached folder layered on the worker's
environment: ``<var>/runtimes/<key>/site``, where the key hashes the requirement strings and
the base (Python, platform, the worker's packages). uv installs each package with
``--no-deps`` into that folder; every dependency the base does not already satisfy is added the
same way until none is missing, and one the base has at another version is a conflict, named.
With ``ARENA_WHEELHOUSE`` uv installs from that folder only (air-gapped workers). The folder is
bound read-only into every sandbox of the competition and appended to ``sys.path`` there; the
resolved versions (the lock) go on the competition and with every score.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from core.competition_config import RuntimeConfig
from core.settings import Settings

LOCK = "lock.json"
MAX_ROUNDS = 12


class RuntimeFailed(RuntimeError):
    """The runtime does not resolve or install; the message is the reason, for the organizer."""


@dataclass(frozen=True)
class Runtime:
    site: Path | None  # None: no packages beyond the platform's
    lock: dict[str, str] = field(default_factory=dict)  # name -> version, what was installed


@lru_cache(maxsize=1)  # the worker's own environment does not change while it runs
def _base() -> dict[str, str]:
    return {canonicalize_name(d.metadata["Name"]): d.version for d in metadata.distributions()}


def runtime_key(cfg: RuntimeConfig) -> str:
    base = {
        "python": sys.version,
        "platform": platform.platform(),
        "packages": sorted(_base().items()),
    }
    text = json.dumps({"packages": sorted(cfg.packages), "base": base}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def runtime_for(cfg: RuntimeConfig, settings: Settings) -> Runtime:
    """The competition's runtime, built here if this worker has not built it yet."""
    return runtime_in(cfg, settings.var_dir / "runtimes", settings.wheelhouse)


def runtime_in(cfg: RuntimeConfig, root: Path, wheelhouse: Path | None) -> Runtime:
    """The runtime under ``root`` (a worker's var dir, or score-local's cache)."""
    if not cfg.packages:
        return Runtime(None)
    final = root / runtime_key(cfg)
    if not (final / LOCK).is_file():
        _build(cfg, final, wheelhouse)
    return Runtime(final / "site", json.loads((final / LOCK).read_text()))


def _build(cfg: RuntimeConfig, final: Path, wheelhouse: Path | None) -> None:
    tmp = final.with_name(f"{final.name}.{os.getpid()}.part")
    shutil.rmtree(tmp, ignore_errors=True)
    site = tmp / "site"
    site.mkdir(parents=True)
    base = _base()
    wanted = list(cfg.packages)
    extras: dict[str, set[str]] = {}  # the extras asked of each package, whose requirements count
    try:
        for _ in range(MAX_ROUNDS):
            for text in wanted:
                req = Requirement(text)
                extras.setdefault(canonicalize_name(req.name), set()).update(req.extras)
            _install(wanted, site, wheelhouse)
            wanted = _missing(site, base, extras)
            if not wanted:
                break
        else:
            raise RuntimeFailed("the runtime's dependencies did not settle; pin its packages")
        lock = {
            canonicalize_name(d.metadata["Name"]): d.version
            for d in metadata.distributions(path=[str(site)])
        }
        (tmp / LOCK).write_text(json.dumps(dict(sorted(lock.items())), indent=1))
        try:
            os.rename(tmp, final)
        except OSError:  # another process built it first
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _install(requirements: list[str], site: Path, wheelhouse: Path | None) -> None:
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if uv is None:
        raise RuntimeFailed("uv is not installed on this worker (pip install uv)")
    argv = [uv, "pip", "install", "--quiet", "--no-deps", "--target", str(site)]
    argv += ["--python", sys.executable]
    if wheelhouse is not None:
        argv += ["--no-index", "--find-links", str(wheelhouse)]
    done = subprocess.run(
        [*argv, *requirements], capture_output=True, text=True, timeout=900, check=False
    )
    if done.returncode != 0:
        reason = (done.stderr.strip() or done.stdout.strip())[-1500:]
        raise RuntimeFailed(f"runtime.packages {requirements} did not install: {reason}")


def _applies(req: Requirement, extras: set[str]) -> bool:
    if req.marker is None:
        return True
    return any(req.marker.evaluate({"extra": extra}) for extra in {"", *extras})


def _missing(site: Path, base: dict[str, str], extras: dict[str, set[str]]) -> list[str]:
    """Requirements of the installed packages that neither the base nor the folder meets
    (with those of the extras asked of each)."""
    here = {
        canonicalize_name(d.metadata["Name"]): d for d in metadata.distributions(path=[str(site)])
    }
    missing: list[str] = []
    for name_here, dist in here.items():
        for text in dist.requires or []:
            req = Requirement(text)
            if not _applies(req, extras.get(name_here, set())):
                continue
            name = canonicalize_name(req.name)
            if name in here:
                version = here[name].version
            elif name in base:
                version = base[name]
                if not req.specifier.contains(version, prereleases=True):
                    raise RuntimeFailed(
                        f"{dist.metadata['Name']} needs {text}, but the platform has {req.name} "
                        f"{version}: choose a version of {dist.metadata['Name']} that works with it"
                    )
                continue
            else:
                req.marker = None
                missing.append(str(req))
                continue
            if not req.specifier.contains(version, prereleases=True):
                raise RuntimeFailed(
                    f"{dist.metadata['Name']} needs {text}; {req.name} {version} was installed"
                )
    return sorted(set(missing))
