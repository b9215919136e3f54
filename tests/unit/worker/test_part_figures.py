"""The figures beside a part's score (issue 32, "private examples before the close"): each part's
forget accuracy and secondary metrics come from its own forget examples and nothing of the other
part's. Generated model outputs (hypothesis), the pure finalize step."""

from __future__ import annotations

from dataclasses import fields, replace

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import scoring
from harness.platform import tiny_config
from worker.ml.artefacts import OutputsStack
from worker.ml.training import ModelOutputs, cross_entropy
from worker.pipeline.finalize import PART_FIGURES, score_outputs, secondary_metrics

EXAMPLES = settings(max_examples=25, deadline=None)
CFG = tiny_config("part-figures", bootstrap_resamples=20).scoring


def _stack(rng, labels, test_labels, n_models, n_classes, scale) -> OutputsStack:
    forget = rng.normal(size=(n_models, len(labels), n_classes)) * scale
    test = rng.normal(size=(n_models, len(test_labels), n_classes)) * scale
    return _with_forget(
        OutputsStack(
            forget_logits=forget,
            forget_loss=np.zeros(forget.shape[:2]),
            test_loss=np.stack([cross_entropy(z, test_labels) for z in test]),
            retain_acc=rng.uniform(0.5, 1.0, n_models),
            forget_acc=np.zeros(n_models),
            test_acc=(test.argmax(-1) == test_labels).mean(axis=1),
            forget_class_softmax=np.zeros((n_models, n_classes, n_classes)),
            test_class_softmax=np.stack(
                [scoring.class_mean_softmax(z, test_labels, np.arange(n_classes)) for z in test]
            ),
        ),
        labels,
    )


def _with_forget(o: OutputsStack, labels: np.ndarray) -> OutputsStack:
    """The forget-set fields as evaluation derives them from the forget logits."""
    classes = np.arange(o.forget_logits.shape[-1])
    return replace(
        o,
        forget_loss=np.stack([cross_entropy(z, labels) for z in o.forget_logits]),
        forget_acc=(o.forget_logits.argmax(-1) == labels).mean(axis=1),
        forget_class_softmax=np.stack(
            [scoring.class_mean_softmax(z, labels, classes) for z in o.forget_logits]
        ),
    )


def _changed_on(o: OutputsStack, labels, examples: np.ndarray, rng) -> OutputsStack:
    """The same models, other outputs on ``examples`` of the forget set (distinctive ones:
    confident, mostly right), everything else as it was."""
    logits = o.forget_logits.copy()
    new = rng.normal(size=logits[:, examples].shape) * 8
    new[..., :] += 20 * np.eye(logits.shape[-1])[labels[examples]]
    logits[:, examples] = new
    return _with_forget(replace(o, forget_logits=logits), labels)


@st.composite
def problems(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n_models = draw(st.integers(2, 4))
    n_classes = draw(st.integers(2, 5))
    n_forget = draw(st.integers(12, 40))
    labels = rng.integers(0, n_classes, n_forget)
    test_labels = rng.integers(0, n_classes, draw(st.integers(10, 50)))
    public = np.zeros(n_forget, bool)
    public[rng.choice(n_forget, draw(st.integers(5, n_forget - 5)), replace=False)] = True
    scale = draw(st.sampled_from([0.5, 3.0]))
    unlearned = _stack(rng, labels, test_labels, n_models, n_classes, scale)
    retrained = _stack(rng, labels, test_labels, n_models, n_classes, scale)
    one = _stack(rng, labels, test_labels, 1, n_classes, scale)
    original = ModelOutputs(**{f.name: getattr(one, f.name)[0] for f in fields(one)})
    return rng, labels, public, unlearned, retrained, original


def _figures(result, part: str) -> dict:
    return result.part(part).model_dump(include=PART_FIGURES)


@EXAMPLES
@given(problems())
def test_a_parts_figures_are_blind_to_the_other_parts_examples(problem):
    rng, labels, public, unlearned, retrained, original = problem
    before = score_outputs(unlearned, retrained, labels, CFG, original=original, public=public)
    for part, other in (("public", ~public), ("private", public)):
        after = score_outputs(
            _changed_on(unlearned, labels, other, rng),
            _changed_on(retrained, labels, other, rng),
            labels,
            CFG,
            original=original,
            public=public,
        )
        assert _figures(after, part) == _figures(before, part), part
        # the other part (and the whole forget set) did change: the test can see a change
        changed = "private" if part == "public" else "public"
        assert _figures(after, changed)["accuracy"] != _figures(before, changed)["accuracy"]


@EXAMPLES
@given(problems())
def test_a_parts_figures_are_computed_on_its_examples(problem):
    _, labels, public, unlearned, retrained, original = problem
    result = score_outputs(unlearned, retrained, labels, CFG, original=original, public=public)
    for part, mask in (("public", public), ("private", ~public)):
        shown = result.part(part)
        right = unlearned.forget_logits[:, mask].argmax(-1) == labels[mask]
        assert shown.accuracy is not None and shown.secondary is not None
        assert np.isclose(shown.accuracy.forget_unlearned, right.mean())
        assert shown.accuracy.test_unlearned == result.accuracy.test_unlearned
        assert (shown.retain_ratio, shown.test_ratio) == (result.retain_ratio, result.test_ratio)
        assert shown.n_test == unlearned.test_loss.shape[1]
        assert set(shown.most_distinguishable) <= set(np.flatnonzero(mask).tolist())
    # over every example, the per-part code gives the whole set's figures
    everything = np.ones(len(labels), bool)
    assert secondary_metrics(unlearned, retrained, labels, original, everything) == (
        secondary_metrics(unlearned, retrained, labels, original)
    )
