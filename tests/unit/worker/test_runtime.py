"""Competition runtimes built by uv from a wheelhouse of small hand-made wheels: dependencies the
base lacks are added (extras included), the base's own are not installed again, a conflict with
the base and a package that does not exist are failures that say why, and a built runtime is
reused."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from core.competition_config import RuntimeConfig
from worker.runtime import RuntimeFailed, runtime_in


def wheel(folder: Path, name: str, version: str, requires: tuple[str, ...] = ()) -> None:
    mod = name.replace("-", "_")
    info = f"{mod}-{version}.dist-info"
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    meta += "".join(
        f"Provides-Extra: {r.split('extra == ')[1].strip(chr(34))}\n"
        for r in requires
        if "extra ==" in r
    )
    meta += "".join(f"Requires-Dist: {r}\n" for r in requires)
    files = {
        f"{mod}/__init__.py": f"VERSION = {version!r}\n",
        f"{info}/METADATA": meta,
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    files[f"{info}/RECORD"] = "".join(f"{p},,\n" for p in files) + f"{info}/RECORD,,\n"
    with zipfile.ZipFile(folder / f"{mod}-{version}-py3-none-any.whl", "w") as zf:
        for path, text in files.items():
            zf.writestr(path, text)


@pytest.fixture()
def wheelhouse(tmp_path):
    folder = tmp_path / "wheels"
    folder.mkdir()
    wheel(
        folder,
        "arena-tiny-a",
        "1.0",
        ("arena-tiny-b>=2", "numpy>=1", 'arena-tiny-c; extra == "fast"'),
    )
    wheel(folder, "arena-tiny-b", "2.1")
    wheel(folder, "arena-tiny-c", "0.3")
    wheel(folder, "arena-tiny-old", "1.0", ("numpy<1",))
    return folder


def test_dependencies_and_extras_are_added_and_the_base_is_not_reinstalled(tmp_path, wheelhouse):
    cfg = RuntimeConfig(packages=["arena-tiny-a[fast]==1.0"])
    runtime = runtime_in(cfg, tmp_path / "rt", wheelhouse)
    assert runtime.lock == {"arena-tiny-a": "1.0", "arena-tiny-b": "2.1", "arena-tiny-c": "0.3"}
    assert runtime.site is not None and (runtime.site / "arena_tiny_c" / "__init__.py").is_file()
    assert not (runtime.site / "numpy").exists()  # the base's numpy satisfies numpy>=1
    stamp = (runtime.site.parent / "lock.json").stat().st_mtime_ns
    assert runtime_in(cfg, tmp_path / "rt", wheelhouse) == runtime  # built once, reused
    assert (runtime.site.parent / "lock.json").stat().st_mtime_ns == stamp
    assert runtime_in(RuntimeConfig(), tmp_path / "rt", wheelhouse).site is None


def test_a_conflict_with_the_base_and_a_missing_package_say_why(tmp_path, wheelhouse):
    with pytest.raises(RuntimeFailed, match="needs numpy<1, but the platform has numpy"):
        runtime_in(RuntimeConfig(packages=["arena-tiny-old"]), tmp_path / "rt", wheelhouse)
    with pytest.raises(RuntimeFailed, match="not-there.*did not install"):
        runtime_in(RuntimeConfig(packages=["not-there==1"]), tmp_path / "rt", wheelhouse)
    assert not any((tmp_path / "rt").glob("*/lock.json"))  # nothing half-built is kept
    with pytest.raises(ValueError, match="the platform's own"):
        RuntimeConfig(packages=["numpy==1.26.4"])
    with pytest.raises(ValueError, match="not a pip requirement"):
        RuntimeConfig(packages=["einops>>1"])
