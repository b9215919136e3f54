"""Jupyter notebook submissions: validated with nbformat, turned into one Python script.

The code cells run top to bottom, once per sandbox process, exactly like a .py file's top-level
code. IPython syntax is handled as a notebook user expects offline: `%matplotlib inline` and
other display/config line magics are ignored, `%time`/`%timeit` and `%%time`/`%%capture` run
their code; shell escapes (`!pip install …`, `%pip`, `%%bash`, …) are rejected at upload, since
the sandbox has no network and no shell.
"""

from __future__ import annotations

import json
import re

import nbformat

SHELL_LINE_MAGICS = {
    "pip",
    "conda",
    "sx",
    "system",
    "sh",
    "bash",
    "mamba",
    "uv",
    "run",
    "load",
    "writefile",
}
RUN_LINE_MAGICS = {"time", "timeit"}
RUN_CELL_MAGICS = {"time", "timeit", "capture"}
_ASSIGN_SHELL = re.compile(r"^\s*[\w.,\s]+=\s*[!%]")


class NotebookRejected(ValueError):
    """The notebook cannot run in the sandbox; the message says why and what to do."""


def _shell_rejection(cell_no: int, line: str) -> NotebookRejected:
    return NotebookRejected(
        f"Cell {cell_no} runs a shell command or installs packages ({line.strip()[:80]!r}). The sandbox "
        "has no network and no shell: remove it and use the packages listed on the competition page."
    )


def _convert_cell(cell_no: int, source: str) -> list[str]:
    lines = source.splitlines()
    if lines and lines[0].lstrip().startswith("%%"):
        magic = lines[0].strip()[2:].split()[0] if lines[0].strip()[2:] else ""
        if magic not in RUN_CELL_MAGICS:  # %%bash, %%script, %%writefile, …: not offline Python
            raise _shell_rejection(cell_no, lines[0])
        lines = [f"# (cell magic %%{magic} ignored)"] + lines[1:]
    out = []
    for line in lines:
        stripped = line.lstrip()
        indent = line[: len(line) - len(stripped)]
        if stripped.startswith("!") or _ASSIGN_SHELL.match(line):
            raise _shell_rejection(cell_no, line)
        if stripped.startswith("%"):
            name, _, rest = stripped[1:].partition(" ")
            if name in SHELL_LINE_MAGICS:
                raise _shell_rejection(cell_no, line)
            if name in RUN_LINE_MAGICS and rest.strip():
                out.append(f"{indent}{rest.strip()}  # (%{name})")
            else:
                out.append(f"{indent}pass  # (ignored: {stripped[:60]})")
            continue
        out.append(line)
    return out


def notebook_to_script(content: bytes | str) -> str:
    """The notebook's code cells as one Python script, or NotebookRejected with the reason."""
    text = content.decode("utf-8") if isinstance(content, bytes) else content
    try:
        nb = nbformat.reads(text, as_version=4)  # type: ignore[no-untyped-call]
    except (json.JSONDecodeError, nbformat.reader.NotJSONError) as exc:
        raise NotebookRejected(
            f"The file is not a Jupyter notebook (invalid JSON: {str(exc)[:200]})."
        ) from None
    except RecursionError:
        raise NotebookRejected(
            "The notebook's JSON is nested too deeply to be a Jupyter notebook."
        ) from None
    except Exception as exc:  # nbformat raises several kinds for malformed documents
        raise NotebookRejected(f"The notebook could not be read: {str(exc)[:300]}") from None
    try:
        nbformat.validate(nb)
    except nbformat.ValidationError as exc:
        raise NotebookRejected(
            f"The notebook is not valid nbformat: {str(exc.message)[:300]}"
        ) from None
    parts: list[str] = []
    n_code = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        n_code += 1
        parts.append(f"# --- cell {n_code} ---")
        parts.extend(_convert_cell(n_code, cell.source))
    if n_code == 0:
        raise NotebookRejected(
            "The notebook has no code cells: one of them must define unlearning(...)."
        )
    return "\n".join(parts) + "\n"
