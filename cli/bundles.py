"""Bundles from the command line: `arena competition validate|bundle|schema` (organizers) and
`arena kit` (participants). ``validate`` runs offline, with the server's own checks."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path, PurePosixPath
from typing import Annotated

import typer

from cli import common
from cli.client import ClientError
from cli.common import DEFAULT_URL, TokenOpt, UrlOpt, app, err, styled
from cli.organizer import BundleArg, _client, competition_app
from core.bundle import read_path
from core.bundle_validation import check_bundle
from core.competition_config import CompetitionConfig
from core.config_file import json_schema
from core.datasets import inspect_npz
from core.errors import DomainError
from core.organizer_code import CheckUnavailable, check_model

OutArg = Annotated[Path, typer.Argument(dir_okay=False, help="Where to write the zip.")]


@competition_app.command("validate")
def validate(
    path: BundleArg,
    dataset: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="Also check the hidden dataset (.npz)."),
    ] = None,
) -> None:
    """Check a bundle offline, as the server will: settings, pages, dev split, and the model
    module (built, one forward pass, weights through safetensors; jailed when bubblewrap is
    installed). Exit status 1 lists every problem."""
    try:
        bundle = read_path(path)
        try:
            checked = check_bundle(bundle)
            how = "jailed"
        except CheckUnavailable as exc:
            err.print(
                styled(
                    ("note:", "yellow"), f" {exc.detail}; checking in a plain subprocess instead"
                )
            )
            checked, how = check_bundle(bundle, jailed=False), "unjailed"
        if dataset is not None:
            _check_dataset(checked.config, dataset, how == "jailed")
    except DomainError as exc:
        problems = exc.extra.get("problems") or [exc.detail]
        err.print(f"{path}: {len(problems)} problem(s)", style="red")
        for problem in problems:
            err.print(f"  - {problem}")
        raise typer.Exit(1) from None
    cfg, report = checked.config, checked.model_report
    err.print(styled((f"{path}: valid", "green"), f" (competition {cfg.slug!r})"))
    model = getattr(cfg.model, "module", None) or cfg.model.name
    if report.get("parameters") is not None:
        model += f" ({report['parameters']:,} parameters; checked {how})"
    err.print(f"  model: {model}")
    if report.get("deferred"):
        err.print(styled("  ", ("note:", "yellow"), f" {report['deferred']}"))
    err.print(f"  pages: {', '.join(checked.pages) or 'none'}")
    err.print(f"  starter kit: {len(bundle.kit())} file(s)")
    if checked.dev_summary:
        err.print(f"  dev split: {checked.dev_summary['n_examples']} examples")


def _check_dataset(cfg: CompetitionConfig, path: Path, jailed: bool) -> None:
    summary = inspect_npz(path, cfg, 1 << 40)
    check_model(cfg, summary["input_shape"], jailed=jailed)
    err.print(
        f"  dataset {path.name}: {summary['n_examples']} examples, split {summary['split_sizes']}"
    )


@competition_app.command("bundle")
def bundle(slug: str, output: OutArg, url: UrlOpt = DEFAULT_URL, token: TokenOpt = None) -> None:
    """Download a competition as a bundle zip (organizers): its settings now, model module,
    pages, starter kit and dev split. `arena competition create OUT.zip --slug NEW` recreates it."""
    try:
        data = _client(url, token).download(f"/competitions/{slug}/bundle")
    except ClientError as exc:
        common._fail(str(exc))
    output.write_bytes(data)
    err.print(f"written to {output} ({len(data):,} bytes)")


@competition_app.command("schema")
def schema(output: Annotated[Path | None, typer.Argument(dir_okay=False)] = None) -> None:
    """The JSON Schema of competition.yaml, for editors (e.g. yaml-language-server)."""
    text = json.dumps(json_schema(), indent=2) + "\n"
    if output is None:
        print(text, end="")
    else:
        output.write_text(text)
        err.print(f"written to {output}")


@app.command("kit")
def kit(
    slug: str,
    folder: Annotated[Path | None, typer.Argument(file_okay=False)] = None,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
) -> None:
    """Download a competition's starter kit (notebook, script, dev split, pages) into FOLDER
    (default: ./SLUG-kit). Then `arena score-local` your unlearning() on its dev split."""
    target = folder or Path(f"{slug}-kit")
    if target.exists() and any(target.iterdir()):
        common._fail(f"{target} is not empty; name another folder")
    try:
        with common.progress_bar() as bar:
            task = bar.add_task("starter kit (bytes)", total=None)
            data = common._client(url, token).download(
                f"/competitions/{slug}/kit",
                lambda done, total: bar.update(task, completed=done, total=total),
            )
    except ClientError as exc:
        common._fail(str(exc))
    written = extract_kit(data, target)
    bad = verify_checksums(target)
    if bad:
        common._fail(f"checksums do not match for {', '.join(bad)}: download the kit again")
    err.print(
        f"{len(written)} file(s) in {target}/, checksums verified: {', '.join(written[:8])}",
        soft_wrap=True,
    )


def extract_kit(data: bytes, target: Path) -> list[str]:
    """Unpack the kit's zip under ``target`` (entries leaving it are skipped)."""
    written = []
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for info in zf.infolist():
            parts = PurePosixPath(info.filename).parts
            if info.is_dir() or not parts or ".." in parts or info.filename.startswith("/"):
                continue
            dest = target.joinpath(*parts)
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(zf.read(info))
            written.append("/".join(parts))
    return written


def verify_checksums(target: Path) -> list[str]:
    """The files whose SHA-256 differs from the kit's SHA256SUMS (all present ones must match)."""
    sums = target / "SHA256SUMS"
    if not sums.is_file():
        return ["SHA256SUMS (missing)"]
    bad = []
    for line in sums.read_text().splitlines():
        digest, _, name = line.partition("  ")
        path = target.joinpath(*PurePosixPath(name).parts)
        if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            bad.append(name)
    return bad


__all__ = ["bundle", "extract_kit", "kit", "schema", "validate"]
