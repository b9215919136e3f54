"""Participant code runs in its own process: crashes, hangs and bad outputs fail alone, readably."""

from __future__ import annotations

import os
import textwrap
import time
from pathlib import Path

import pytest
import torch

from harness.platform import ROOT, tiny_config
from worker.ml import artefacts
from worker.ml.evaluation import InvalidOutput, evaluate_returned
from worker.ml.preparation import prepare, spec_for
from worker.ml.problem import build_problem
from worker.pipeline.trials import write_run_data
from worker.sandbox.jail import detect
from worker.sandbox.runner import RunLimits, RunRequest, execute_run

JAIL = detect()  # the real sandbox: tests fail (never skip) where it cannot be built


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    out = tmp_path_factory.mktemp("prepared")
    cfg = tiny_config("sandbox")
    prepare(cfg, out, torch.device("cpu"))
    problem = build_problem(cfg)
    write_run_data(problem, out / "data.safetensors")
    return out, problem, spec_for(cfg, problem)


def _run(
    prepared,
    tmp_path,
    code: str | Path,
    budget: float = 3.0,
    grace: float = 1.0,
    limits: RunLimits | None = None,
    clock: str = "cpu",
):
    out, _, spec = prepared
    if isinstance(code, str):
        path = tmp_path / "submission.py"
        path.write_text(textwrap.dedent(code))
    else:
        path = code
    return execute_run(
        RunRequest(
            code_path=path,
            data_path=out / "data.safetensors",
            weights_path=out / artefacts.ORIGINAL,
            spec={"model": spec, "seed": 1, "batch_size": 16, "device": "cpu", "threads": 1},
            budget_seconds=budget,
            grace_seconds=grace,
            log_path=tmp_path / "run.log",
            clock=clock,
            jail=JAIL,
            limits=limits or RunLimits(),
        )
    )


def test_example_runs_and_its_weights_evaluate(prepared, tmp_path):
    result = _run(prepared, tmp_path, ROOT / "examples" / "finetune.py")
    assert result.outcome == "finished", result
    assert 0 < result.seconds < 3.0
    outputs = evaluate_returned(result.weights_path, prepared[2], prepared[1], torch.device("cpu"))
    assert outputs.forget_logits.shape == (24, 10) and 0 <= outputs.test_acc <= 1


def test_participant_sees_only_the_budget_variable_and_no_test_split(prepared, tmp_path):
    code = """
    import os
    ALLOWED = {"PATH", "HOME", "TMPDIR", "LANG", "PYTHONDONTWRITEBYTECODE", "MALLOC_ARENA_MAX",
               "OMP_NUM_THREADS", "OMP_WAIT_POLICY", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "ARENA_BUDGET_SECONDS",
               "ARENA_CLOCK", "PWD", "LC_CTYPE"}

    def unlearning(net, retain_loader, forget_loader, val_loader):
        extra = set(os.environ) - ALLOWED
        if extra:
            raise RuntimeError(f"platform variables leaked: {sorted(extra)}")
        assert float(os.environ["ARENA_BUDGET_SECONDS"]) == 3.0
        assert os.environ["ARENA_CLOCK"] == "cpu"
        sizes = (len(retain_loader.dataset), len(forget_loader.dataset), len(val_loader.dataset))
        if sizes != (186, 24, 30):
            raise RuntimeError(f"unexpected split sizes {sizes}")
        return net
    """
    os.environ["DATABASE_URL"] = "postgresql://secret@example/db"
    try:
        result = _run(prepared, tmp_path, code)
    finally:
        del os.environ["DATABASE_URL"]
    assert result.outcome == "finished", result.message


def test_work_at_import_is_on_the_clock(prepared, tmp_path):
    """Training at import (before the data arrives) is charged like training in the call."""
    code = """
    import time
    end = time.process_time() + 3.0  # "retrain" at import: longer than budget + grace
    while time.process_time() < end:
        pass

    def unlearning(net, retain_loader, forget_loader, val_loader):
        return net
    """
    result = _run(prepared, tmp_path, code, budget=1.0, grace=0.5)
    assert result.outcome == "timed_out" and result.phase == "import", result
    assert 1.5 <= result.seconds < 2.0, result.seconds
    assert "while importing your file" in result.message and "CPU time" in result.message


def test_a_short_import_is_charged_and_passes(prepared, tmp_path):
    code = """
    import time
    end = time.process_time() + 0.4
    while time.process_time() < end:
        pass

    def unlearning(net, retain_loader, forget_loader, val_loader):
        return net
    """
    result = _run(prepared, tmp_path, code, budget=2.0, grace=0.5)
    assert result.outcome == "finished", result
    assert 0.4 <= result.seconds < 2.0 and result.clock == "cpu"


def test_crash_at_import_is_reported_with_the_participants_traceback(prepared, tmp_path):
    result = _run(prepared, tmp_path, "import numpy\nraise ValueError('bad import ' * 100)\n")
    assert result.outcome == "crashed"
    assert result.message.startswith("Importing your file failed: ValueError\n")
    assert 'File "submission.py", line 2, in <module>' in result.message
    assert "    raise ValueError('bad import ' * 100)" in result.message  # read from the upload
    assert "bad import bad import" not in result.message  # no message text (docs/scoring.md §8)
    assert "arena score-local" in result.message
    assert "sandbox_entry" not in result.message
    log = (tmp_path / "run.log").read_text()
    assert "ValueError: bad import bad import" in log  # organizers read it in full


def test_hanging_run_is_killed_at_budget_plus_grace(prepared, tmp_path):
    code = """
    def unlearning(net, retain_loader, forget_loader, val_loader):
        while True:
            pass
    """
    start = time.monotonic()
    result = _run(prepared, tmp_path, code, budget=1.0, grace=1.0)
    assert result.outcome == "timed_out"
    assert 2.0 <= time.monotonic() - start < 15
    assert 2.0 <= result.seconds < 2.3, result.seconds  # the kill is at most ~0.05 s late
    assert "budget is 1.00 s" in result.message and "CPU time" in result.message


def test_run_between_budget_and_grace_is_over_budget(prepared, tmp_path):
    code = """
    import time

    def unlearning(net, retain_loader, forget_loader, val_loader):
        end = time.process_time() + 1.3
        while time.process_time() < end:
            pass
        return net
    """
    result = _run(prepared, tmp_path, code, budget=1.0, grace=2.0)
    assert (
        result.outcome == "over_budget" and result.seconds > 1.0 and result.weights_path is not None
    )


def test_a_sleeping_import_is_stopped_by_the_wall_backstop(prepared, tmp_path):
    start = time.monotonic()
    result = _run(
        prepared,
        tmp_path,
        "import time\ntime.sleep(30)\ndef unlearning(a, b, c, d):\n    return a\n",
        budget=1.0,
        grace=0.5,
    )
    assert result.outcome == "timed_out" and result.phase == "import", result
    assert "while importing your file" in result.message and "wait at most 3.5 s" in result.message
    assert 3.5 <= time.monotonic() - start < 15


def test_a_sleeping_run_is_stopped_by_the_wall_backstop(prepared, tmp_path):
    code = """
    import time

    def unlearning(net, retain_loader, forget_loader, val_loader):
        time.sleep(60)
        return net
    """
    start = time.monotonic()
    result = _run(prepared, tmp_path, code, budget=1.0, grace=0.5)
    assert result.outcome == "timed_out", result
    assert result.reading.wall >= 3.5 and result.seconds < 1.0  # little CPU, much waiting
    assert time.monotonic() - start < 15


def test_the_wall_clock_counts_waiting(prepared, tmp_path):
    code = """
    import time

    def unlearning(net, retain_loader, forget_loader, val_loader):
        time.sleep(1.3)
        return net
    """
    result = _run(prepared, tmp_path, code, budget=1.0, grace=2.0, clock="wall")
    assert result.outcome == "over_budget" and result.clock == "wall", result
    assert "wall time" in result.message


@pytest.mark.parametrize(
    ("body", "outcome", "fragment"),
    [
        ("return 42", "invalid_output", "must return the model"),
        ("import sys; sys.exit(3)", "crashed", "SystemExit"),
        ("import os, signal; os.kill(os.getpid(), signal.SIGKILL)", "crashed", "killed by SIGKILL"),
        ("import os; os._exit(3)", "crashed", "code 3 and no error report"),
        ("import os; os._exit(0)", "invalid_output", "No returned weights"),
    ],
)
def test_bad_endings_fail_readably(prepared, tmp_path, body, outcome, fragment):
    code = f"def unlearning(net, retain_loader, forget_loader, val_loader):\n    {body}\n"
    result = _run(prepared, tmp_path, code)
    assert result.outcome == outcome, result
    assert fragment in result.message


def test_wrong_architecture_is_invalid_output(prepared, tmp_path):
    code = """
    import torch

    def unlearning(net, retain_loader, forget_loader, val_loader):
        return torch.nn.Linear(3, 2)
    """
    result = _run(prepared, tmp_path, code)
    assert result.outcome == "finished"
    with pytest.raises(InvalidOutput, match="do not fit the original architecture"):
        evaluate_returned(result.weights_path, prepared[2], prepared[1], torch.device("cpu"))


def test_nan_weights_are_invalid_output(prepared, tmp_path):
    code = """
    import torch

    def unlearning(net, retain_loader, forget_loader, val_loader):
        with torch.no_grad():
            for p in net.parameters():
                p.fill_(float("nan"))
        return net
    """
    result = _run(prepared, tmp_path, code)
    with pytest.raises(InvalidOutput, match="NaN"):
        evaluate_returned(result.weights_path, prepared[2], prepared[1], torch.device("cpu"))


def test_processes_started_by_the_participant_do_not_outlive_the_run(prepared, tmp_path):
    code = """
    import subprocess

    def unlearning(net, retain_loader, forget_loader, val_loader):
        subprocess.Popen(["sleep", "987.654"], start_new_session=True)
        return net
    """
    result = _run(prepared, tmp_path, code)
    assert result.outcome == "finished", result.message
    time.sleep(0.2)
    survivors = [
        p
        for p in Path("/proc").iterdir()
        if p.name.isdigit() and _cmdline(p) == b"sleep\x00987.654\x00"
    ]
    assert not [p for p in survivors if _alive(int(p.name))]


def _cmdline(proc: Path) -> bytes:
    try:
        return (proc / "cmdline").read_bytes()
    except OSError:
        return b""


def _alive(pid: int) -> bool:
    """Running (a killed process may linger as a zombie until its new parent reaps it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


def test_the_output_directory_is_a_capped_tmpfs(prepared, tmp_path):
    code = (
        "import os, time\n"
        "def unlearning(net, retain_loader, forget_loader, val_loader):\n"
        "    for i in range(100):\n"
        "        with open(f'/sandbox/out/junk{i}', 'wb') as fh:\n"
        "            fh.write(b'x' * (4 << 20))\n"
        "    time.sleep(5)\n"
        "    return net\n"
    )
    start = time.monotonic()
    result = _run(prepared, tmp_path, code, budget=8.0, limits=RunLimits(tmp_bytes=32 << 20))
    assert result.outcome == "crashed" and result.message.startswith(
        "unlearning() raised an exception: OSError"
    ), result.message
    assert time.monotonic() - start < 8  # refused at the cap, not after the sleep
    assert "No space left on device" in (tmp_path / "run.log").read_text()


@pytest.mark.parametrize(
    "name",
    ["identity", "finetune", "retrain", "neggrad_plus", "random_labels", "scrub", "lotus", "ssd"],
)
def test_every_baseline_runs_in_the_sandbox_and_returns_a_valid_model(prepared, tmp_path, name):
    result = _run(
        prepared, tmp_path, ROOT / "examples" / f"{name}.py", budget=10.0
    )  # loaded CI box
    assert result.outcome == "finished", result.message
    outputs = evaluate_returned(result.weights_path, prepared[2], prepared[1], torch.device("cpu"))
    assert outputs.retain_acc > 0.5  # still a working classifier


def test_the_notebook_baseline_runs_like_its_py_twin(prepared, tmp_path):
    from worker.pipeline.trials import runnable_code

    script = runnable_code(ROOT / "examples" / "finetune.ipynb", tmp_path)
    result = _run(prepared, tmp_path, script)
    assert result.outcome == "finished", result.message


def test_only_the_workers_gpu_is_bound_into_the_jail():
    from worker.sandbox.jail import gpu_devices

    nodes = ("/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", "/dev/nvidia0", "/dev/nvidia1",
             "/dev/nvidia2", "/dev/nvidia10", "/dev/nvidiactl", "/dev/nvidia-modeset")  # fmt: skip
    control = ("/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", "/dev/nvidiactl", "/dev/nvidia-modeset")
    assert set(gpu_devices(nodes, "1")) == {*control, "/dev/nvidia1"}
    assert set(gpu_devices(nodes, "2,10")) == {*control, "/dev/nvidia2", "/dev/nvidia10"}
    assert gpu_devices(nodes, None) == nodes  # a worker given no GPU of its own: as before
    assert gpu_devices(nodes, "GPU-8f3a") == nodes  # UUIDs are not device numbers


def test_a_directory_flood_is_capped_and_the_kill_is_on_time(prepared, tmp_path):
    code = """
    import os

    def unlearning(net, retain_loader, forget_loader, val_loader):
        made = 0
        for i in range(1_000_000):  # a million empty files: the tmpfs has 65,536 inodes
            try:
                open(f"/sandbox/out/f{i}", "w").close()
                made += 1
            except OSError:
                break
        print("made", made, flush=True)
        while True:
            pass
    """
    start = time.monotonic()
    result = _run(prepared, tmp_path, code, budget=3.0, grace=1.0)
    assert result.outcome == "timed_out", result
    assert result.seconds < 4.0 + 0.5, result.seconds  # killed at budget + grace, not later
    made = int((tmp_path / "run.log").read_text().split("made ")[1].split()[0])
    assert 60_000 < made < 65_536  # the inode cap, not a million
    assert time.monotonic() - start < 30


def test_one_sandboxs_threads_do_not_count_against_anothers(prepared, tmp_path):
    """Every sandbox runs as the same user: with a pids cgroup per sandbox, a tenant holding
    ~240 threads leaves the others free to start theirs."""
    import threading

    from worker.sandbox import cgroups

    if cgroups.detect().version is None:
        pytest.fail("no cgroups on this machine: the per-sandbox process limit is not in force")
    hog = """
    import threading, time
    stop = threading.Event()

    def unlearning(net, retain_loader, forget_loader, val_loader):
        for _ in range(240):
            threading.Thread(target=stop.wait, daemon=True).start()
        time.sleep(6)
        return net
    """
    worker_code = """
    import threading

    def unlearning(net, retain_loader, forget_loader, val_loader):
        threads = [threading.Thread(target=lambda: None) for _ in range(100)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return net
    """
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    held = {}
    first = threading.Thread(
        target=lambda: held.update(r=_run(prepared, tmp_path / "a", hog, budget=10.0))
    )
    first.start()
    time.sleep(3.0)  # its threads are up
    other = _run(prepared, tmp_path / "b", worker_code, budget=10.0)
    first.join()
    assert held["r"].outcome == "finished", held["r"]
    assert other.outcome == "finished", other.message


def test_without_cgroups_shared_memory_still_counts(prepared, tmp_path):
    """The weaker path (a worker that is not root on a v1 machine): the watchdog adds the
    run's tmpfs, SysV and memfd memory, reported by its supervisor, to the process tree's."""
    code = ROOT / "tests" / "hostile" / "memory_hog_shared.py"
    start = time.monotonic()
    limits = RunLimits(memory_bytes=1536 << 20, cgroup=False)
    result = _run(prepared, tmp_path, code, budget=30.0, limits=limits)
    assert result.outcome == "out_of_memory", result
    assert time.monotonic() - start < 25  # the watchdog, not the budget, stopped it


def _zip_submission(tmp_path: Path, files: dict[str, str]) -> Path:
    import zipfile

    from worker.pipeline.trials import runnable_code

    path = tmp_path / "method.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, textwrap.dedent(text))
    return runnable_code(path, tmp_path / "work")


def test_a_zip_runs_its_entry_with_helpers_packages_and_data_files(prepared, tmp_path):
    entry = _zip_submission(
        tmp_path,
        {
            "main.py": """
            import os
            import helpers
            from tools.scale import factor
            SCALE = float(open(os.path.join(os.path.dirname(__file__), "scale.txt")).read())

            def unlearning(net, retain_loader, forget_loader, val_loader):
                assert factor() == SCALE == 1.0
                return helpers.same(net)
            """,
            "helpers.py": "def same(net):\n    return net\n",
            "tools/__init__.py": "",
            "tools/scale.py": "def factor():\n    return 1.0\n",
            "scale.txt": "1.0",
        },
    )
    result = _run(prepared, tmp_path, entry)
    assert result.outcome == "finished", result.message


def test_a_crash_in_a_helper_shows_the_helpers_frames_and_type(prepared, tmp_path):
    entry = _zip_submission(
        tmp_path,
        {
            "main.py": """
            from helpers import explode

            def unlearning(net, retain_loader, forget_loader, val_loader):
                return explode(net)
            """,
            "helpers.py": """
            class Boom(Exception):
                pass

            def explode(net):
                raise Boom("secret " * 10)
            """,
        },
    )
    result = _run(prepared, tmp_path, entry)
    assert result.outcome == "crashed"
    assert result.message.startswith("unlearning() raised an exception: helpers.Boom\n"), (
        result.message
    )
    assert 'File "main.py", line 5, in unlearning' in result.message
    assert 'File "helpers.py", line 6, in explode' in result.message
    assert (
        '    raise Boom("secret " * 10)' in result.message and "secret secret" not in result.message
    )


def test_an_import_never_sees_the_data_of_the_run_before(prepared, tmp_path):
    """Runs of one warm sandbox: the run directory is emptied before the next import."""
    from worker.sandbox.jail import SANDBOX_ROOT
    from worker.sandbox.runner import Sandbox

    path = tmp_path / "look.py"
    path.write_text(
        "import os\n"
        f"print('AT IMPORT', sorted(os.listdir('{SANDBOX_ROOT}/run')), flush=True)\n"
        "def unlearning(net, retain_loader, forget_loader, val_loader):\n    return net\n"
    )
    out, _, spec = prepared

    def request(i: int) -> RunRequest:
        return RunRequest(
            code_path=path,
            data_path=out / "data.safetensors",
            weights_path=out / artefacts.ORIGINAL,
            spec={"model": spec, "seed": i, "batch_size": 16, "device": "cpu", "threads": 1},
            budget_seconds=3.0,
            grace_seconds=1.0,
            log_path=tmp_path / f"run-{i}.log",
            jail=JAIL,
        )

    with Sandbox(path, JAIL, RunLimits(), request(0)) as box:
        for i in range(3):
            assert box.run(request(i)).outcome == "finished"
            assert "AT IMPORT []" in (tmp_path / f"run-{i}.log").read_text()


def test_a_returned_file_larger_than_the_model_is_not_copied_out(prepared, tmp_path):
    """A sparse 1 GiB file in the output costs the run nothing: it is refused before the copy."""
    code = """
    import sys

    def _sparse(tensors, path, *a, **k):  # the runner's own writer, replaced from the upload
        with open(path, "wb") as fh:
            fh.truncate(1 << 30)

    def unlearning(net, retain_loader, forget_loader, val_loader):
        sys.modules["worker.sandbox.entry"].save_file = _sparse
        return net
    """
    result = _run(prepared, tmp_path, code)
    assert result.outcome == "invalid_output", result
    assert "larger than twice the original" in result.message
