"""A competition bundle: one zip (or folder) holding everything public about a competition.

Layout (docs/competitions.md)::

    competition.yaml        the settings (required)
    model.py                the organizer's model module, when model.module names it
    pages/overview.md       Markdown pages (overview, data, evaluation, rules, or any name)
    kit/...                 the starter kit: a notebook, a script, anything participants get
    dev.npz                 optional public development split (x, y, optional group)
    README.md, *.py         optional notes and helper scripts

Nothing hidden belongs here: the hidden dataset is uploaded apart. Reading refuses absolute
paths, ``..``, symlinks, duplicate names, too many or too large files and zip bombs, each with
a message naming the entry. Pure: no database, no web.
"""

from __future__ import annotations

import io
import os
import re
import stat
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from core.errors import Invalid

CONFIG_NAME = "competition.yaml"
DEV_NAME = "dev.npz"
KNOWN_PAGES = ("overview", "data", "evaluation", "rules")
PAGE_NAME = re.compile(r"^pages/([a-z0-9][a-z0-9-]{0,31})\.md$")
TOP_PY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}\.py$")
SKIPPED = ("__pycache__", ".DS_Store", ".ipynb_checkpoints", "__MACOSX")
MAX_BUNDLE_BYTES = 64 << 20  # the zip as uploaded
MAX_EXPANDED_BYTES = 128 << 20
MAX_FILE_BYTES = 32 << 20
MAX_TEXT_BYTES = 512 * 1024  # a page, the settings, a module
MAX_FILES = 200
MAX_DEPTH = 5
MAX_RATIO = 200  # expanded / compressed, for members over 1 MiB
LAYOUT = (
    "a bundle holds competition.yaml, the model module (*.py), pages/*.md, kit/..., dev.npz "
    "and README.md"
)


@dataclass(frozen=True)
class Bundle:
    files: dict[str, bytes]  # relative POSIX path -> content

    @property
    def config_text(self) -> str:
        return _text(self.files[CONFIG_NAME], CONFIG_NAME)

    def pages(self) -> dict[str, str]:
        """Page name -> Markdown, the known pages first, then the others by name."""
        found = {m.group(1): p for p in self.files if (m := PAGE_NAME.match(p))}
        order = [n for n in KNOWN_PAGES if n in found] + sorted(set(found) - set(KNOWN_PAGES))
        return {n: _text(self.files[found[n]], found[n]) for n in order}

    def kit(self) -> dict[str, bytes]:
        return {p: b for p, b in self.files.items() if p.startswith("kit/")}

    @property
    def dev(self) -> bytes | None:
        return self.files.get(DEV_NAME)

    def module_source(self, name: str) -> str | None:
        raw = self.files.get(name)
        return None if raw is None else _text(raw, name)

    def without(self, *names: str) -> Bundle:
        return Bundle({p: b for p, b in self.files.items() if p not in names})

    def to_zip(self) -> bytes:
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(self.files):
                info = zipfile.ZipInfo(path, date_time=(2020, 1, 1, 0, 0, 0))
                info.external_attr = 0o644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, self.files[path])
        return out.getvalue()


def _text(raw: bytes, name: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Invalid(f"{name}: not UTF-8 text; save it as UTF-8") from None


def _skipped(path: str) -> bool:
    return any(part in SKIPPED or part.startswith("._") for part in PurePosixPath(path).parts)


def entry_problem(path: str, size: int) -> str | None:
    """Why ``path`` cannot be in a bundle, or None."""
    pure = PurePosixPath(path)
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in path):
        return f"{path!r}: control characters in the name"
    if "\\" in path or path.startswith("/") or re.match(r"^[A-Za-z]:", path):
        return f"{path}: absolute or Windows path; paths are relative, with /"
    if any(part in ("..", ".", "") for part in pure.parts) or not pure.parts:
        return f"{path}: '..' or an empty part in the path"
    if len(path) > 200 or len(pure.parts) > MAX_DEPTH:
        return f"{path}: the path is too long or too deep (at most {MAX_DEPTH} levels)"
    text = path.endswith((".md", ".py", ".yaml")) and not path.startswith("kit/")
    limit = MAX_TEXT_BYTES if text else MAX_FILE_BYTES
    if size > limit:
        return f"{path}: {size:,} bytes, over the {limit:,}-byte limit for such a file"
    top = pure.parts[0]
    if path in (CONFIG_NAME, DEV_NAME, "README.md") or TOP_PY.match(path):
        return None
    if top == "kit" and len(pure.parts) > 1:
        return None
    if top == "pages":
        if PAGE_NAME.match(path):
            return None
        return f"{path}: pages are pages/NAME.md (NAME: a-z, 0-9 and -, e.g. pages/overview.md)"
    if path.endswith((".npz", ".npy", ".pt", ".pth", ".csv", ".safetensors")):
        return (
            f"{path}: data files do not belong in a bundle (participants see all of it); "
            "upload the hidden dataset apart (arena competition dataset SLUG FILE); a public "
            "development split is dev.npz"
        )
    return f"{path}: not part of a bundle ({LAYOUT})"


def _finish(files: dict[str, bytes], problems: list[str]) -> Bundle:
    if CONFIG_NAME not in files:
        problems.append(f"{CONFIG_NAME}: missing at the bundle's top ({LAYOUT})")
    if len(files) > MAX_FILES:
        problems.append(f"(bundle): {len(files)} files, more than {MAX_FILES}")
    if problems:
        raise Invalid(
            "The bundle has problems: " + "; ".join(problems), extra={"problems": problems}
        )
    return Bundle(files)


def read_zip(data: bytes) -> Bundle:
    """A bundle from a zip's bytes (one top-level folder holding competition.yaml is unwrapped)."""
    if len(data) > MAX_BUNDLE_BYTES:
        raise Invalid(f"The bundle is over {MAX_BUNDLE_BYTES >> 20} MiB; keep it to public files.")
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        raise Invalid(
            "The bundle is not a zip file; zip the bundle folder (or pass the folder)."
        ) from None
    problems: list[str] = []
    infos = [i for i in infos if not i.is_dir() and not _skipped(i.filename)]
    prefix = _wrapper(i.filename for i in infos)
    if len(infos) > MAX_FILES:
        raise Invalid(f"The bundle has {len(infos)} files, more than {MAX_FILES}.")
    if sum(i.file_size for i in infos) > MAX_EXPANDED_BYTES:
        raise Invalid(
            f"The bundle expands to more than {MAX_EXPANDED_BYTES >> 20} MiB (a zip bomb?)."
        )
    files: dict[str, bytes] = {}
    for info in infos:
        path = info.filename[len(prefix) :]
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            problems.append(f"{path}: a symbolic link; bundles hold plain files only")
            continue
        if info.file_size > (1 << 20) and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            problems.append(f"{path}: compressed over {MAX_RATIO}x (a zip bomb?)")
            continue
        problem = entry_problem(path, info.file_size)
        if problem is None and path in files:
            problem = f"{path}: appears twice"
        if problem:
            problems.append(problem)
            continue
        with zf.open(info) as fh:
            content = fh.read(info.file_size + 1)
        if len(content) != info.file_size:
            problems.append(f"{path}: its size does not match the zip's directory")
            continue
        files[path] = content
    return _finish(files, problems)


def _wrapper(found: Iterable[str]) -> str:
    """``name/`` when every entry is under one folder that holds competition.yaml."""
    names = list(found)
    tops = {n.split("/", 1)[0] for n in names}
    if len(tops) == 1 and all("/" in n for n in names):
        top = next(iter(tops))
        if f"{top}/{CONFIG_NAME}" in names:
            return f"{top}/"
    return ""


def read_folder(folder: Path) -> Bundle:
    """A bundle from a folder on disk (symlinks refused, caches such as __pycache__ skipped)."""
    if not (folder / CONFIG_NAME).is_file():
        raise Invalid(f"{folder}: no {CONFIG_NAME} in it; a bundle folder holds {LAYOUT}")
    problems: list[str] = []
    files: dict[str, bytes] = {}
    total = 0
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        for d in list(dirnames):
            if d in SKIPPED or Path(dirpath, d).is_symlink():
                if Path(dirpath, d).is_symlink():
                    problems.append(
                        f"{Path(dirpath, d).relative_to(folder).as_posix()}: a symbolic link"
                    )
                dirnames.remove(d)
        for name in filenames:
            full = Path(dirpath, name)
            path = full.relative_to(folder).as_posix()
            if _skipped(path):
                continue
            if full.is_symlink() or not full.is_file():
                problems.append(
                    f"{path}: a symbolic link or special file; bundles hold plain files only"
                )
                continue
            size = full.stat().st_size
            total += size
            problem = entry_problem(path, size)
            if problem:
                problems.append(problem)
            elif total <= MAX_EXPANDED_BYTES and len(files) <= MAX_FILES:
                files[path] = full.read_bytes()
    if total > MAX_EXPANDED_BYTES:
        problems.append(f"(bundle): more than {MAX_EXPANDED_BYTES >> 20} MiB of files")
    return _finish(files, problems)


def read_path(path: Path) -> Bundle:
    """A bundle from a folder or a .zip file."""
    if path.is_dir():
        return read_folder(path)
    return read_zip(path.read_bytes())


def stored(path: Path) -> Bundle:
    """A bundle as the platform stored it (one zip of its files, checked at upload)."""
    with zipfile.ZipFile(path) as zf:
        return Bundle({i.filename: zf.read(i) for i in zf.infolist() if not i.is_dir()})
