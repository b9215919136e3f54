"""Leaderboards: one row per entrant (participant or team) on a board's public or private
part, plus the reference rows. Public: each entrant's best public score. Private (after the
board's phases end; organizers earlier): the best private score among the entrant's final
picks, or, without picks, among their best public ones (Kaggle's convention)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

import scoring
from core.errors import Forbidden
from core.models import Competition, Disqualification, Submission, SubmissionStatus, Team, User
from core.settings import get_settings
from core.splits import public_mask
from server.schemas import Leaderboard, LeaderboardRow
from server.services import board_cache
from server.services.access import manages
from server.services.lookup import config_of
from server.services.phases import board_is_final, phases_of_board, require_board

Part = Literal["public", "private"]
Sort = Literal["score", "avg_gap", "mia_gap", "rf_jsd"]
SORT_KEYS = ("score", "avg_gap", "mia_gap", "rf_jsd")


@dataclass
class _Entry:
    row: LeaderboardRow
    sub: Any  # a row of _COLUMNS
    mask: np.ndarray | None
    factor: float
    result: dict | None = None
    n_models: int | None = None

    def points(self) -> np.ndarray | None:
        return _points(self.result, self.n_models or self.sub.n_models, self.mask)


_COLUMNS = (
    Submission.id,
    Submission.user_id,
    Submission.team_id,
    Submission.score,
    Submission.score_ci_low,
    Submission.score_ci_high,
    Submission.private_score,
    Submission.private_score_ci_low,
    Submission.private_score_ci_high,
    Submission.forgetting_quality,
    Submission.retain_ratio,
    Submission.test_ratio,
    Submission.n_models,
    Submission.is_final,
    Submission.created_at,
)


def _results(session: Session, ids: list[int]) -> dict[int, dict]:
    """The stored result JSON of some submissions, in chunks of one query each."""
    out: dict[int, dict] = {}
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        out.update(
            session.execute(
                select(Submission.id, Submission.result).where(Submission.id.in_(chunk))
            ).all()
        )
    return out


def _key(sub) -> tuple[str, int]:
    return ("team", sub.team_id) if sub.team_id is not None else ("user", sub.user_id)


def _points(result: dict | None, n_models: int, mask: np.ndarray | None) -> np.ndarray | None:
    eps = (result or {}).get("epsilons")
    if not eps:
        return None
    arr = np.array([np.nan if e is None else e for e in eps], dtype=float)
    if mask is not None and mask.shape == arr.shape:
        arr = arr[mask]
    return scoring.epsilon_points(arr, n_models)


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

    Served from a short-lived cache (``server/services/board_cache.py``).
    """
    cfg = config_of(comp)
    board = require_board(cfg, board)
    check_access(session, comp, board, part, viewer)
    key = (comp.id, comp.scoring_version, board, part, sort, page, per_page)
    return board_cache.boards.get(
        key,
        get_settings().leaderboard_cache_seconds,
        lambda: _build(session, comp, cfg, board, part, sort, page, per_page),
    )


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
    cfg = config_of(comp)
    name = require_board(cfg, board)
    check_access(session, comp, name, part, viewer)
    key = (comp.id, comp.scoring_version, name, part, sort, page, per_page, "json")
    return board_cache.boards.get(
        key,
        get_settings().leaderboard_cache_seconds,
        lambda: (
            build_leaderboard(
                session, comp, name, part, viewer, sort=sort, page=page, per_page=per_page
            )
            .model_dump_json()
            .encode()
        ),
    )


def scored_by_entrant(
    session: Session, comp: Competition, phases: list[str] | None
) -> dict[tuple[str, int], list[Any]]:
    """Each entrant's scored submissions of the current scoring version (in ``phases`` when
    given), best public score first; disqualified entrants left out."""
    query = (
        select(*_COLUMNS)
        .where(
            Submission.competition_id == comp.id,
            Submission.status == SubmissionStatus.SCORED,
            Submission.scoring_version == comp.scoring_version,
        )
        .order_by(Submission.score.desc(), Submission.created_at.asc())
    )
    if phases is not None:
        query = query.where(Submission.phase.in_(phases))
    scored = session.execute(query).all()  # plain rows: no result JSON, no ORM objects
    banned = {
        ("team", t) if t is not None else ("user", u)
        for u, t in session.execute(
            select(Disqualification.user_id, Disqualification.team_id).where(
                Disqualification.competition_id == comp.id
            )
        )
    }
    by_entrant: dict[tuple[str, int], list[Any]] = {}
    for sub in scored:
        if _key(sub) not in banned:
            by_entrant.setdefault(_key(sub), []).append(sub)
    return by_entrant


def final_candidates(subs: list[Any], cfg) -> list[Any]:
    """What a private board chooses from for one entrant (``subs`` best public first): their
    final picks, else their best public ones up to ``max_final_submissions``."""
    return [s for s in subs if s.is_final] or subs[: cfg.limits.max_final_submissions]


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

    picks: list[tuple[Any, float | None, list[float | None]]] = []
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

    # Only the page's rows are built (and the next one, for the last row's tie): a board of
    # thousands of entrants costs a page's worth of JSON, names and bootstraps.
    page = max(1, page)
    start, stop = (page - 1) * per_page, page * per_page
    total = len(picks)
    if sort == "score":
        window = list(range(start, min(stop + 1, total)))
        results = _results(session, [picks[i][0].id for i in window])
    else:
        results = _results(session, [p[0].id for p in picks])
        target = mia_target(comp)
        order = sorted(
            range(total),
            key=lambda i: _secondary_key(results.get(picks[i][0].id) or {}, sort, target, i),
        )
        window = order[start:stop]
    keys = [_key(picks[i][0]) for i in window]
    activity = _activity(session, comp, phases, keys)
    names = _names(session, keys)

    masks: dict[int, np.ndarray] = {}
    entries: list[_Entry] = []
    for i in window:
        sub, score, ci = picks[i]
        key = _key(sub)
        result = results.get(sub.id) or {}
        n_forget = len(result.get("epsilons") or [])
        if n_forget not in masks:
            masks[n_forget] = public_mask(n_forget, cfg.leaderboard.public_fraction, cfg.seed)
        board_result = (result.get("boards") or {}).get(part) or {}
        secondary = result.get("secondary") or {}
        count, last = activity.get(key, (0, None))
        row = LeaderboardRow(
            rank=i + 1,
            name=names.get(key, "?"),
            team=key[0] == "team",
            score=score,
            score_ci=ci,
            forgetting_quality=board_result.get(
                "forgetting_quality", sub.forgetting_quality if part == "public" else None
            ),
            retain_ratio=sub.retain_ratio,
            test_ratio=sub.test_ratio,
            submissions=count,
            last_submitted_at=last,
            submission_id=sub.id,
            mia=secondary.get("mia"),
            avg_gap=secondary.get("avg_gap"),
            rf_jsd_x1e4=secondary.get("rf_jsd_x1e4"),
        )
        mask = masks[n_forget] if part == "public" else ~masks[n_forget]
        factor = (sub.retain_ratio or 0.0) * (sub.test_ratio or 0.0)
        staged = result.get("private_stage") if part == "private" else None
        if staged:  # staged N: the private board's ε come from the private stage's runs
            factor = (staged.get("retain_ratio") or 0.0) * (staged.get("test_ratio") or 0.0)
            entries.append(_Entry(row, sub, mask, factor, staged, staged.get("n_models")))
        else:
            entries.append(_Entry(row, sub, mask, factor, result))

    # statistical ties between neighbours in rank order, in one vectorised bootstrap
    shown = entries if sort == "score" else []
    points = [e.points() for e in shown]
    i = 0
    while i < len(shown) - 1:  # runs of rows scored on the same examples, in one pass each
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
                n_resamples=cfg.scoring.bootstrap_resamples,
            )
            for e, tied in zip(shown[i:j], ties, strict=True):
                e.row.tied_with_next = tied
        i = j + 1

    rows = [e.row for e in entries][:per_page]
    for ref in (comp.reference_summary or {}).values():
        if isinstance(ref, dict) and "score" in ref:
            part_ref = (ref.get("boards") or {}).get(part) or ref
            rows.append(
                LeaderboardRow(
                    rank=None,
                    name=part_ref.get("name") or ref["name"],
                    score=part_ref.get("score"),
                    score_ci=part_ref.get("score_ci"),
                    forgetting_quality=part_ref.get("forgetting_quality"),
                    retain_ratio=ref.get("retain_ratio"),
                    test_ratio=ref.get("test_ratio"),
                    reference=True,
                )
            )
    if sort == "score":
        rows.sort(key=lambda r: (-(r.score if r.score is not None else -1.0), r.reference))
    return Leaderboard(
        sort=sort,
        page=page,
        per_page=per_page,
        total_rows=total,
        competition=comp.slug,
        board=part,
        phase_board=board,
        n_models=cfg.scoring.n_public if part == "public" else cfg.scoring.n_references,
        scoring_version=comp.scoring_version,
        rows=rows,
    )


def mia_target(comp: Competition) -> float | None:
    """The references' own MIA accuracy: what an unlearned model's MIA should be."""
    retrain = (comp.reference_summary or {}).get("retrain") or {}
    return None if not retrain else (retrain.get("secondary") or {}).get("mia_target")


def _secondary_key(result: dict, sort: str, target: float | None, rank: int) -> tuple:
    secondary = result.get("secondary") or {}
    value: float | None
    if sort == "avg_gap":
        value = secondary.get("avg_gap")
    elif sort == "rf_jsd":
        value = secondary.get("rf_jsd_x1e4")
    else:  # mia_gap: distance to the references' MIA (0.5 when unknown)
        mia = secondary.get("mia")
        value = None if mia is None else abs(mia - (target if target is not None else 0.5))
    return (value is None, value if value is not None else 0.0, rank)


def _activity(
    session: Session, comp: Competition, phases: list[str] | None, keys: list[tuple[str, int]]
) -> dict[tuple[str, int], tuple[int, object]]:
    """(submissions, last submission time) of the given entrants."""
    teams = [k[1] for k in keys if k[0] == "team"]
    users = [k[1] for k in keys if k[0] == "user"]
    if not keys:
        return {}
    query = select(
        Submission.team_id,
        Submission.user_id,
        func.count(Submission.id),
        func.max(Submission.created_at),
    ).where(
        Submission.competition_id == comp.id,
        or_(
            Submission.team_id.in_(teams),
            and_(Submission.team_id.is_(None), Submission.user_id.in_(users)),
        ),
    )
    if phases is not None:
        query = query.where(Submission.phase.in_(phases))
    activity: dict[tuple[str, int], tuple[int, object]] = {}
    for team_id, user_id, count, latest in session.execute(
        query.group_by(Submission.team_id, Submission.user_id)
    ):
        key = ("team", team_id) if team_id is not None else ("user", user_id)
        n, last = activity.get(key, (0, None))
        activity[key] = (n + count, max(latest, last) if last else latest)
    return activity


def _names(session: Session, keys: list[tuple[str, int]]) -> dict:
    team_ids = [k[1] for k in keys if k[0] == "team"]
    user_ids = [k[1] for k in keys if k[0] == "user"]
    names: dict[tuple[str, int], str] = {}
    if team_ids:
        for tid, name in session.execute(select(Team.id, Team.name).where(Team.id.in_(team_ids))):
            names[("team", tid)] = name
    if user_ids:
        for uid, name in session.execute(
            select(User.id, User.username).where(User.id.in_(user_ids))
        ):
            names[("user", uid)] = name
    return names


CSV_COLUMNS = (
    "rank",
    "name",
    "team",
    "score",
    "score_ci_low",
    "score_ci_high",
    "tied_with_next",
    "forgetting_quality",
    "retain_ratio",
    "test_ratio",
    "submissions",
    "last_submitted_at",
    "submission_id",
    "reference",
)


def to_csv(board: Leaderboard) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for r in board.rows:
        low, high = (r.score_ci or [None, None])[:2]
        writer.writerow(
            [
                r.rank,
                r.name,
                r.team,
                r.score,
                low,
                high,
                r.tied_with_next,
                r.forgetting_quality,
                r.retain_ratio,
                r.test_ratio,
                r.submissions,
                r.last_submitted_at.isoformat() if r.last_submitted_at else "",
                r.submission_id,
                r.reference,
            ]
        )
    return out.getvalue()
