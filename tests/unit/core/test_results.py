"""The typed result: what is stored, and results stored by older versions still load."""

from __future__ import annotations

import json
import math

from core.results import (
    Parts,
    PartSummary,
    ScoredRuns,
    SecondaryMetrics,
    SubmissionResult,
    load_references,
    load_result,
)


def _result() -> SubmissionResult:
    return SubmissionResult(
        score=0.25,
        forgetting_quality=0.3,
        score_ci=[0.2, 0.3],
        n_models=8,
        epsilons=[0.1, float("nan"), 2.5],
        retain_ratio=0.9,
        test_ratio=0.95,
        secondary=SecondaryMetrics(mia=0.5, avg_gap=0.02, rf_jsd_x1e4=float("inf")),
        parts=Parts(
            public=PartSummary(score=0.2, score_ci=[0.1, 0.3], n_examples=2),
            private=PartSummary(score=float("nan"), n_examples=1),
        ),
    )


def test_stored_json_uses_the_api_names_and_no_nan():
    stored = _result().stored()
    text = json.dumps(stored, allow_nan=False)  # every database takes it
    assert "boards" in stored and "parts" not in stored  # the stored (and API) name
    assert stored["epsilons"] == [0.1, None, 2.5]
    assert stored["boards"]["private"]["score"] is None
    assert stored["secondary"]["rf_jsd_x1e4"] is None
    again = load_result(json.loads(text))
    assert again.part("public").score == 0.2 and again.part("private").score is None
    assert again.epsilons == [0.1, None, 2.5]
    assert again.secondary is not None and again.secondary.mia == 0.5


def test_a_result_stored_before_per_part_summaries_loads_as_its_public_part():
    old = {  # the shape stored before the forget set had public and private parts
        "score": 0.12,
        "forgetting_quality": 0.2,
        "score_ci": [0.1, 0.14],
        "n_models": 4,
        "epsilons": [0.3, None],
        "epsilon_histogram": {"edges": [0.0, 0.5], "counts": [1, 0]},
        "retain_ratio": 0.8,
        "test_ratio": 0.75,
        "secondary": {"mia": 0.51, "mia_target": 0.5, "some_key_since_removed": 1},
        "budget_seconds": 3.0,
    }
    result = load_result(old)
    public = result.part("public")
    assert public.score == 0.12 and public.score_ci == [0.1, 0.14]
    assert public.epsilon_histogram is not None and public.epsilon_histogram.counts == [1, 0]
    assert result.part("private").score is None
    assert result.budget_seconds == 3.0 and result.secondary.mia == 0.51
    assert result.overall is result  # no private stage: the whole forget set is the result


def test_an_unscored_submission_reads_as_empty():
    empty = load_result(None)
    assert empty.score is None and empty.epsilons == [] and empty.part("public").score is None
    assert not empty.score_is_finite


def test_the_private_stage_keeps_only_whole_forget_set_numbers():
    full = _result().model_copy(update={"score": 0.4, "n_models": 32})
    stage = full.stage_part()
    assert type(stage) is ScoredRuns and stage.score == 0.4 and stage.n_models == 32
    staged = _result().model_copy(update={"private_stage": stage})
    loaded = load_result(staged.stored())
    assert loaded.overall.score == 0.4 and loaded.score == 0.25
    assert "boards" not in loaded.stored()["private_stage"]


def test_reference_summaries_with_and_without_rows():
    retrain = _result().model_copy(update={"name": "retrain, 4 vs 4"})
    stored = {"retrain": retrain.stored(), "original": None, "timing_samples": [1.0, 1.1]}
    refs = load_references(stored)
    assert [r.name for r in refs.rows()] == ["retrain, 4 vs 4"]
    assert refs.timing_samples == [1.0, 1.1]
    assert load_references(None).rows() == []
    unscored = load_references({"retrain": {"name": "x", "score": None}})
    assert unscored.rows() == []  # a row without a score is not shown
    assert math.isclose(refs.retrain.part("public").score, 0.2)
