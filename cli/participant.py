"""Participant commands: submissions, local scoring, boards (accounts: ``cli/account.py``)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cli.client import ArenaClient, ClientError
from cli.common import (
    DEFAULT_URL,
    TokenOpt,
    UrlOpt,
    _client,
    _fail,
    app,
    baselines_app,
    console,
    err,
    progress_bar,
)
from cli.results_view import (
    show_result,
)
from core.csvsafe import write_rows


def _authorized(url: str, token: str | None) -> ArenaClient:
    """A client with a token (the flag, ARENA_TOKEN or the saved login), or a clear exit."""
    client = _client(url, token)
    if "Authorization" not in client.http.headers:
        _fail("no token: run `arena login USERNAME` (or pass --token, or set ARENA_TOKEN)")
    return client


def _follow(client: ArenaClient, submission_id: int, poll: float) -> dict:
    with progress_bar() as bar:
        task = bar.add_task("queued", total=None)
        while True:
            sub = client.submission(submission_id)
            bar.update(
                task, description=sub["status"], completed=sub["runs_done"], total=sub["n_models"]
            )
            if sub["status"] in ("scored", "failed", "cancelled"):
                return sub
            time.sleep(poll)


@app.command()
def submit(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True, readable=True, help="Your .py, .ipynb, .zip, or a folder (sent as a zip)."
        ),
    ],
    competition: Annotated[str, typer.Option("--competition", "-c", help="Competition slug.")],
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    wait: Annotated[bool, typer.Option(help="Follow the submission until it is scored.")] = True,
    poll: Annotated[float, typer.Option(help="Seconds between status checks.")] = 1.0,
    accept_rules: Annotated[
        bool, typer.Option("--accept-rules", help="Accept the competition's rules first.")
    ] = False,
    message: Annotated[
        str | None, typer.Option("--message", "-m", help="What this submission tries.")
    ] = None,
    method: Annotated[str | None, typer.Option(help="Your method's name.")] = None,
    link: Annotated[
        str | None, typer.Option("--link", help="A paper or code link (http or https).")
    ] = None,
) -> None:
    """Upload a submission (with a message) and show its progress until the score arrives."""
    client = _authorized(url, token)
    try:
        if accept_rules:
            client.accept_rules(competition)
        if file.is_dir():
            file = zipped_folder(file)
        accepted = client.submit(competition, file, message=message, method=method, url=link)
        err.print(f"submission {accepted['id']} accepted ({accepted['status']})")
        if not wait:
            print(accepted["id"])
            return
        sub = _follow(client, accepted["id"], poll)
    except ClientError as exc:
        _fail(str(exc))
    show_result(sub)
    if sub["status"] != "scored":
        raise typer.Exit(1)


def zipped_folder(folder: Path) -> Path:
    """A folder submission as a zip beside a temporary copy (caches and hidden files left out)."""
    import tempfile
    import zipfile

    out = Path(tempfile.mkdtemp(prefix="arena-submit-")) / f"{folder.resolve().name}.zip"
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            rel = path.relative_to(folder)
            if path.is_file() and not any(
                p.startswith(".") or p == "__pycache__" for p in rel.parts
            ):
                zf.write(path, rel.as_posix())
    return out


def _baselines_table(rows: list[dict], competition: str, n_models: int) -> Table:
    table = Table(title=f"Baselines on {competition} (N = {n_models})")
    for col in (
        "method",
        "score",
        "95% interval",
        "F",
        "RA ratio",
        "TA ratio",
        "RF-JSD×1e4",
        "s/run",
    ):
        table.add_column(col)
    for r in sorted(rows, key=lambda r: -(r.get("score") or -1)):
        if r["status"] != "scored":
            table.add_row(r["method"], "failed", r["failure"][:60], "", "", "", "", "")
            continue
        table.add_row(
            r["method"],
            f"{r['score']:.4f}",
            f"[{r['ci'][0]:.4f}, {r['ci'][1]:.4f}]",
            f"{r['F']:.4f}",
            f"{r['RA ratio']:.4f}",
            f"{r['TA ratio']:.4f}",
            f"{r['RF-JSD×1e4']:.1f}",
            f"{r['s/run']:.1f}",
        )
    return table


@baselines_app.command("run")
def baselines_run(
    competition: Annotated[str, typer.Option("--competition", "-c", help="Competition slug.")],
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    only: Annotated[
        str | None, typer.Option(help="Comma-separated method names (default: all).")
    ] = None,
    markdown_out: Annotated[
        Path | None, typer.Option("--markdown", help="Also write the table here.")
    ] = None,
) -> None:
    """Submit every baseline method through the platform and print their scores side by side."""
    import datetime

    from cli.baselines import markdown, run_baselines

    client = _authorized(url, token)
    try:
        n_models = client.competition(competition)["n_models"]
        rows = run_baselines(
            client,
            competition,
            only.split(",") if only else None,
            lambda c, sid: _follow(c, sid, 1.0),
        )
    except ClientError as exc:
        _fail(str(exc))
    table = _baselines_table(rows, competition, n_models)
    console.print(table)
    if markdown_out:
        today = datetime.date.today().isoformat()
        markdown_out.write_text(
            markdown(
                rows,
                competition,
                n_models,
                f"arena baselines run --competition {competition}",
                today,
            )
        )
        err.print(f"table written to {markdown_out}")


@app.command()
def status(submission_id: int, url: UrlOpt = DEFAULT_URL, token: TokenOpt = None) -> None:
    """Show a submission's status and score."""
    try:
        show_result(_client(url, token).submission(submission_id))
    except ClientError as exc:
        _fail(str(exc))


@app.command()
def compute(slug: str, url: UrlOpt = DEFAULT_URL, token: TokenOpt = None) -> None:
    """Device time spent in a competition: yours (or your team's); organizers see everyone's
    and the preparation's."""
    try:
        totals = _client(url, token).compute(slug)
    except ClientError as exc:
        _fail(str(exc))
    table = Table(
        title=f"Compute in {slug}: {totals['total_device_seconds'] / 3600:.3f} device-hours"
    )
    for col in ("entrant", "submissions", "device-seconds", "of which platform failures"):
        table.add_column(col)
    for e in totals["entrants"]:
        table.add_row(
            e["entrant"] + (" (team)" if e["team"] else ""),
            str(e["submissions"]),
            f"{e['device_seconds']:.1f}",
            f"{e['platform_failures_device_seconds']:.1f}",
        )
    if totals.get("preparation_device_seconds") is not None:
        table.add_row("(preparation)", "", f"{totals['preparation_device_seconds']:.1f}", "")
    console.print(table)


@app.command("accept-rules")
def accept_rules_cmd(slug: str, url: UrlOpt = DEFAULT_URL, token: TokenOpt = None) -> None:
    """Print a competition's rules and accept them (needed before your first submission)."""
    client = _client(url, token)
    try:
        console.print(client.competition(slug)["participation_rules"])
        client.accept_rules(slug)
    except ClientError as exc:
        _fail(str(exc))
    err.print(f"rules of {slug!r} accepted")


@app.command()
def final(
    submission_id: int,
    unset: Annotated[
        bool, typer.Option("--unset", help="Remove it from your final picks.")
    ] = False,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
) -> None:
    """Choose a scored submission as one of your final picks for the private leaderboard."""
    try:
        _client(url, token).call(
            "POST", f"/submissions/{submission_id}/final", json={"final": not unset}
        )
    except ClientError as exc:
        _fail(str(exc))
    err.print(f"submission {submission_id} {'is no longer' if unset else 'is'} a final pick")


@app.command()
def cancel(submission_id: int, url: UrlOpt = DEFAULT_URL, token: TokenOpt = None) -> None:
    """Cancel a queued submission (organizers: also a running one)."""
    try:
        sub = _client(url, token).call("POST", f"/submissions/{submission_id}/cancel")
    except ClientError as exc:
        _fail(str(exc))
    err.print(f"submission {submission_id} is {sub['status']}")


@app.command()
def leaderboard(
    slug: str,
    board: Annotated[str, typer.Option(help="public, or private after the close")] = "public",
    phase: Annotated[str | None, typer.Option(help="A phase's leaderboard.")] = None,
    page: Annotated[int, typer.Option(min=1, help="Page of entrants.")] = 1,
    per_page: Annotated[int, typer.Option(min=1, max=500, help="Entrants a page.")] = 50,
    csv_out: Annotated[bool, typer.Option("--csv", help="Print CSV instead of a table.")] = False,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
) -> None:
    """Print a competition's leaderboard (a page of it), as a table or CSV."""
    try:
        data = _client(url, token).leaderboard(slug, board, phase, page, per_page)
    except ClientError as exc:
        _fail(str(exc))
    if csv_out:
        _board_csv(data)
        return
    pages = max(1, -(-data["total_rows"] // data["per_page"]))
    table = Table(
        title=f"{slug} {board} leaderboard {data['phase_board']} (N = {data['n_models']}), "
        f"page {data['page']} of {pages}"
    )
    for col in ("#", "95% rank", "name", "score", "95% interval", "entries"):
        table.add_column(col)
    for r in data["rows"]:
        ci = r.get("score_ci") or [None, None]
        ranks = r.get("rank_interval")
        table.add_row(
            str(r["rank"] or ""),
            f"{ranks[0]}–{ranks[1]}" if ranks else "",
            r["name"] + (" (reference)" if r["reference"] else ""),
            f"{r['score']:.4f}" + (" ≈" if r["tied_with_next"] else "")
            if r["score"] is not None
            else "",
            f"[{ci[0]:.4f}, {ci[1]:.4f}]" if ci[0] is not None else "",
            str(r["submissions"] or ""),
        )
    console.print(table)


BOARD_CSV = ("rank", "name", "team", "score", "score_ci_low", "score_ci_high", "submissions")


def _board_csv(data: dict) -> None:
    """The page as CSV on stdout, every cell through ``core.csvsafe`` (as the server's export)."""
    rows = []
    for r in data["rows"]:
        low, high = r.get("score_ci") or [None, None]
        values = {**r, "score_ci_low": low, "score_ci_high": high}
        ranks = r.get("rank_interval") or [None, None]
        rows.append([*(values.get(k) for k in BOARD_CSV), r["reference"], *ranks])
    write_rows(sys.stdout, [*BOARD_CSV, "reference", "rank_low", "rank_high"], rows)


@app.command()
def submissions(slug: str, url: UrlOpt = DEFAULT_URL, token: TokenOpt = None) -> None:
    """Your submissions to a competition (and your team's), newest first."""
    try:
        rows = _client(url, token).submissions(slug)
    except ClientError as exc:
        _fail(str(exc))
    table = Table(title=f"Your submissions to {slug}")
    for col in ("id", "submitted", "file", "message", "status", "public score", "final"):
        table.add_column(col)
    for s in rows:
        score = f"{s['score']:.4f}" if s.get("score") is not None else ""
        table.add_row(
            str(s["id"]),
            s["created_at"][:16].replace("T", " "),
            s["filename"],
            s.get("message") or "",
            s["status"] + (f" ({s['failure_reason']})" if s.get("failure_reason") else ""),
            score,
            "yes" if s.get("is_final") else "",
        )
    console.print(table)


@app.command()
def download(
    submission_id: int,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Default: its file name.")] = None,
    force: Annotated[bool, typer.Option(help="Replace an existing file.")] = False,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
) -> None:
    """Download the code of one of your submissions."""
    try:
        name, content = _client(url, token).code(submission_id)
    except ClientError as exc:
        _fail(str(exc))
    target = out or Path(name)
    if target.exists() and not force:
        _fail(f"{target} exists; pass --force to replace it, or --out another path")
    target.write_bytes(content)
    err.print(f"submission {submission_id} written to {target} ({len(content):,} bytes)")


@app.command()
def competitions(url: UrlOpt = DEFAULT_URL) -> None:
    """List competitions."""
    try:
        rows = _client(url).competitions()
    except ClientError as exc:
        _fail(str(exc))
    for c in rows:
        console.print(f"{c['slug']:24} {c['status']:10} N={c['n_models']:<5} {c['title']}")
