"""What the CLI prints of other people's text: CSV cells a spreadsheet reads as text (the one
writer, core/csvsafe.py). Generated strings (hypothesis)."""

from __future__ import annotations

import csv
import io
from contextlib import redirect_stdout

from hypothesis import given
from hypothesis import strategies as st

from cli.participant import _board_csv
from core.csvsafe import FORMULA_STARTS

formula_like = st.builds(
    lambda lead, start, rest: lead + start + rest,
    st.text(" ", max_size=2),
    st.sampled_from(sorted(FORMULA_STARTS)),
    st.text(max_size=20),
)
names = st.one_of(st.text(min_size=1, max_size=40), formula_like)


def _starts_a_formula(value: str) -> bool:
    start = value.lstrip(" ")[:1]
    return bool(start) and start in FORMULA_STARTS


@given(st.lists(st.tuples(names, st.floats(-1, 1)), min_size=1, max_size=5))
def test_the_board_as_csv_neutralises_names_and_keeps_numbers(entries):
    rows = [
        {
            "rank": i + 1,
            "name": name,
            "team": False,
            "score": score,
            "score_ci": [score - 0.1, score + 0.1],
            "submissions": 1,
            "reference": False,
            "rank_interval": [1, 2],
        }
        for i, (name, score) in enumerate(entries)
    ]
    out = io.StringIO()
    with redirect_stdout(out):
        _board_csv({"rows": rows})
    parsed = list(csv.DictReader(io.StringIO(out.getvalue(), newline="")))
    assert len(parsed) == len(entries)
    for (name, score), row in zip(entries, parsed, strict=True):
        assert not _starts_a_formula(row["name"])  # numbers may be negative, text never starts one
        assert row["name"] == ("'" + name if _starts_a_formula(name) else name)
        assert float(row["score"]) == score and float(row["score_ci_low"]) == score - 0.1
