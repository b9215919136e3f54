"""Multi-file submissions: a .zip with one entry module defining ``unlearning``, its helper
modules and packages, and small data files (e.g. precomputed weights).

:func:`read_submission_zip` checks a zip without running anything: no absolute paths, ``..``,
links or duplicate names, no member compressed more than 200x, the unpacked size and the file
count within the competition's limits, every ``.py`` compiles, and exactly one ``.py`` at the
top defines ``unlearning`` (the entry). A zip holding one folder is read as that folder. The
worker unpacks the same files (:func:`unpack`) read-only into the sandbox, the entry's folder
first on ``sys.path``, so helpers import as top-level modules.
"""

from __future__ import annotations

import ast
import io
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from core.errors import Invalid, TooLarge

MAX_RATIO = 200
SKIPPED = ("__pycache__", "__MACOSX", ".DS_Store", ".ipynb_checkpoints")
MANIFEST = ".arena-files"  # written beside the unpacked files: the list the sandbox copies


@dataclass(frozen=True)
class ZipSubmission:
    entry: str  # the entry module's file, at the top (e.g. "main.py")
    files: dict[str, bytes]  # relative POSIX path -> content

    @property
    def entry_source(self) -> str:
        return self.files[self.entry].decode("utf-8")


def _defines_unlearning(tree: ast.Module) -> bool:
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == "unlearning":
            return True
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "unlearning" for t in node.targets
        ):
            return True
    return False


def _members(zf: zipfile.ZipFile, max_bytes: int, max_files: int) -> list[zipfile.ZipInfo]:
    infos = [
        i
        for i in zf.infolist()
        if not i.is_dir() and not any(p in SKIPPED for p in PurePosixPath(i.filename).parts)
    ]
    if not infos:
        raise Invalid("The zip is empty: put your entry module (a .py defining unlearning) in it.")
    if len(infos) > max_files:
        raise TooLarge(f"The zip holds {len(infos)} files; the limit is {max_files}.")
    total = sum(i.file_size for i in infos)
    if total > max_bytes:
        raise TooLarge(
            f"The zip unpacks to {total:,} bytes; the limit is {max_bytes:,}. Leave out data "
            "you do not need (the hidden data are never yours to ship)."
        )
    return infos


def _problem(path: str, info: zipfile.ZipInfo) -> str | None:
    pure = PurePosixPath(path)
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in path) or len(path) > 255:
        return f"{path!r}: control characters in the name, or a name over 255 characters"
    if path.startswith("/") or "\\" in path or (len(path) > 1 and path[1] == ":"):
        return f"{path}: an absolute or Windows path; use paths relative to the zip's top"
    if any(part in ("..", ".", "") for part in pure.parts):
        return f"{path}: '..' or an empty part in the path"
    if stat.S_ISLNK(info.external_attr >> 16):
        return f"{path}: a symbolic link; a zip submission holds plain files only"
    if info.file_size > (1 << 20) and info.file_size > MAX_RATIO * max(info.compress_size, 1):
        return f"{path}: compressed over {MAX_RATIO}x (a zip bomb?)"
    return None


def read_submission_zip(data: bytes, max_bytes: int, max_files: int) -> ZipSubmission:
    """The zip's files and entry; Invalid or TooLarge naming the first problem."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = _members(zf, max_bytes, max_files)
    except (zipfile.BadZipFile, OSError, ValueError):
        raise Invalid("The file is not a readable zip; zip your folder again.") from None
    names = [i.filename for i in infos]
    tops = {n.split("/", 1)[0] for n in names}
    prefix = f"{next(iter(tops))}/" if len(tops) == 1 and all("/" in n for n in names) else ""
    files: dict[str, bytes] = {}
    for info in infos:
        path = info.filename[len(prefix) :]
        problem = _problem(info.filename, info) or _problem(path, info)
        problem = problem or (f"{path}: appears twice" if path in files else None)
        if problem:
            raise Invalid(f"The zip cannot be used: {problem}.")
        with zf.open(info) as fh:
            files[path] = fh.read(info.file_size + 1)
        if len(files[path]) != info.file_size:
            raise Invalid(
                f"The zip cannot be used: {path}: its size does not match the zip's directory."
            )
    return ZipSubmission(_entry(files), files)


def _entry(files: dict[str, bytes]) -> str:
    entries = []
    for path, content in sorted(files.items()):
        if not path.endswith(".py"):
            continue
        try:
            tree = ast.parse(content.decode("utf-8"), filename=path)
        except UnicodeDecodeError:
            raise Invalid(f"{path} is not UTF-8 text; save it as UTF-8 Python source.") from None
        except SyntaxError as exc:
            raise Invalid(
                f"Syntax error in {path} at line {exc.lineno}: {exc.msg}. Fix it and upload again."
            ) from None
        except (ValueError, RecursionError, MemoryError):
            raise Invalid(f"{path} could not be parsed as Python source.") from None
        if "/" not in path and _defines_unlearning(tree):
            entries.append(path)
    if not entries:
        raise Invalid(
            "No .py file at the zip's top defines unlearning(net, retain_loader, forget_loader, "
            "val_loader): put your entry module there (helpers may sit beside it or in folders)."
        )
    if len(entries) > 1:
        raise Invalid(
            f"Several .py files at the zip's top define unlearning ({', '.join(entries)}): keep "
            "it in one entry module."
        )
    return entries[0]


def unpack(submission: ZipSubmission, folder: Path) -> Path:
    """Write the files under ``folder`` (with the manifest); returns the entry's path."""
    folder.mkdir(parents=True, exist_ok=True)
    for path, content in submission.files.items():
        dest = folder.joinpath(*PurePosixPath(path).parts)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(content)
    (folder / MANIFEST).write_text("\n".join(sorted(submission.files)) + "\n")
    return folder / submission.entry
