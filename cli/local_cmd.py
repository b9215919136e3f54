"""`arena score-local`: score a method on public data with the platform's own code (cli.local):
the demo's data, or any competition's development split from its starter kit."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from cli.client import ClientError
from cli.common import DEFAULT_URL, TokenOpt, UrlOpt, _client, _fail, app, err
from cli.results_view import local_progress, show_local_failure, show_local_result


def default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "unlearning-arena"


@app.command("score-local")
def score_local_cmd(
    file: Annotated[
        Path,
        typer.Argument(exists=True, readable=True, help="Your .py, .ipynb, .zip or folder."),
    ],
    competition: Annotated[
        str,
        typer.Option(
            "--competition",
            "-c",
            help="The demo (public data), or any competition with a starter kit: its kit is "
            "downloaded and its development split used.",
        ),
    ] = "digits-demo",
    kit: Annotated[
        Path | None,
        typer.Option(file_okay=False, exists=True, help="A starter kit folder (`arena kit`)."),
    ] = None,
    n_models: Annotated[
        int | None,
        typer.Option(
            "--n-models",
            "--n",
            "-n",
            help="Runs and references trained locally (default 8, or the competition's N if smaller).",
        ),
    ] = None,
    cache_dir: Annotated[
        Path | None,
        typer.Option(help="Where prepared models are kept (default ~/.cache/unlearning-arena)."),
    ] = None,
    threads: Annotated[int, typer.Option(help="CPU threads (0 = all cores).")] = 0,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
) -> None:
    """Score a submission locally on public data, with the platform's own runner and scoring."""
    from cli.local import score_local
    from cli.participant import zipped_folder
    from core.settings import get_settings

    cache = cache_dir or default_cache()
    if file.is_dir():
        file = zipped_folder(file)
    cfg, data_file = _competition(file, competition, kit, n_models, cache, url, token)
    wheelhouse = get_settings().wheelhouse  # ARENA_WHEELHOUSE: the runtime offline
    with local_progress() as progress:
        options = {"threads": threads, "data_file": data_file, "wheelhouse": wheelhouse}
        result = score_local(file, cfg, cache, progress=progress, **options)
    err.print(_times_line(result), soft_wrap=True)
    if result.failure is not None:
        show_local_failure(result)
        raise typer.Exit(1)
    show_local_result(result, cfg.scoring.n_public)


def _times_line(result) -> str:
    """The runs' times, the local budget and the clock both are on."""
    times = ", ".join(f"{r.seconds:.2f}" for r in result.runs if r.seconds is not None)
    clock = (
        "CPU time (the sandbox's cgroup, the import included), as on the server's CPU workers"
        if result.clock == "cpu"
        else "wall time (no cgroup CPU accounting here; the server's CPU workers count CPU time)"
    )
    return (
        f"clock: {clock}. Run times on this machine: {times} s, against a local budget of "
        f"{result.budget_seconds:.2f} s per run (10% of the original's training time measured "
        f"here on the same clock, not the server's); full run logs: {result.log_dir}"
    )


def _competition(file, competition, kit, n_models, cache, url, token):
    """The settings to score under and the data file (a kit's dev split, or None)."""
    from cli.local import PUBLIC_COMPETITIONS, kit_config, local_config
    from core.errors import DomainError
    from server.services.uploads import validate_upload

    try:
        validate_upload(file.name, file.read_bytes(), 10**9)
        if kit is None and competition in PUBLIC_COMPETITIONS:
            cfg = local_config(competition, n_models)
            platform_n = PUBLIC_COMPETITIONS[competition]().scoring.n_public
            err.print(
                f"{competition}: its own public data at N = {cfg.scoring.n_public} (the "
                f"competition: N = {platform_n}; -n to change). Local scores differ from the "
                "leaderboard's: fewer models (a noisier ε) and this machine's time budget.",
                soft_wrap=True,
            )
            return cfg, None
        local = kit_config(kit or _downloaded_kit(competition, cache, url, token), n_models)
    except (ValueError, DomainError) as exc:
        _fail(getattr(exc, "detail", str(exc)))
    err.print(
        f"{local.config.slug}: scoring on its public development split at N = "
        f"{local.config.scoring.n_public} (the competition: its hidden data at N = "
        f"{local.platform_n}; -n to change). Local scores are not comparable with the "
        "leaderboard's: other data, fewer models (a noisier ε) and this machine's time budget.",
        soft_wrap=True,
    )
    return local.config, local.data_file


def _downloaded_kit(slug: str, cache: Path, url: str, token: str | None) -> Path:
    """The competition's starter kit, fetched into the cache (again each time: it may change)."""
    import shutil

    from cli.bundles import extract_kit

    try:
        data = _client(url, token).download(f"/competitions/{slug}/kit")
    except ClientError as exc:
        raise ValueError(f"cannot get the starter kit of {slug!r}: {exc}") from None
    target = cache / "kits" / slug
    shutil.rmtree(target, ignore_errors=True)
    extract_kit(data, target)
    return target
