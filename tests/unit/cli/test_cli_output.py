"""What the CLI prints of other people's text: as text, never as Rich markup, emoji codes or
terminal control (cli/common.py); CSV cells a spreadsheet reads as text (the one writer,
core/csvsafe.py). Generated strings (hypothesis)."""

from __future__ import annotations

import csv
import io
from contextlib import contextmanager, redirect_stdout

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from cli import organizer, participant
from cli.client import ClientError
from cli.common import console, err, plain
from cli.main import app
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


# --- stored strings are printed as text (cli/common.py: TextConsole, plain) -------------------

MARKUP = [
    "[bold]",
    "[/]",
    "[/bold]",
    "[link=https://evil.example/x]",
    "[/link]",
    "[red on white]",
    "[@click=app.quit]",
    ":smile:",
    ":warning:",
    "\\[",
    "[",
    "]",
    "[b]x[/b]",
    "=",
    " ",
]
# text a terminal shows as it is: no control, format or separator characters
visible = st.characters(blacklist_categories=("Cc", "Cs", "Cf", "Zl", "Zp"))
stored = st.lists(
    st.one_of(st.sampled_from(MARKUP), st.text(visible, min_size=1, max_size=6)),
    min_size=1,
    max_size=8,
).map("".join)
CONTROL = st.sampled_from(["\x1b[2J", "\x1b]8;;https://evil.example\x07", "\x07", "\x9b", "\u202e"])


class FakeClient:
    """What the platform would answer, every stored string set to ``text``."""

    def __init__(self, text: str) -> None:
        self.text = text

    def _row(self, rank: int | None, reference: bool) -> dict:
        return {
            "rank": rank,
            "rank_interval": [1, 2] if rank else None,
            "name": self.text,
            "score": 0.5,
            "score_ci": [0.4, 0.6],
            "tied_with_next": False,
            "submissions": 3,
            "reference": reference,
        }

    def leaderboard(self, slug, board, phase, page, per_page):
        rows = [self._row(1, False), self._row(None, True)]
        return {"rows": rows, "total_rows": 1, "per_page": 50, "page": 1} | {
            "phase_board": self.text,
            "n_models": 4,
        }

    def submission(self, submission_id):
        return {
            "id": submission_id,
            "status": "failed",
            "failure_reason": self.text,
            "failure_message": self.text,
            "counts_against_quota": True,
        }

    def submissions(self, slug):
        sub = {"id": 1, "created_at": "2026-01-01T00:00:00", "filename": self.text}
        return [sub | {"message": self.text, "status": "scored", "score": 0.5}]

    def competitions(self):
        return [{"slug": "c", "status": "open", "n_models": 4, "title": self.text}]

    def compute(self, slug):
        entrant = {"entrant": self.text, "team": True, "submissions": 1}
        entrant |= {"device_seconds": 1.0, "platform_failures_device_seconds": 0.0}
        return {"total_device_seconds": 1.0, "entrants": [entrant]}

    def call(self, method, path, **kwargs):
        if path.endswith("/team"):
            team = {"name": self.text, "id": 1, "members": [self.text], "invited": [self.text]}
            return {"team": team, "invitations": [{"name": self.text, "id": 2}]}
        raise ClientError(f"A team named '{self.text}' exists", 409)


TOKEN = ["--token", "t"]
COMMANDS = (
    ["leaderboard", "c", *TOKEN],
    ["submissions", "c", *TOKEN],
    ["status", "1", *TOKEN],
    ["competitions"],
    ["compute", "c", *TOKEN],
    ["team", "show", "c", *TOKEN],
    ["team", "invite", "1", "someone", *TOKEN],  # the error path
)
EXAMPLES = settings(max_examples=40, deadline=None)


@pytest.fixture(scope="module")
def wide():
    """Consoles wide enough that no cell wraps (the output is compared as a whole)."""
    saved = console._width, err._width
    console._width = err._width = 100_000
    yield
    console._width, err._width = saved


def _printed(monkeypatch_client, text: str) -> list[str]:
    outputs = []
    runner = CliRunner()
    for args in COMMANDS:
        with monkeypatch_client(FakeClient(text)):
            result = runner.invoke(app, args)
        outputs.append(result.output)
    return outputs


@contextmanager
def _fake(client):
    saved = participant._client, organizer._client
    participant._client = organizer._client = lambda *a, **k: client
    try:
        yield
    finally:
        participant._client, organizer._client = saved


@EXAMPLES
@given(text=stored)
def test_stored_strings_are_printed_literally(wide, text):
    for args, out in zip(COMMANDS, _printed(_fake, text), strict=True):
        assert text in out, (args, out)


@EXAMPLES
@given(before=stored, control=CONTROL, after=stored)
def test_control_characters_are_shown_as_escapes(wide, before, control, after):
    text = before + control + after
    for args, out in zip(COMMANDS, _printed(_fake, text), strict=True):
        assert not any(c in out for c in "\x1b\x07\x9b\u202e"), args
        assert before in out and after in out and plain(control).plain in out, (args, out)
