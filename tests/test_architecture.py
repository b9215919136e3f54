"""The shape of the code, checked: who imports whom, who changes a status, who reads a stored
result by key, and how large a module or a function may grow (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from core import state
from core.models import (
    Base,
    ChunkKind,
    ChunkStatus,
    Competition,
    CompetitionStatus,
    PrivateStage,
    Submission,
    SubmissionStatus,
    User,
    WorkChunk,
)

ROOT = Path(__file__).resolve().parent.parent
APPLICATION = ("core", "server", "worker", "scoring", "cli")
SIZED = (*APPLICATION, "bench", "harness")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def _modules(*packages: str) -> list[Path]:
    return sorted(p for pkg in packages for p in (ROOT / pkg).rglob("*.py"))


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def _imported_packages(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


FORBIDDEN_IMPORTS = {
    "core": {"server", "worker", "cli", "fastapi"},
    "server": {"worker", "cli"},
    "worker": {"server", "cli", "fastapi"},
    "scoring": {"core", "server", "worker", "cli", "fastapi", "sqlalchemy", "celery"},
    "bench": {"tests"},
    "harness": {"tests"},
}


@pytest.mark.parametrize("package", sorted(FORBIDDEN_IMPORTS))
def test_import_graph(package: str) -> None:
    """core is shared and imports neither process; server and worker never import each
    other; scoring is pure; benches (and the harness they share with the tests) import no
    test module."""
    offenders = {
        str(p.relative_to(ROOT)): sorted(_imported_packages(p) & FORBIDDEN_IMPORTS[package])
        for p in _modules(package)
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def _sized_modules() -> list[Path]:
    """The modules the size limits apply to: the compiled kernels are excepted."""
    return [
        p
        for p in _modules(*SIZED)
        if not (
            p.parent.name == "scoring" and p.name.startswith("_") and p.name.endswith("_kernel.py")
        )
    ]


def test_sizes_stay_small() -> None:
    """No module over 400 lines and no function over 60 (the compiled kernels excepted)."""
    too_long = []
    for path in _sized_modules():
        rel = path.relative_to(ROOT)
        lines = path.read_text().count("\n")
        if lines > MAX_MODULE_LINES:
            too_long.append(f"{rel}: {lines} lines")
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    too_long.append(f"{rel}:{node.lineno} {node.name}(): {length} lines")
    assert too_long == []


STATUS_COLUMNS = {"status", "private_stage"}


def _status_writes(path: Path) -> list[str]:
    """Assignments to ``x.status``/``x.private_stage`` and ``.values(status=...)`` updates."""
    found = []
    for node in ast.walk(_tree(path)):
        targets = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        for target in targets:
            if isinstance(target, ast.Attribute) and target.attr in STATUS_COLUMNS:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "values"
            and any(k.arg in STATUS_COLUMNS for k in node.keywords)
        ):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_status_changes_only_in_the_state_module() -> None:
    state_package = ROOT / "core" / "state"
    writes = [
        w
        for p in _modules(*APPLICATION)
        if state_package not in p.parents
        for w in _status_writes(p)
    ]
    assert writes == []


def _result_like(node: ast.AST) -> bool:
    name = node.id if isinstance(node, ast.Name) else getattr(node, "attr", "")
    return isinstance(name, str) and (name == "result" or name.endswith("_result"))


def test_stored_results_are_read_through_the_schema() -> None:
    """No ``result["key"]`` or ``result.get("key")`` outside core/results.py."""
    schema = ROOT / "core" / "results.py"
    found = []
    for path in _modules(*APPLICATION, "bench"):
        if path == schema:
            continue
        for node in ast.walk(_tree(path)):
            keyed = (
                isinstance(node, ast.Subscript)
                and isinstance(node.slice, ast.Constant)
                and isinstance(node.slice.value, str)
                and _result_like(node.value)
            )
            got = (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "get"
                and _result_like(node.func.value)
            )
            if keyed or got:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert found == []


def test_the_checks_find_what_they_look_for(tmp_path: Path) -> None:
    """The AST checks above are not vacuous: each flags a planted example."""
    planted = tmp_path / "planted.py"
    planted.write_text(
        "sub.status = 'x'\nq.values(private_stage=1)\nresult['score']\nboard_result.get('a')\n"
    )
    global ROOT
    old, ROOT = ROOT, tmp_path
    try:
        assert len(_status_writes(planted)) == 2
        tree = _tree(planted)
        subs = [n for n in ast.walk(tree) if isinstance(n, ast.Subscript) and _result_like(n.value)]
        gets = [
            n
            for n in ast.walk(tree)
            if isinstance(n, ast.Call)
            and isinstance(n.func, ast.Attribute)
            and _result_like(n.func.value)
        ]
        assert len(subs) == 1 and len(gets) == 1
    finally:
        ROOT = old


# --- the state machine ----------------------------------------------------------------------


def test_every_table_knows_every_state() -> None:
    for (model, column), table in state.TRANSITIONS.items():
        enum = type(next(k for k in table if k is not None))
        assert set(enum) <= set(table), (model.__name__, column)
        for targets in table.values():
            assert targets <= set(enum)


@pytest.fixture()
def session():
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with Session(engine) as s:
        user = User(username="u", password_hash="x")
        comp = Competition(slug="c", title="c", config={}, status=state.initial(Competition))
        s.add_all([user, comp])
        s.flush()
        yield s, user, comp


def _submission(s, user, comp, status, private=None) -> Submission:
    sub = Submission(
        competition_id=comp.id,
        user_id=user.id,
        filename="m.py",
        kind="py",
        sha256="0" * 64,
        size_bytes=1,
        n_models=1,
        status=status,
        private_stage=private,
    )
    s.add(sub)
    s.flush()
    return sub


@pytest.mark.parametrize("frm", list(SubmissionStatus))
@pytest.mark.parametrize("to", list(SubmissionStatus))
def test_submission_transitions_walk_the_table(session, frm, to) -> None:
    """Every allowed move happens (once: a second try finds the row moved); every other one
    is refused before it touches the database."""
    s, user, comp = session
    sub = _submission(s, user, comp, frm)
    where = [Submission.id == sub.id]
    if state.allowed(Submission, "status", frm, to):
        assert state.move(s, Submission, "status", where, frm=[frm], to=to) == 1
        assert s.scalar(select(Submission.status).where(*where)) == to
        if frm != to:
            assert state.move(s, Submission, "status", where, frm=[frm], to=to) == 0
    else:
        with pytest.raises(state.IllegalTransition):
            state.move(s, Submission, "status", where, frm=[frm], to=to)
        assert s.scalar(select(Submission.status).where(*where)) == frm


def test_forbidden_moves_are_refused(session) -> None:
    s, user, comp = session
    scored = _submission(s, user, comp, SubmissionStatus.SCORED, PrivateStage.SCORED)
    cancelled = _submission(s, user, comp, SubmissionStatus.CANCELLED)
    for sub, column, to in (
        (cancelled, "status", SubmissionStatus.RUNNING),  # a cancel is final
        (cancelled, "status", SubmissionStatus.SCORED),
        (scored, "private_stage", PrivateStage.RUNNING),  # a private stage scores once
    ):
        with pytest.raises(state.IllegalTransition):
            state.change(sub, column, to)
    with pytest.raises(state.IllegalTransition):
        state.move(
            s,
            Competition,
            "status",
            [Competition.id == comp.id],
            frm=[CompetitionStatus.DRAFT],
            to=CompetitionStatus.OPEN,  # never open without being prepared
        )


def test_named_transitions_are_conditional(session) -> None:
    """Two workers racing for one submission: the claim and the finish happen once; a
    cancelled submission is never failed or scored afterwards."""
    s, user, comp = session
    sub = _submission(s, user, comp, SubmissionStatus.QUEUED)
    assert state.claim_submission(s, sub.id, "w1") is True
    assert state.claim_submission(s, sub.id, "w2") is False
    assert state.cancel_submission(s, sub.id, SubmissionStatus.RUNNING, "Cancelled.") is True
    from core.models import FailureReason

    assert state.fail_submission(s, sub.id, FailureReason.CRASHED, "x", counts=True) is False
    assert state.finish_submission(s, sub.id, score=1.0) is False
    s.expire_all()
    assert s.get(Submission, sub.id).status == SubmissionStatus.CANCELLED

    picked = _submission(s, user, comp, SubmissionStatus.SCORED)
    assert state.queue_private_stage(picked) is True
    assert state.queue_private_stage(picked) is False  # queued already
    s.flush()
    assert state.claim_private_stage(s, picked.id) is True
    assert state.fail_private_stage(s, picked.id, "lost") is True
    assert state.finish_private_stage(s, picked.id) is False
    s.expire_all()
    assert s.get(Submission, picked.id).private_stage == PrivateStage.FAILED

    chunk = WorkChunk(
        kind=ChunkKind.RUNS,
        competition_id=comp.id,
        submission_id=sub.id,
        start=0,
        stop=1,
        hardware_class="cpu",
        status=state.initial(WorkChunk),
    )
    s.add(chunk)
    s.flush()
    assert state.claim_chunk(s, chunk.id, "w1") and not state.claim_chunk(s, chunk.id, "w2")
    assert state.finish_chunk(s, [WorkChunk.id == chunk.id], ChunkStatus.DONE)
    assert not state.requeue_chunk(s, [WorkChunk.id == chunk.id])  # done is final


def report() -> dict[str, object]:
    """The figures these tests hold: sizes, and imports between the packages."""
    modules = _sized_modules()
    functions = [
        (node.end_lineno or node.lineno) - node.lineno + 1
        for p in modules
        for node in ast.walk(_tree(p))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    ]
    imports: dict[str, int] = {}
    for package in (*APPLICATION, "bench"):
        for p in _modules(package):
            for target in _imported_packages(p) & {*APPLICATION, "harness", "tests"} - {package}:
                key = f"{package} -> {target}"
                imports[key] = imports.get(key, 0) + 1
    lines = [p.read_text().count("\n") for p in modules]
    return {
        "modules": len(modules),
        "largest_module_lines": max(lines),
        "modules_over_400_lines": sum(n > MAX_MODULE_LINES for n in lines),
        "functions": len(functions),
        "longest_function_lines": max(functions),
        "functions_over_60_lines": sum(n > MAX_FUNCTION_LINES for n in functions),
        "imports_between_packages": dict(sorted(imports.items())),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(report(), indent=1))
