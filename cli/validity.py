"""`arena competition validity SLUG`: the validity report in the terminal (or as JSON), and
`--refresh` to queue a fresh one (organizers). docs/metric.md says how to read it."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from cli.common import DEFAULT_URL, TokenOpt, UrlOpt, console, err
from cli.organizer import _call, _client, competition_app


@competition_app.command("validity")
def validity(
    slug: str,
    as_json: Annotated[bool, typer.Option("--json", help="The report as JSON.")] = False,
    refresh: Annotated[
        bool, typer.Option(help="Queue a fresh report (organizers), then show the current one.")
    ] = False,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
) -> None:
    """How far the boards can be trusted: the retrain-vs-retrain null, the planner for N, and
    after the close the agreement of boards, stages and rules (organizers; public after the close)."""
    client = _client(url, token)
    path = f"/competitions/{slug}/validity"
    if refresh:
        _call(client, "POST", path)
        err.print("a fresh report is queued; it replaces this one when done")
    report = _call(client, "GET", path)
    if as_json:
        print(json.dumps(report, indent=1))
        return
    err.print(
        f"{slug}: validity report ({report['trigger']}, {report['computed_at'][:19]} UTC, "
        f"{report['seconds']:.1f} s, {report['rules']} rules)"
    )
    console.print(_nulls(report["nulls"]))
    if report.get("planner"):
        console.print(_planner(report["planner"]))
    for agreement in report["agreements"]:
        _agreement(agreement)
    if report["correlations"]:
        console.print(_correlations(report["correlations"]))
    for note in report.get("notes") or []:
        err.print(note)


def _f(x: float | None, digits: int = 4) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def _nulls(nulls: list[dict[str, Any]]) -> Table:
    table = Table(title="What a perfect method scores: F of retrain vs retrain, random splits")
    for col in ("board", "N", "per side", "examples", "splits", "mean", "95% range", "board row"):
        table.add_column(col)
    for n in nulls:
        table.add_row(
            n["board"],
            str(n["n_models"]),
            str(n["n_per_side"]),
            str(n["n_examples"]),
            str(n["splits"]),
            _f(n["mean"]),
            f"[{_f(n['low'])}, {_f(n['high'])}]",
            _f(n["board_row"]),
        )
    return table


def _planner(plan: dict[str, Any]) -> Table:
    table = Table(
        title=f"N to tell apart two entries ({plan['power']:.0%} power, {plan['alpha']:.0%} level)"
    )
    for col in ("difference in F", "N", "device s per submission", "device s of references"):
        table.add_column(col)
    for row in plan["rows"]:
        table.add_row(
            _f(row["difference"], 3),
            str(row["n_models"] or "beyond reach"),
            _f(row["submission_device_seconds"], 1),
            _f(row["preparation_device_seconds"], 1),
        )
    return table


def _agreement(a: dict[str, Any]) -> None:
    if a.get("note"):
        err.print(f"{a['title']}: {a['note']}")
        return
    err.print(
        f"{a['title']}: Kendall τ {_f(a['tau'], 3)} (95% [{_f(a['low'], 3)}, {_f(a['high'], 3)}], "
        f"{a['n_entries']} entries; resampled: {a['resampled']})"
    )
    for s in a["swings"]:
        err.print(
            f"  {s['label']}: {a['a_label']} rank {s['rank_a']} → {a['b_label']} {s['rank_b']}"
        )


def _correlations(rows: list[dict[str, Any]]) -> Table:
    table = Table(title="Secondary metrics: Spearman ρ over the entries and reference rows")
    for col in ("metric", "against", "ρ", "n"):
        table.add_column(col)
    for c in rows:
        table.add_row(c["metric"], c["against"], _f(c["rho"], 3), str(c["n"]))
    return table
