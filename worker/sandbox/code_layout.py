"""The code a sandbox runs, laid out for it: one file as ``submission.py``, or the files of an
unpacked zip submission (listed in its manifest, :mod:`core.submission_zip`) under one folder,
bound read-only at ``/sandbox/code`` (the entry's folder first on ``sys.path``)."""

from __future__ import annotations

import shutil
from pathlib import Path

from core.submission_zip import MANIFEST
from worker.sandbox.failure_report import Upload

SINGLE_FILE = "submission.py"


def lay_out_code(code_path: Path, code_dir: Path) -> tuple[str, list[str]]:
    """Copy the run's code into ``code_dir``; returns the entry's relative path and those of
    every other Python file."""
    code_dir.mkdir(mode=0o755)
    manifest = code_path.parent / MANIFEST
    if not manifest.is_file():
        shutil.copyfile(code_path, code_dir / SINGLE_FILE)
        (code_dir / SINGLE_FILE).chmod(0o644)
        return SINGLE_FILE, []
    files = [line for line in manifest.read_text().splitlines() if line]
    for rel in files:  # checked at upload and at unpacking; again, since this writes on the host
        parts = Path(rel).parts
        if not parts or Path(rel).is_absolute() or ".." in parts:
            raise ValueError(f"refusing to lay out {rel!r} outside the code folder")
        dest = code_dir / rel
        for parent in reversed(dest.relative_to(code_dir).parents[:-1]):
            (code_dir / parent).mkdir(mode=0o755, exist_ok=True)
        shutil.copyfile(code_path.parent / rel, dest)
        dest.chmod(0o644)
    entry = code_path.relative_to(code_path.parent).as_posix()
    return entry, [f for f in files if f.endswith(".py") and f != entry]


def upload_for(
    code_path: Path, inside_dir: str, entry: str, helpers: list[str], runtime: tuple[str, ...] = ()
) -> Upload:
    """What the failure report checks frames against: the worker's copies, by inside path."""
    if not helpers and entry == SINGLE_FILE:
        return Upload(code_path, f"{inside_dir}/{entry}", runtime=runtime)
    return Upload(
        code_path,
        f"{inside_dir}/{entry}",
        tuple((f"{inside_dir}/{rel}", code_path.parent / rel) for rel in helpers),
        root=inside_dir,
        runtime=runtime,
    )
