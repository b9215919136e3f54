"""The report's builder on constructed entries (no database): which agreements a competition
gets, and what they say."""

from __future__ import annotations

from core.results import ReferenceSummary
from harness.platform import tiny_config
from worker.pipeline.validity import Entry, Inputs, agreements


def _inputs(staged: bool, closed: bool, entries: list[Entry]) -> Inputs:
    cfg = tiny_config("builder", n_models={"public": 4, "private": 8} if staged else 4)
    return Inputs(cfg, None, None, ReferenceSummary(), entries, closed=closed)  # type: ignore[arg-type]


def _entries() -> list[Entry]:
    # public order 0 > 1 > 2 > 3; private swaps 0 and 3; the private N keeps the order
    rows = [
        (0.9, 0.1, 0.5, 0.50),
        (0.8, 0.7, 0.4, 0.41),
        (0.7, 0.6, 0.3, 0.29),
        (0.6, 0.95, 0.2, 0.2),
    ]
    return [
        Entry(i, f"#{i}", public_score=a, private_score=b, quality=q, private_stage_quality=p)
        for i, (a, b, q, p) in enumerate(rows)
    ]


def test_staged_competitions_compare_the_two_n_of_the_final_picks():
    found = {a.key: a for a in agreements(_inputs(True, True, _entries()))}
    assert list(found) == ["boards", "stages", "rules"]
    stages = found["stages"]
    assert (stages.a_label, stages.b_label) == ("N = 4", "N = 8")
    assert stages.tau == 1.0 and stages.n_entries == 4 and stages.swings == []
    boards = found["boards"]
    assert boards.tau < 0.5 and boards.swings[0].submission_id in (0, 3)
    assert {(s.submission_id, s.rank_a, s.rank_b) for s in boards.swings[:2]} == {
        (0, 1, 4),
        (3, 4, 1),
    }
    assert found["rules"].note == "0 entries scored both ways; at least 3 are needed"


def test_before_the_close_only_the_null_and_the_planner():
    found = agreements(_inputs(False, False, _entries()))
    assert [a.key for a in found] == ["boards", "rules"]
    assert all(a.note == "computed at the close" and a.tau is None for a in found)
