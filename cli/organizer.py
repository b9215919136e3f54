"""`arena competition …` (organizers) and `arena team …` (participants): thin wrappers over
the HTTP API, with progress bars for the long parts (dataset upload, preparation)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from cli import credentials
from cli.client import ArenaClient, ClientError
from cli.common import DEFAULT_URL, TokenOpt, UrlOpt, console, err, progress_bar, styled
from core.bundle import read_path
from core.errors import DomainError

competition_app = typer.Typer(
    help="Organizers: create, configure, prepare, open and run competitions.", no_args_is_help=True
)
team_app = typer.Typer(help="Teams: create, invite, accept, leave.", no_args_is_help=True)
FileArg = Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)]
BundleArg = Annotated[
    Path,
    typer.Argument(
        exists=True, readable=True, help="A bundle folder, a bundle .zip or a YAML file."
    ),
]


def _client(url: str, token: str | None) -> ArenaClient:
    token = token or credentials.token_for(url)
    if not token:
        err.print(
            styled(("error:", "red"), " no token: run `arena login USERNAME` (or set ARENA_TOKEN)")
        )
        raise typer.Exit(1)
    return ArenaClient(url, token, timeout=300.0)


def _call(client: ArenaClient, method: str, path: str, **kwargs: Any) -> Any:
    try:
        return client.call(method, path, **kwargs)
    except ClientError as exc:
        err.print(styled(("error:", "red"), f" {exc}"))
        raise typer.Exit(1) from None


def _yaml_body(file: Path, slug: str | None) -> dict[str, Any]:
    content = file.read_bytes()
    if slug:  # the file's slug replaced, the rest as written
        data = yaml.safe_load(content)
        if isinstance(data, dict):
            data["slug"] = slug
            content = yaml.safe_dump(data, sort_keys=False).encode()
    return {"content": content, "headers": {"Content-Type": "application/yaml"}}


def bundle_body(path: Path) -> dict[str, Any]:
    """A bundle folder zipped (as the server reads it), or a .zip as it is."""
    try:
        bundle = read_path(path)
    except DomainError as exc:
        err.print(styled(("error:", "red"), f" {exc.detail}"))
        raise typer.Exit(1) from None
    data = path.read_bytes() if path.is_file() else bundle.to_zip()
    return {"content": data, "headers": {"Content-Type": "application/zip"}}


@competition_app.command("create")
def create(
    path: BundleArg,
    slug: Annotated[str | None, typer.Option(help="Under this slug instead of the file's.")] = None,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
) -> None:
    """Create a competition (status draft) from its bundle (a folder or .zip holding
    competition.yaml, the model module, pages and starter kit) or a lone YAML file."""
    client = _client(url, token)
    if path.is_dir() or path.suffix.lower() == ".zip":
        comp = _call(
            client, "POST", "/competitions/bundle", params=_slug(slug), **bundle_body(path)
        )
    else:
        body = _yaml_body(path, slug)
        comp = _call(client, "POST", "/competitions", **body)
    err.print(
        f"competition {comp['slug']!r} created ({comp['status']}). Next: "
        + (
            f"`arena competition dataset {comp['slug']} FILE.npz`, then "
            if comp["data"]["dataset"] == "uploaded"
            else ""
        )
        + f"`arena competition prepare {comp['slug']}`"
    )
    print(comp["slug"])


def _slug(slug: str | None) -> dict[str, str]:
    return {"slug": slug} if slug else {}


@competition_app.command("update")
def update(slug: str, path: BundleArg, url: UrlOpt = DEFAULT_URL, token: TokenOpt = None) -> None:
    """Replace a competition's settings with a bundle (folder or .zip: settings, model module,
    pages, kit) or a YAML file (settings only). Data/model changes need a new preparation."""
    client = _client(url, token)
    if path.is_dir() or path.suffix.lower() == ".zip":
        out = _call(client, "PUT", f"/competitions/{slug}/bundle", **bundle_body(path))
    else:
        out = _call(client, "PUT", f"/competitions/{slug}", **_yaml_body(path, None))
    err.print(f"changed: {', '.join(out['changed']) or 'nothing'}; status {out['status']}")
    if out.get("status_message"):
        err.print(out["status_message"])


@competition_app.command("show")
def show(slug: str, url: UrlOpt = DEFAULT_URL, token: TokenOpt = None) -> None:
    """Print a competition's full settings file (organizers)."""
    print(_call(_client(url, token), "GET", f"/competitions/{slug}/config"), end="")


class _ReadProgress:
    """A file object that advances a progress bar as httpx reads it."""

    def __init__(self, fh, bar: Progress, task) -> None:
        self.fh, self.bar, self.task = fh, bar, task

    def read(self, n: int = -1) -> bytes:
        chunk = self.fh.read(n)
        self.bar.advance(self.task, len(chunk))
        return chunk


@competition_app.command("dataset")
def dataset(slug: str, file: FileArg, url: UrlOpt = DEFAULT_URL, token: TokenOpt = None) -> None:
    """Upload the hidden dataset (.npz with x, y and optionally group)."""
    client = _client(url, token)
    with (
        Progress(
            TextColumn("uploading"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            console=err,
        ) as bar,
        open(file, "rb") as fh,
    ):
        task = bar.add_task("upload", total=file.stat().st_size)
        summary = _call(
            client,
            "PUT",
            f"/competitions/{slug}/dataset",
            files={"file": (file.name, _ReadProgress(fh, bar, task), "application/octet-stream")},
        )
    table = Table(title=f"{slug}: dataset {summary['sha256'][:12]}")
    table.add_column("")
    table.add_column("")
    table.add_row("examples", str(summary["n_examples"]))
    table.add_row("input shape", str(tuple(summary["input_shape"])))
    table.add_row("classes", str(summary["n_classes"]))
    table.add_row("class counts", ", ".join(map(str, summary["class_counts"])))
    if summary.get("n_groups") is not None:
        table.add_row("groups", str(summary["n_groups"]))
    table.add_row("split sizes", ", ".join(f"{k} {v}" for k, v in summary["split_sizes"].items()))
    console.print(table)


@competition_app.command("prepare")
def prepare(
    slug: str,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    wait: Annotated[bool, typer.Option(help="Follow the preparation with a progress bar.")] = True,
    poll: Annotated[float, typer.Option(help="Seconds between checks.")] = 2.0,
) -> None:
    """Train the original model and the N references (resumes an interrupted preparation)."""
    client = _client(url, token)
    comp = _call(client, "POST", f"/competitions/{slug}/prepare")
    if not wait:
        err.print(f"preparation of {slug!r} queued")
        return
    with progress_bar() as bar:
        task = bar.add_task("queued", total=None)
        while comp["status"] == "preparing":
            p = comp.get("preparation") or {}
            bar.update(
                task,
                description=p.get("stage", "preparing"),
                completed=p.get("done", 0),
                total=p.get("total") or None,
            )
            time.sleep(poll)
            comp = _call(client, "GET", f"/competitions/{slug}")
    if comp["status"] == "failed":
        err.print(styled(("preparation failed:", "red"), f" {comp.get('status_message')}"))
        raise typer.Exit(1)
    budgets = ", ".join(
        f"{b['hardware_class']}: {b['budget_seconds']:.1f} s" for b in comp["budgets"]
    )
    err.print(
        f"{slug!r} is {comp['status']} (budget per run {budgets}); open it with "
        f"`arena competition open {slug}`"
        if comp["status"] == "ready"
        else f"{slug!r} is {comp['status']}"
    )


def _lifecycle(action: str):
    def command(slug: str, url: UrlOpt = DEFAULT_URL, token: TokenOpt = None) -> None:
        comp = _call(_client(url, token), "POST", f"/competitions/{slug}/{action}")
        err.print(f"{slug!r} is {comp['status']}")

    command.__doc__ = {
        "open": "Publish a prepared competition.",
        "close": "Close it (publishes the private board).",
        "resplit": "Draw its hidden split again from a new server-side secret (back to draft: "
        "prepare it again, then rescore with --rerun).",
    }[action]
    return command


competition_app.command("open")(_lifecycle("open"))
competition_app.command("close")(_lifecycle("close"))
competition_app.command("resplit")(_lifecycle("resplit"))


@competition_app.command("rescore")
def rescore(
    slug: str,
    rerun: Annotated[
        bool, typer.Option(help="Run every submission again (after a data or model change).")
    ] = False,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
) -> None:
    """Rescore all submissions from their stored outputs (or rerun them)."""
    out = _call(_client(url, token), "POST", f"/competitions/{slug}/rescore", json={"rerun": rerun})
    err.print(
        f"scoring version {out['scoring_version']}: "
        + (
            f"{out['submissions']} submissions queued to run again"
            if rerun
            else f"rescoring {out['submissions']} submissions"
        )
    )


@competition_app.command("private-stage")
def private_stage(
    slug: str,
    status: Annotated[bool, typer.Option(help="Only show how far it is.")] = False,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
) -> None:
    """Staged N: run the final picks up to the private N now (closing does it too)."""
    client = _client(url, token)
    if not status:
        out = _call(client, "POST", f"/competitions/{slug}/private-stage")
        err.print(
            f"{out['queued']} of {out['candidates']} final picks queued for the private stage"
        )
    progress = _call(client, "GET", f"/competitions/{slug}/private-stage")["submissions"]
    err.print(", ".join(f"{k}: {v}" for k, v in sorted(progress.items())) or "no private stage yet")


@competition_app.command("audit")
def audit(slug: str, url: UrlOpt = DEFAULT_URL, token: TokenOpt = None) -> None:
    """The audit log: who did what, when."""
    table = Table(title=f"{slug}: audit log")
    for col in ("when (UTC)", "who", "what", "detail"):
        table.add_column(col)
    for e in _call(_client(url, token), "GET", f"/competitions/{slug}/audit"):
        table.add_row(e["at"][:19], e["actor"], e["action"], str(e["detail"] or ""))
    console.print(table)


@competition_app.command("export")
def export(
    slug: str,
    board: Annotated[str, typer.Option(help="public or private")] = "public",
    output: Annotated[Path | None, typer.Option("--output", "-o")] = None,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
) -> None:
    """Export a leaderboard as CSV (organizers)."""
    text = _call(
        _client(url, token), "GET", f"/competitions/{slug}/leaderboard.csv", params={"board": board}
    )
    if output:
        output.write_text(text)
        err.print(f"written to {output}")
    else:
        print(text, end="")


@competition_app.command("add-organizer")
def add_organizer(
    slug: str, username: str, url: UrlOpt = DEFAULT_URL, token: TokenOpt = None
) -> None:
    """Make USERNAME a co-organizer."""
    out = _call(
        _client(url, token), "POST", f"/competitions/{slug}/organizers", json={"username": username}
    )
    err.print("organizers: " + ", ".join(out["organizers"]))


@competition_app.command("disqualify")
def disqualify(
    slug: str,
    reason: Annotated[str, typer.Option(help="Why (goes to the audit log).")],
    user: Annotated[str | None, typer.Option("--user")] = None,
    team: Annotated[str | None, typer.Option("--team")] = None,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
) -> None:
    """Hide a participant's or a team's rows (their submissions are kept)."""
    _call(
        _client(url, token),
        "POST",
        f"/competitions/{slug}/disqualifications",
        json={"username": user, "team": team, "reason": reason},
    )
    err.print(f"disqualified {user or team!r}")


@competition_app.command("addresses")
def addresses(slug: str, url: UrlOpt = DEFAULT_URL, token: TokenOpt = None) -> None:
    """Accounts that logged in or submitted from the same address."""
    rows = _call(_client(url, token), "GET", f"/competitions/{slug}/shared-addresses")
    if not rows:
        err.print("no address is shared by two accounts")
    for r in rows:
        console.print(f"{r['address']:40} {', '.join(r['accounts'])}")


# --- teams -------------------------------------------------------------------------------


def _show_team(team: dict | None) -> None:
    if team is None:
        console.print("you compete alone")
        return
    console.print(
        f"team {team['name']!r} (id {team['id']}): {', '.join(team['members'])}"
        + (f"; invited: {', '.join(team['invited'])}" if team["invited"] else "")
    )


@team_app.command("create")
def team_create(slug: str, name: str, url: UrlOpt = DEFAULT_URL, token: TokenOpt = None) -> None:
    """Create a team in competition SLUG (your submissions so far move to it)."""
    _show_team(
        _call(_client(url, token), "POST", f"/competitions/{slug}/teams", json={"name": name})
    )


@team_app.command("show")
def team_show(slug: str, url: UrlOpt = DEFAULT_URL, token: TokenOpt = None) -> None:
    """Your team in SLUG and your invitations."""
    out = _call(_client(url, token), "GET", f"/competitions/{slug}/team")
    _show_team(out["team"])
    for t in out["invitations"]:
        console.print(f"invited to {t['name']!r}: accept with `arena team accept {t['id']}`")


@team_app.command("invite")
def team_invite(
    team_id: int, username: str, url: UrlOpt = DEFAULT_URL, token: TokenOpt = None
) -> None:
    _show_team(
        _call(_client(url, token), "POST", f"/teams/{team_id}/invites", json={"username": username})
    )


@team_app.command("accept")
def team_accept(team_id: int, url: UrlOpt = DEFAULT_URL, token: TokenOpt = None) -> None:
    """Accept an invitation (your own team, if any, merges into it)."""
    _show_team(_call(_client(url, token), "POST", f"/teams/{team_id}/accept"))


@team_app.command("leave")
def team_leave(team_id: int, url: UrlOpt = DEFAULT_URL, token: TokenOpt = None) -> None:
    _call(_client(url, token), "POST", f"/teams/{team_id}/leave")
    err.print("left the team")
