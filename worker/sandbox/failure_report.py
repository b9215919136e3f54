"""What a participant is told about a failed run on hidden data (docs/scoring.md §8), built by the worker.

The run's process may forge anything it reports, so nothing of it is shown unchecked and no text
of it is shown at all: the exception's **type** is shown only if it is a Python built-in
exception, an exception class of a library the platform provides (torch, numpy, safetensors, scipy,
scikit-learn: looked up in the modules already imported, a submodule never imported on demand), or a class the uploaded source defines; each
**frame** only if its file is the upload, its line exists there and its function is defined
there around that line (or is module level, a lambda or a comprehension). Source lines are read
from the stored upload. Names are cut to 64 characters; the exception's message never appears
(it is in the run's log, for organizers, and ``arena score-local`` shows it on public data).
"""

from __future__ import annotations

import ast
import builtins
import importlib
import re
import sys
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from worker.sandbox.protocol import Failed, Frame

NAME_LIMIT = 64
FRAMES_SHOWN = 5
SOURCE_LIMIT = 160
LIBRARY_ROOTS = ("torch", "numpy", "safetensors", "scipy", "sklearn")
MEMORY_TYPES = ("MemoryError", "torch.OutOfMemoryError", "torch.cuda.OutOfMemoryError")
GENERIC_FUNCTIONS = ("<module>", "<lambda>", "<listcomp>", "<dictcomp>", "<setcomp>", "<genexpr>")
WHERE_THE_MESSAGE_IS = (
    "The exception's message is not shown for runs on hidden data (it could carry them): "
    "`arena score-local` runs your file on public data and shows it with the full log."
)
PROBLEMS = {
    "no_unlearning": (
        "crashed",
        "Your file defines no function `unlearning(net, retain_loader, forget_loader, val_loader)`.",
    ),
    "bad_return": (
        "invalid_output",
        "unlearning() must return the model (torch.nn.Module) or its state dict (str -> tensor).",
    ),
    "bad_state_dict": (
        "invalid_output",
        "The returned state dict has an entry that is not a tensor under a string key.",
    ),
    "unsaveable": (
        "invalid_output",
        "The returned weights could not be saved (e.g. tensors sharing memory): return "
        "net.state_dict() of the model you were given, or the model itself.",
    ),
}
PHASES = {
    "import": "Importing your file failed",
    "run": "unlearning() raised an exception",
    "output": "Reading what unlearning() returned failed",
}


def cut(name: str) -> str:
    return name if len(name) <= NAME_LIMIT else name[: NAME_LIMIT - 1] + "…"


@dataclass(frozen=True)
class Upload:
    """The stored file a run executed, as the worker reads it (never as the sandbox says);
    for a zip submission the entry module, with the other ``.py`` files in ``helpers``
    (path inside the sandbox -> its upload on the worker, each checked the same way)."""

    path: Path  # on the worker
    inside: str  # its path inside the sandbox
    helpers: tuple[tuple[str, Path], ...] = ()
    root: str = ""  # inside: the folder the files are under (module names are relative to it)
    runtime: tuple[
        str, ...
    ] = ()  # the competition's packages beyond the platform's ("name version")

    @cached_property
    def sources(self) -> dict[str, Upload]:
        """Every uploaded Python file by its path inside the sandbox."""
        found: dict[str, Upload] = {self.inside: self}
        for inside, path in self.helpers:
            found[inside] = Upload(path, inside)
        return found

    def module_file(self, module: str) -> Upload | None:
        """The uploaded file of a helper module (``helpers`` or ``pkg.mod``), if any."""
        if not self.root:
            return None
        base = self.root.rstrip("/") + "/" + module.replace(".", "/")
        return self.sources.get(base + ".py") or self.sources.get(base + "/__init__.py")

    @cached_property
    def lines(self) -> list[str]:
        try:
            return self.path.read_text(errors="replace").splitlines()
        except OSError:
            return []

    @cached_property
    def _tree(self) -> ast.AST | None:
        try:
            return ast.parse("\n".join(self.lines))
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return None

    @cached_property
    def class_names(self) -> frozenset[str]:
        if self._tree is None:
            return frozenset()
        return frozenset(n.name for n in ast.walk(self._tree) if isinstance(n, ast.ClassDef))

    @cached_property
    def functions(self) -> tuple[tuple[str, int, int], ...]:
        if self._tree is None:
            return ()
        return tuple(
            (n.name, n.lineno, n.end_lineno or n.lineno)
            for n in ast.walk(self._tree)
            if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
        )


def verified_type(name: str | None, upload: Upload) -> str | None:
    """The exception type's name if the worker can vouch for it, else None."""
    if not name:
        return None
    if "." not in name:
        obj = vars(builtins).get(name)
        ok = isinstance(obj, type) and issubclass(obj, BaseException)
        return cut(name) if ok else None
    module, _, qual = name.partition(".")
    if module in ("submission", "__main__"):
        return cut(qual) if _defines(upload, qual) else None
    parts = name.split(".")
    for split in range(len(parts) - 1, 0, -1):  # a class of one of the zip's helper modules
        helper = upload.module_file(".".join(parts[:split]))
        if helper is not None:
            return cut(name) if _defines(helper, ".".join(parts[split:])) else None
    # a library's: module.Class[.Inner] resolved through the module dicts only
    if parts[0] not in LIBRARY_ROOTS:
        return None
    try:  # the platform's own dependencies; a submodule is never imported on demand
        importlib.import_module(parts[0])
    except ImportError:
        return None
    for split in range(len(parts) - 1, 0, -1):
        mod = sys.modules.get(".".join(parts[:split]))
        if mod is None or parts[0] not in LIBRARY_ROOTS:
            continue
        obj: object = mod
        for attr in parts[split:]:
            obj = vars(obj).get(attr) if hasattr(obj, "__dict__") else None
            if obj is None:
                break
        if isinstance(obj, type) and issubclass(obj, BaseException):
            return cut(name)
        return None
    return None


def _defines(upload: Upload, qual: str) -> bool:
    parts = qual.split(".")
    defined = upload.class_names | {f[0] for f in upload.functions} | {"<locals>"}
    return parts[-1] in upload.class_names and all(p in defined for p in parts)


def verified_frames(frames: list[Frame], upload: Upload) -> list[Frame]:
    good = []
    for f in frames:
        source = upload.sources.get(f.file)
        if source is None or not 1 <= f.line <= len(source.lines):
            continue
        if f.function in GENERIC_FUNCTIONS or any(
            name == f.function and start <= f.line <= end for name, start, end in source.functions
        ):
            good.append(f)
    return good


def shown_name(upload: Upload, inside: str) -> str:
    """A frame's file as the participant named it: the upload's name, or its path in the zip."""
    if inside == upload.inside and not upload.root:
        return upload.path.name
    return inside.removeprefix(upload.root.rstrip("/") + "/") if upload.root else inside


MODULE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def _missing_module(report: Failed, kind: str | None, upload: Upload) -> list[str]:
    """At import (before any hidden data exist in the run), the module a failed import named."""
    if report.phase != "import" or kind not in ("ModuleNotFoundError", "ImportError"):
        return []
    if not report.module or not MODULE_NAME.match(report.module):
        return []
    extra = ", ".join(upload.runtime) if upload.runtime else "none"
    return [
        f"No module named {report.module!r} in this competition's sandbox. Its runtime adds to "
        f"the platform's packages (the competition's page lists them all): {extra}."
    ]


def render(report: Failed | None, upload: Upload) -> tuple[str, str]:
    """(failure reason, participant-visible message) for a run whose process failed."""
    if report is None:
        return "crashed", "The run's process failed without a report from the platform's runner."
    if report.problem in PROBLEMS:
        return PROBLEMS[report.problem]
    kind = verified_type(report.type, upload)
    frames = verified_frames(report.frames, upload)
    lines = [PHASES[report.phase] + (f": {kind}" if kind else ".")]
    lines += _missing_module(report, kind, upload)
    if not kind:
        lines.append("(The exception's type is not one the platform can verify in your file.)")
    if frames:
        lines.append("Traceback (your code only, most recent call last):")
        for f in frames[-FRAMES_SHOWN:]:
            name = cut(shown_name(upload, f.file))
            lines.append(f'  File "{name}", line {f.line}, in {cut(f.function)}')
            source = upload.sources[f.file].lines[f.line - 1].strip()
            if source:
                lines.append(f"    {source[:SOURCE_LIMIT]}")
    dropped = len(report.frames) - len(frames)
    if dropped:
        lines.append(f"({dropped} reported frames do not match your file and are not shown.)")
    lines.append(WHERE_THE_MESSAGE_IS)
    reason = "out_of_memory" if kind in MEMORY_TYPES else "crashed"
    return reason, "\n".join(lines)
