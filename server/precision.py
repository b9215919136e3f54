"""The published precision of every time and score: one serializer (docs/security.md, "What a
reader can read").

Objects keep full precision (ranks and ties are computed from it); only what leaves is rounded,
by the types below on the fields of ``server/schemas.py``: every duration (run times, device
time, compute charges, budgets) to 0.1 s, every time of day to the whole second (a submission's
end would otherwise tell its length to the microsecond), scores, their parts, intervals and
secondary metrics to 4 decimals. The API's JSON goes through them as it is serialised; pages
and CSV exports read :func:`published` copies, so they show what the API would send and no more.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, PlainSerializer

SCORE_DECIMALS = 4
SECONDS_DECIMALS = 1


def round_seconds(value: float | None) -> float | None:
    """A duration at the published precision (0.1 s); nothing for none or a non-finite value."""
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), SECONDS_DECIMALS)


def round_score(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), SCORE_DECIMALS)


def round_scores(value: Any) -> Any:
    """Every float inside lists and dicts at the score's precision."""
    if isinstance(value, float):
        return round_score(value)
    if isinstance(value, list):
        return [round_scores(v) for v in value]
    if isinstance(value, dict):
        return {k: round_scores(v) for k, v in value.items()}
    return value


def whole_second(value: datetime | None) -> datetime | None:
    """A time of day to the second (the fraction dropped)."""
    return None if value is None else value.replace(microsecond=0)


Score = Annotated[float | None, PlainSerializer(round_score, return_type=float | None)]
Scores = Annotated[
    list[float | None] | None,
    PlainSerializer(lambda v: None if v is None else [round_score(x) for x in v]),
]
ScoreDict = Annotated[dict[str, Any] | None, PlainSerializer(round_scores)]
Seconds = Annotated[float | None, PlainSerializer(round_seconds, return_type=float | None)]
# a duration that is always there (the serializer keeps a non-finite one as 0)
RequiredSeconds = Annotated[
    float, PlainSerializer(lambda v: round_seconds(v) or 0.0, return_type=float)
]
Timestamp = Annotated[datetime | None, PlainSerializer(whole_second, return_type=datetime | None)]


def published(value: Any) -> Any:
    """What the API would send of ``value``, as objects again: a model (or the models in a
    list, tuple or dict) serialised through its published types and read back."""
    if isinstance(value, BaseModel):
        return type(value).model_validate(value.model_dump(mode="json"))
    if type(value) in (list, tuple):
        return type(value)(published(v) for v in value)
    if isinstance(value, dict):
        return {k: published(v) for k, v in value.items()}
    return value
