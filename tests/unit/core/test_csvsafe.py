"""The one CSV writer (core/csvsafe.py): for any text, the parsed cell is the text, or the text
behind a ``'`` when a spreadsheet would read it as a formula; numbers stay numbers."""

from __future__ import annotations

import csv
import io
import math
from datetime import datetime

from hypothesis import given
from hypothesis import strategies as st

from core.csvsafe import FORMULA_STARTS, cell, csv_text, neutral

# text that tends to look like a formula, and anything else
formula_like = st.builds(
    lambda lead, start, rest: lead + start + rest,
    st.text(" ", max_size=3),
    st.sampled_from(sorted(FORMULA_STARTS)),
    st.text(max_size=30),
)
any_text = st.one_of(st.text(max_size=60), formula_like)


def parsed(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def dangerous(value: str) -> bool:
    start = value.lstrip(" ")[:1]
    return bool(start) and start in FORMULA_STARTS


@given(st.lists(st.lists(any_text, min_size=1, max_size=4), min_size=1, max_size=4))
def test_no_parsed_cell_starts_a_formula_and_text_round_trips(rows):
    header, *body = parsed(csv_text(["a", "b", "c", "d"], rows))
    assert header == ["a", "b", "c", "d"]
    assert len(body) == len(rows)
    for row, back in zip(rows, body, strict=True):
        for value, got in zip(row, back, strict=True):
            assert not dangerous(got)
            assert got == ("'" + value if dangerous(value) else value)


@given(st.one_of(st.integers(), st.floats(allow_nan=True, allow_infinity=True)))
def test_numbers_stay_numbers(value):
    (got,) = parsed(csv_text(["x"], [[value]]))[1]
    if isinstance(value, float) and not math.isfinite(value):
        assert got == ""
    else:
        assert not got.startswith("'")  # a negative number stays readable as a number
        assert (int(got) if isinstance(value, int) else float(got)) == value


def test_the_other_cells():
    assert cell(None) == "" and cell(True) == "True" and cell(False) == "False"
    assert cell(datetime(2026, 1, 2, 3, 4, 5)) == "2026-01-02T03:04:05"
    assert neutral('=HYPERLINK("http://x")') == '\'=HYPERLINK("http://x")'
    assert neutral("  -1+2") == "'  -1+2" and neutral("\uff1d1") == "'\uff1d1"
    assert neutral("a=b") == "a=b" and neutral("") == ""
    assert cell("-3") == "'-3"  # text that looks like a number is text
