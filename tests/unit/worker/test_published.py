"""What leaves a run on hidden data (docs/security.md): its status, its time at the published
precision, and the score. Whatever a run that has seen its data writes to any channel it can
reach (an exception's type, message and frames, its exit code, a signal, what it returns), the
published message is its outcome's fixed text. The same code on public data (the diagnostic
run) keeps its full message."""

from __future__ import annotations

import signal

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.platform import tiny_config
from worker.ml.preparation import prepare
from worker.ml.problem import build_problem
from worker.pipeline.diagnostic import run_diagnostic, synthetic_problem
from worker.pipeline.published import FIXED
from worker.pipeline.trials import make_setup, open_runner, run_trial
from worker.sandbox.jail import detect

JAIL = detect()

CHANNELS = {
    # raised after the data arrived: a class named after the bits, a message, frames whose
    # function names and line numbers carry them
    "type": "    raise type('E{bits}', (Exception,), {{}})('{bits}')\n",
    "frames": "    def f{bits}():\n        raise ValueError('{bits}')\n    f{bits}()\n",
    "exit_code": "    import os\n    os._exit(int('{bits}', 16) % 250 + 3)\n",
    "signal": "    import os\n    os.kill(os.getpid(), [9, 11, 6, 8, 15][int('{bits}', 16) % 5])\n",
    "state_dict": "    import torch\n    return {{'w{bits}': torch.zeros(int('{bits}', 16) % 97 + 1)}}\n",
    "import_error": "    import importlib\n    importlib.import_module('m{bits}')\n",
    "not_a_model": "    return '{bits}'\n",
}


@pytest.fixture(scope="module")
def competition(tmp_path_factory):
    out = tmp_path_factory.mktemp("published")
    cfg = tiny_config("published")
    prepare(cfg, out, torch.device("cpu"))
    return cfg, build_problem(cfg), out


def _setup(competition, work, hidden=True):
    cfg, problem, out = competition
    return make_setup(
        cfg, problem, out, work, device=torch.device("cpu"), threads=1, budget_seconds=5.0,
        jail=JAIL, hidden_data=hidden,
    )  # fmt: skip


def _code(tmp_path, channel: str, bits: str):
    path = tmp_path / "probe.py"
    path.write_text(
        "def unlearning(net, retain_loader, forget_loader, val_loader):\n"
        "    labels = [int(y) for _, ys in forget_loader for y in ys]  # it has seen the data\n"
        + CHANNELS[channel].format(bits=bits)
    )
    return path


@pytest.mark.parametrize("channel", sorted(CHANNELS))
@settings(max_examples=1, deadline=None)
@given(bits=st.text(alphabet="0123456789abcdef", min_size=6, max_size=6))
def test_a_run_that_saw_the_data_cannot_choose_its_published_message(
    competition, tmp_path_factory, channel, bits
):
    tmp_path = tmp_path_factory.mktemp("probe")
    setup = _setup(competition, tmp_path / "work")
    code = _code(tmp_path, channel, bits)
    with open_runner(setup, code) as runner:
        result = run_trial(setup, runner, 1, tmp_path / "run.log", tmp_path / "out.npz")
    assert result.outcome in ("crashed", "invalid_output", "out_of_memory"), result
    assert result.message == FIXED[result.outcome], result.message
    assert bits not in result.message
    for number in (int(bits, 16) % 250 + 3, *(s.value for s in signal.Signals)):
        assert f" {number}" not in result.message


@settings(max_examples=1, deadline=None)
@given(bits=st.text(alphabet="0123456789abcdef", min_size=6, max_size=6))
def test_an_import_failure_of_a_hidden_run_is_not_published_either(
    competition, tmp_path_factory, bits
):
    """At import a run has no data of its own, but an earlier run's can reach it through what
    the host shares (its page cache): the module name it fails on is not shown."""
    tmp_path = tmp_path_factory.mktemp("import")
    setup = _setup(competition, tmp_path / "work")
    code = tmp_path / "probe.py"
    code.write_text(f"import importlib\nimportlib.import_module('m{bits}')\n")
    with open_runner(setup, code) as runner:
        result = run_trial(setup, runner, 1, tmp_path / "run.log", tmp_path / "out.npz")
    assert result.outcome == "crashed" and result.phase == "import", result
    assert result.message == FIXED["crashed"] and bits not in result.message


def test_the_same_failure_on_public_data_is_shown_in_full(competition, tmp_path):
    setup = _setup(competition, tmp_path / "work")
    code = _code(tmp_path, "type", "c0ffee")
    (tmp_path / "work").mkdir(parents=True, exist_ok=True)
    with open_runner(setup, code) as runner:
        hidden = run_trial(setup, runner, 1, tmp_path / "run.log", tmp_path / "out.npz")
        public = run_diagnostic(setup, runner, tmp_path / "work", tmp_path / "diag.log")
    assert hidden.message == FIXED["crashed"]
    assert public.outcome == "crashed" and "Ec0ffee" in public.message, public.message
    assert "c0ffee" in (tmp_path / "diag.log").read_text()  # its log: the author's to read


def test_the_diagnostic_data_share_only_shapes_with_the_hidden_data(competition):
    _, problem, _ = competition
    fake = synthetic_problem(problem)
    for split in ("retain", "forget", "val", "test"):
        real, made = getattr(problem, split), getattr(fake, split)
        assert made.x.shape == real.x.shape and made.y.shape == real.y.shape
        assert not torch.equal(made.x, real.x)
        assert int(made.y.max()) < problem.n_classes
