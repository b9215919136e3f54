"""Leaderboards: one row per entrant (participant or team) on a board's public or private
part, plus the reference rows. Public: each entrant's best public score. Private (after the
board's phases end; organizers earlier): the best private score among the entrant's final
picks, or, without picks, among their best public ones (Kaggle's convention)."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from sqlalchemy.orm import Session

import scoring
from core.errors import Forbidden
from core.models import Competition, User
from core.results import SubmissionResult, load_references
from core.settings import get_settings
from core.splits import public_mask
from server.leaderboard import cache as board_cache
from server.leaderboard import ranks
from server.leaderboard.entries import (
    Entry,
    activity_of,
    entrant_key,
    final_candidates,
    mia_target,
    names_of,
    part_secondary,
    results_of,
    scored_by_entrant,
    secondary_key,
)
from server.schemas import Leaderboard, LeaderboardRow
from server.services.access import manages
from server.services.hidden import part_figures
from server.services.lookup import config_of
from server.services.phases import board_is_final, phases_of_board, require_board

Part = Literal["public", "private"]
Sort = Literal["score", "avg_gap", "mia_gap", "rf_jsd"]
SORT_KEYS = ("score", "avg_gap", "mia_gap", "rf_jsd")


def check_access(
    session: Session, comp: Competition, board: str, part: Part, viewer: User | None
) -> None:
    if part == "private" and not (
        manages(session, viewer, comp) or board_is_final(comp, config_of(comp), board)
    ):
        raise Forbidden(
            "The private leaderboard is published when the phase closes; until then only the "
            "organizers can read it.",
        )


def build_leaderboard(
    session: Session,
    comp: Competition,
    board: str | None = None,
    part: Part = "public",
    viewer: User | None = None,
    *,
    sort: Sort = "score",
    page: int = 1,
    per_page: int = 50,
) -> Leaderboard:
    """The board; ``sort`` by score (ranked) or a secondary metric; one ``page`` of entrants.

    Served from a short-lived cache (``server/leaderboard/cache.py``).
    """
    cfg, name = _readable(session, comp, board, part, viewer)
    return _cached(session, comp, cfg, name, part, sort, page, per_page)


def leaderboard_json(
    session: Session,
    comp: Competition,
    board: str | None = None,
    part: Part = "public",
    viewer: User | None = None,
    *,
    sort: Sort = "score",
    page: int = 1,
    per_page: int = 50,
) -> bytes:
    """The board as JSON bytes, cached like the board itself (reads skip re-serialising)."""
    cfg, name = _readable(session, comp, board, part, viewer)
    key = (comp.id, comp.scoring_version, name, part, sort, page, per_page, "json")
    return board_cache.boards.get(
        key,
        get_settings().leaderboard_cache_seconds,
        lambda: (
            _cached(session, comp, cfg, name, part, sort, page, per_page).model_dump_json().encode()
        ),
    )


def _readable(session: Session, comp: Competition, board: str | None, part: Part, viewer):
    """The competition's config and the board's name, once the viewer may read it."""
    cfg = comp.working_config  # its public mask is drawn from the working seed
    name = require_board(cfg, board)
    check_access(session, comp, name, part, viewer)
    return cfg, name


def _cached(session, comp, cfg, name: str, part: Part, sort: Sort, page: int, per_page: int):
    key = (comp.id, comp.scoring_version, name, part, sort, page, per_page)
    return board_cache.boards.get(
        key,
        get_settings().leaderboard_cache_seconds,
        lambda: _build(session, comp, cfg, name, part, sort, page, per_page),
    )


_Pick = tuple[Any, float | None, list[float | None]]  # (submission row, score, interval)


def _build(
    session: Session,
    comp: Competition,
    cfg,
    board: str,
    part: Part,
    sort: Sort,
    page: int,
    per_page: int,
) -> Leaderboard:
    phases = phases_of_board(cfg, board)
    by_entrant = scored_by_entrant(session, comp, phases)
    picks = _picks(by_entrant, cfg, part)
    public_ranks = _public_ranks(by_entrant, cfg) if part == "private" else {}
    window, results = _window(session, comp, picks, part, sort, max(1, page), per_page)
    keys = [entrant_key(picks[i][0]) for i in window]
    activity = activity_of(session, comp, phases, keys)
    names = names_of(session, keys)
    masks: dict[int, np.ndarray] = {}
    entries: list[Entry] = []
    for i in window:
        sub = picks[i][0]
        result = results.get(sub.id) or SubmissionResult()
        mask = _mask(masks, len(result.epsilons), cfg, part)
        row = _row(i, picks[i], result, part, names.get(entrant_key(sub), "?"), activity)
        row.public_rank = public_ranks.get(entrant_key(sub))
        entries.append(_entry(row, sub, mask, result, part))
    if sort == "score":
        _mark_ties(entries, cfg.scoring.bootstrap_resamples)
    built = dict(zip(window, entries, strict=True))
    points = _points_of(session, cfg, picks, part, masks, built)
    for i, (low, high) in ranks.rank_intervals(
        picks, window, points, cfg.scoring.bootstrap_resamples
    ).items():
        built[i].row.rank_interval = [low, high]
    rows = [e.row for e in entries][:per_page] + _reference_rows(comp, part)
    if sort == "score":
        rows.sort(key=lambda r: (-(r.score if r.score is not None else -1.0), r.reference))
    return Leaderboard(
        sort=sort,
        page=page,
        per_page=per_page,
        total_rows=len(picks),
        competition=comp.slug,
        board=part,
        phase_board=board,
        n_models=cfg.scoring.n_public if part == "public" else cfg.scoring.n_references,
        scoring_version=comp.scoring_version,
        rows=rows,
    )


def _mask(masks: dict[int, np.ndarray], n_forget: int, cfg, part: Part) -> np.ndarray:
    if n_forget not in masks:
        masks[n_forget] = public_mask(n_forget, cfg.leaderboard.public_fraction, cfg.seed)
    return masks[n_forget] if part == "public" else ~masks[n_forget]


def _points_of(session: Session, cfg, picks: list[_Pick], part: Part, masks, built: dict):
    """(H(ε) per example, utility factor) of picks, for the rank intervals: the page's from
    its entries, the other contenders' from their stored results."""

    def get(indices: list[int]) -> list[tuple[np.ndarray | None, float]]:
        missing = [picks[i][0].id for i in indices if i not in built]
        results = results_of(session, missing)
        out = []
        for i in indices:
            entry = built.get(i)
            if entry is None:
                sub = picks[i][0]
                result = results.get(sub.id) or SubmissionResult()
                entry = _entry(
                    None, sub, _mask(masks, len(result.epsilons), cfg, part), result, part
                )
            out.append((entry.points(), entry.factor))
        return out

    return get


def _picks(by_entrant: dict, cfg, part: Part) -> list[_Pick]:
    """Each entrant's submission on this board, best first: the best public score, or the
    best private score among the final candidates."""
    picks: list[_Pick] = []
    for subs in by_entrant.values():  # subs sorted by public score, best first
        if part == "public":
            best = subs[0]
            picks.append((best, best.score, [best.score_ci_low, best.score_ci_high]))
            continue
        chosen = [s for s in final_candidates(subs, cfg) if s.private_score is not None]
        if chosen:
            best = max(chosen, key=lambda s: (s.private_score, -s.created_at.timestamp()))
            picks.append(
                (best, best.private_score, [best.private_score_ci_low, best.private_score_ci_high])
            )
    picks.sort(key=lambda p: (-(p[1] if p[1] is not None else -1.0), p[0].created_at))
    return picks


def _public_ranks(by_entrant: dict, cfg) -> dict[tuple[str, int], int]:
    """Each entrant's rank on the public board, to show how far the private one moved it."""
    return {entrant_key(p[0]): i + 1 for i, p in enumerate(_picks(by_entrant, cfg, "public"))}


def _window(
    session: Session,
    comp: Competition,
    picks: list[_Pick],
    part: Part,
    sort: Sort,
    page: int,
    per_page: int,
) -> tuple[list[int], dict[int, SubmissionResult]]:
    """The indices of the page's rows and their results. Only the page's rows are built (and
    the next one, for the last row's tie): a board of thousands of entrants costs a page's
    worth of JSON, names and bootstraps; a secondary sort reads every result's secondary
    metrics of the board's part, as published, then the page's whole results."""
    start, stop = (page - 1) * per_page, page * per_page
    total = len(picks)
    if sort == "score":
        window = list(range(start, min(stop + 1, total)))
    else:
        metrics = results_of(session, [p[0].id for p in picks], load=part_secondary(part))
        target = mia_target(comp, part)
        order = sorted(
            range(total), key=lambda i: secondary_key(metrics.get(picks[i][0].id), sort, target, i)
        )
        window = order[start:stop]
    return window, results_of(session, [picks[i][0].id for i in window])


def _row(
    i: int, pick: _Pick, result: SubmissionResult, part: Part, name: str, activity: dict
) -> LeaderboardRow:
    """An entrant's row: the score and every figure beside it from the board's part of the
    forget set (the private board's from the private stage under staged N), at their published
    precision (``server/services/hidden.py``); before the close nothing in a public row is
    computed on private examples."""
    sub, score, ci = pick
    key = entrant_key(sub)
    board_result = result.part(part)
    figures = part_figures(result, part, sub.retain_ratio, sub.test_ratio)
    secondary = figures["secondary"] or {}
    count, last = activity.get(key, (0, None))
    return LeaderboardRow(
        rank=i + 1,
        name=name,
        team=key[0] == "team",
        score=score,
        score_ci=ci,
        forgetting_quality=board_result.forgetting_quality
        if board_result.forgetting_quality is not None
        else (sub.forgetting_quality if part == "public" else None),
        retain_ratio=figures["retain_ratio"],
        test_ratio=figures["test_ratio"],
        submissions=count,
        last_submitted_at=last,
        submission_id=sub.id,
        mia=secondary.get("mia"),
        avg_gap=secondary.get("avg_gap"),
        rf_jsd_x1e4=secondary.get("rf_jsd_x1e4"),
    )


def _entry(row, sub, mask, result: SubmissionResult, part: Part) -> Entry:
    staged = result.private_stage if part == "private" else None
    if staged:  # staged N: the private board's ε come from the private stage's runs
        factor = (staged.retain_ratio or 0.0) * (staged.test_ratio or 0.0)
        return Entry(row, sub, mask, factor, staged, staged.n_models)
    factor = (sub.retain_ratio or 0.0) * (sub.test_ratio or 0.0)
    return Entry(row, sub, mask, factor, result)


def _mark_ties(shown: list[Entry], resamples: int) -> None:
    """Statistical ties between neighbours in rank order, in one vectorised bootstrap per run
    of rows scored on the same examples."""
    points = [e.points() for e in shown]
    i = 0
    while i < len(shown) - 1:
        j = i
        while (
            j + 1 < len(shown)
            and points[j] is not None
            and points[j + 1] is not None
            and points[j + 1].shape == points[j].shape
        ):
            j += 1
        if j > i:
            ties = scoring.neighbour_ties(
                np.stack(points[i : j + 1]),
                [e.factor for e in shown[i : j + 1]],
                n_resamples=resamples,
            )
            for e, tied in zip(shown[i:j], ties, strict=True):
                e.row.tied_with_next = tied
        i = j + 1


def _reference_rows(comp: Competition, part: Part) -> list[LeaderboardRow]:
    """Retraining against itself, the unchanged model, and the organizers' baselines."""
    rows = []
    summary = load_references(comp.reference_summary)
    baselines = {id(b) for b in summary.baselines.values()}
    for ref in summary.rows():
        part_ref = ref.part(part)
        figures = part_figures(ref, part, ref.retain_ratio, ref.test_ratio)
        secondary = figures["secondary"] or {}
        rows.append(
            LeaderboardRow(
                rank=None,
                name=part_ref.name or ref.name,
                score=part_ref.score,
                score_ci=part_ref.score_ci,
                forgetting_quality=part_ref.forgetting_quality,
                retain_ratio=figures["retain_ratio"],
                test_ratio=figures["test_ratio"],
                reference=True,
                baseline=id(ref) in baselines,
                mia=secondary.get("mia"),
                avg_gap=secondary.get("avg_gap"),
                rf_jsd_x1e4=secondary.get("rf_jsd_x1e4"),
            )
        )
    return rows
