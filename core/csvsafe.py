"""CSV that a spreadsheet opens as data: the one writer of every CSV the platform and the CLI
produce (docs/security.md, "Exports").

OWASP's CSV injection rule: a text cell that a spreadsheet could read as a formula (it begins
with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return, also after leading spaces, or with
their full-width forms) gets a leading ``'``, so it is shown as the text it is. Numbers the
platform produces (ints and floats, never strings) are written as numbers, so a negative score
stays a negative number; booleans as ``True``/``False``; nothing (None, NaN, infinities) as an
empty cell. Everything else is written as its text, neutralised the same way.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

# characters a spreadsheet reads as the start of a formula (and their full-width forms)
FORMULA_STARTS = frozenset("=+-@\t\r\uff1d\uff0b\uff0d\uff20")


def neutral(text: str) -> str:
    """``text`` as a cell no spreadsheet evaluates: ``'`` before a formula's first character."""
    start = text.lstrip(" ")[:1]
    return "'" + text if start and start in FORMULA_STARTS else text


def cell(value: Any) -> str:
    """One cell: numbers as numbers, text neutralised, nothing as empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    return neutral(str(value))


def csv_text(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> str:
    """A header and rows as CSV text, every cell through :func:`cell`."""
    out = io.StringIO()
    write_rows(out, header, rows)
    return out.getvalue()


def write_rows(out: Any, header: Iterable[str], rows: Iterable[Iterable[Any]]) -> None:
    """Write a header and rows to a text stream, every cell through :func:`cell`."""
    writer = csv.writer(out)
    writer.writerow([cell(h) for h in header])
    for row in rows:
        writer.writerow([cell(v) for v in row])
