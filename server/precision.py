"""The published precision of every time and score: one serializer (docs/security.md, "What a
reader can read").

Objects keep full precision (ranks and ties are computed from it); only what leaves is rounded,
by the types below on the fields of ``server/schemas.py``: every duration (run times, device
time, compute charges, budgets) to 0.1 s, every time of day to the whole second (a submission's
end would otherwise tell its length to the microsecond), scores, their parts and intervals to
4 decimals. The API's JSON goes through them as it is serialised; pages and CSV exports read
:func:`published` copies, so they show what the API would send and no more.

The figures shown beside a score (accuracy ratios, accuracies, MIA, average gap; the JSDs) are
computed on hidden examples, so their precision is chosen with a test-set oracle in mind: every
view takes them from :func:`published_figures`, which rounds each to a step that one example of
the sets it is computed over cannot cross on its own (:func:`figure_decimals`; docs/security.md,
"Figures computed on hidden examples").
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, PlainSerializer

from core.results import PartSummary

SCORE_DECIMALS = 4
SECONDS_DECIMALS = 1
UNKNOWN_SIZE_DECIMALS = 1  # a figure whose sets' sizes a result does not record (older results)
MIN_EXAMPLES = 20  # a figure over this many hidden examples or fewer is not published
JSD_DECIMALS = 0  # the ×10⁴ JSDs: whole units of 10⁻⁴ (docs/security.md says why not coarser)


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


def figure_decimals(n_examples: int | None) -> int | None:
    """Decimals of a figure computed over ``n_examples`` hidden examples: the most ``d`` whose
    step 10⁻ᵈ is more than 2/n, so one example (1/n of an accuracy) moves it by less than half
    a step and every published value is shared by neighbouring counts (k and k ± 1 examples
    right), 0 and 1 included; never more than a score's. 21 to 200 examples: 1 decimal; 201 to
    2,000: 2; 2,001 to 20,000: 3. Over 20 or fewer: none, the figure is not published (its step
    would be a whole unit). Unknown (a result stored before the sizes were kept): 1 decimal."""
    if n_examples is None:
        return UNKNOWN_SIZE_DECIMALS
    if n_examples <= MIN_EXAMPLES:
        return None
    d = 1
    while d < SCORE_DECIMALS and 2 * 10 ** (d + 1) < n_examples:
        d += 1
    return d


def round_figure(value: float | None, n_examples: int | None, key: str = "") -> float | None:
    """A figure at its published precision (``key`` ending ``_x1e4``: a scaled JSD, in whole
    units); none where it is not published."""
    if value is None or not math.isfinite(value):
        return None
    decimals = figure_decimals(n_examples)
    if decimals is not None and key.endswith("_x1e4"):
        decimals = JSD_DECIMALS
    return None if decimals is None else round(float(value), decimals)


# the figures over the retain and test sets (their precision: the test set's size, the retain
# set being the larger in any sensible split) and over the part's forget examples (these and the
# JSDs); the rest (MIA and the average gap, which mix both) take the fewer of the two
TEST_FIGURES = frozenset(
    {"retain_ratio", "test_ratio", "retain_unlearned", "retain_retrained"}
    | {"test_unlearned", "test_retrained"}
)
FORGET_FIGURES = frozenset({"forget_unlearned", "forget_retrained"})


def figure_examples(part: PartSummary, key: str) -> int | None:
    """The fewest hidden examples behind figure ``key`` of a part (none where unknown)."""
    if key in TEST_FIGURES:
        sizes = [part.n_test]
    elif key in FORGET_FIGURES or key.endswith("_x1e4"):  # the JSDs: over forget examples
        sizes = [part.n_examples]
    else:
        sizes = [part.n_examples, part.n_test]
    known = [n for n in sizes if n is not None]
    return min(known) if known else None


def _rounded(part: PartSummary, values: BaseModel | None) -> dict[str, Any] | None:
    if values is None:
        return None
    return {
        k: round_figure(v, figure_examples(part, k), k) if isinstance(v, int | float) else v
        for k, v in values.model_dump().items()
    }


def published_figures(
    part: PartSummary, retain_ratio: float | None = None, test_ratio: float | None = None
) -> dict[str, Any]:
    """The figures shown beside a part's score, at their published precision: its accuracy
    ratios, accuracies and secondary metrics (``accuracy`` and ``secondary`` as dicts). Where
    a result stored before per-part figures has no ratios in the part, the given ones are shown
    (the ratios are over the retain and test sets, not the forget set); its accuracies and
    secondary metrics are never taken from elsewhere: the whole forget set's include private
    examples. Every view of a submission or a board row reads its figures from here."""
    retain = part.retain_ratio if part.retain_ratio is not None else retain_ratio
    test = part.test_ratio if part.test_ratio is not None else test_ratio
    return {
        "retain_ratio": round_figure(retain, figure_examples(part, "retain_ratio")),
        "test_ratio": round_figure(test, figure_examples(part, "test_ratio")),
        "accuracy": _rounded(part, part.accuracy),
        "secondary": _rounded(part, part.secondary),
    }


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
