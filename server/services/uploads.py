"""Validation of an uploaded submission file (.py, .ipynb or .zip) before anything is stored.

Each rejection says what is wrong and how to fix it. Nothing the file contains is executed
here: the check is syntactic (the file compiles and defines ``unlearning`` with four
parameters at module level).
"""

from __future__ import annotations

import ast
import hashlib
from dataclasses import dataclass
from urllib.parse import urlparse

from core.errors import Invalid, TooLarge, UnsupportedType
from core.notebooks import NotebookRejected, notebook_to_script
from core.submission_zip import read_submission_zip

SIGNATURE = "unlearning(net, retain_loader, forget_loader, val_loader)"


@dataclass(frozen=True)
class ValidatedUpload:
    filename: str
    kind: str
    content: bytes
    sha256: str


def validate_upload(
    filename: str | None,
    content: bytes,
    max_bytes: int,
    max_unpacked_bytes: int = 20 << 20,
    max_files: int = 200,
) -> ValidatedUpload:
    """A .py, a .ipynb, or a .zip (entry module, helpers, small data: core.submission_zip;
    ``max_unpacked_bytes`` and ``max_files`` bound what it unpacks to)."""
    name = (filename or "").strip() or "submission.py"
    if len(content) > max_bytes:
        raise TooLarge(
            f"The file is {len(content):,} bytes; the limit is {max_bytes:,} bytes. Upload only your unlearning code.",
        )
    kind = name.lower().rsplit(".", 1)[-1] if "." in name else ""
    if kind not in ("py", "ipynb", "zip"):
        raise UnsupportedType(
            f"{name!r} is not a .py file, a .ipynb notebook or a .zip of them: upload one that defines {SIGNATURE}.",
        )
    if kind == "zip":
        bundle = read_submission_zip(content, max_unpacked_bytes, max_files)
        _check_entry_point(ast.parse(bundle.entry_source))
        return ValidatedUpload(name, kind, content, hashlib.sha256(content).hexdigest())
    if not content.strip():
        raise Invalid(f"The file is empty: it must define {SIGNATURE}.")
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Invalid(
            f"The file is not UTF-8 text (undecodable byte at position {exc.start}); save it as UTF-8 Python source.",
        ) from None
    if "\x00" in text:
        raise Invalid(
            "The file contains NUL bytes, so it is not Python source; upload the .py file itself.",
        )
    if kind == "ipynb":
        try:
            text = notebook_to_script(text)
        except NotebookRejected as exc:
            raise Invalid(str(exc)) from None
    try:
        tree = ast.parse(text, filename=name)
    except SyntaxError as exc:
        where = f"line {exc.lineno}" + (f", column {exc.offset}" if exc.offset else "")
        raise Invalid(
            f"Syntax error in {name} at {where}: {exc.msg}. Fix it and upload again."
        ) from None
    except (ValueError, RecursionError, MemoryError):
        raise Invalid(
            "The file could not be parsed as Python source (too deeply nested or malformed)."
        ) from None
    _check_entry_point(tree)
    return ValidatedUpload(name, kind, content, hashlib.sha256(content).hexdigest())


def _check_entry_point(tree: ast.Module) -> None:
    funcs = [
        n
        for n in tree.body
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == "unlearning"
    ]
    if not funcs:
        assigned = any(
            isinstance(n, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "unlearning" for t in n.targets)
            for n in tree.body
        )
        if assigned:
            return  # e.g. `unlearning = make_method(...)`: checked when it is imported
        raise Invalid(f"The file does not define a top-level function {SIGNATURE}.")
    fn = funcs[-1]
    if isinstance(fn, ast.AsyncFunctionDef):
        raise Invalid("`unlearning` must be a plain function, not `async def`.")
    args = fn.args
    positional = len(args.posonlyargs) + len(args.args)
    if args.vararg is None and positional < 4:
        raise Invalid(
            f"`unlearning` takes {positional} positional parameter(s); it must accept four: {SIGNATURE}.",
        )
    required = positional - len(args.defaults)
    if required > 4:
        raise Invalid(
            f"`unlearning` requires {required} arguments; it is called with four: {SIGNATURE}."
        )


@dataclass(frozen=True)
class SubmissionNote:
    """What the submitter says of a submission (Kaggle's message, EvalAI's method and link)."""

    message: str | None = None
    method_name: str | None = None
    method_url: str | None = None


NOTE_LIMITS = {"message": 500, "method": 100, "url": 500}


def validate_note(
    message: str | None = None, method: str | None = None, url: str | None = None
) -> SubmissionNote:
    """The note, trimmed; Invalid with what to fix when a part is too long or the link is not
    an http(s) address."""
    values = {"message": message, "method": method, "url": url}
    cleaned = {k: (v or "").strip() or None for k, v in values.items()}
    for field, limit in NOTE_LIMITS.items():
        value = cleaned[field]
        if value is not None and len(value) > limit:
            raise Invalid(f"{field}: at most {limit} characters, got {len(value)}; shorten it.")
    link = cleaned["url"]
    if link is not None:
        parsed = urlparse(link)
        if (
            parsed.scheme not in ("http", "https")
            or not parsed.netloc
            or any(c.isspace() for c in link)
        ):
            raise Invalid(f"url: {link!r} is not an http(s) address, e.g. https://arxiv.org/abs/….")
    return SubmissionNote(cleaned["message"], cleaned["method"], link)
