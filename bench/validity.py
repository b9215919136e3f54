"""What the validity report costs on the demo: the demo prepared inline (512 references, as
`make demo` seeds it) with the report computed at its end, then a few example methods scored and
the competition closed (the report with the boards' agreement), then a rescoring (which
refreshes it). Prints the report's figures and, last, one JSON object: the preparation's time,
the report's time and their ratio (target: the report adds at most 20%), the report's time at
the close and the rescoring's time with it.

    python bench/validity.py [--methods identity,finetune,random_labels] [--var DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _args() -> argparse.Namespace:
    ap = argparse.ArgumentParser()
    ap.add_argument("--methods", default="identity,finetune,random_labels")
    ap.add_argument("--var", default=None, help="var dir (default: a fresh temporary one)")
    ap.add_argument(
        "--baselines", default="", help="validity.baselines to score at preparation (a,b)"
    )
    return ap.parse_args()


def main() -> None:
    args = _args()
    os.environ["ARENA_VAR_DIR"] = args.var or tempfile.mkdtemp(prefix="bench-validity-")
    for name in ("DATABASE_URL", "BROKER_URL", "ARENA_DATABASE_URL", "ARENA_BROKER_URL"):
        os.environ.pop(name, None)

    from core.db import session_scope
    from core.models import Competition, CompetitionStatus
    from core.settings import get_settings
    from core.validity import load_validity
    from worker.jobs.prepare import run_preparation
    from worker.jobs.rescore import run_rescoring
    from worker.jobs.validity import run_validity

    settings = get_settings()
    baselines = [b for b in args.baselines.split(",") if b]
    comp_id, user_id = _seed(settings, baselines)
    start = time.perf_counter()
    run_preparation(comp_id, settings, inline=True)
    preparation = time.perf_counter() - start
    with session_scope() as s:
        comp = s.get(Competition, comp_id)
        at_preparation = load_validity(comp.validity)
        baseline_s = float((comp.reference_summary or {}).get("baseline_device_seconds") or 0.0)
        prep_device_s = comp.preparation_device_seconds
    assert at_preparation is not None, "no report after the preparation"

    for method in args.methods.split(","):
        _score(comp_id, user_id, method, settings)
    with session_scope() as s:
        s.get(Competition, comp_id).status = CompetitionStatus.CLOSED
    close_seconds = run_validity(comp_id, settings, "close")
    start = time.perf_counter()
    run_rescoring(comp_id, settings)
    rescoring = time.perf_counter() - start
    with session_scope() as s:
        report = load_validity(s.get(Competition, comp_id).validity)
    assert report is not None
    _show(report)
    report_s = at_preparation.seconds
    figures = {
        "preparation_s_with_report": round(preparation, 2),
        "report_at_preparation_s": round(report_s, 3),
        "report_over_rest_of_preparation": round(
            report_s / (preparation - report_s - baseline_s), 4
        ),
        "baselines": baselines,
        "baselines_device_s": round(baseline_s, 2),
        "preparation_device_s": round(prep_device_s, 2),
        "report_at_close_s": round(close_seconds or float("nan"), 3),
        "entries": len(args.methods.split(",")),
        "rescoring_s_with_report": round(rescoring, 2),
        "report_at_rescoring_s": round(report.seconds, 3),
        "cpu_cores": len(os.sched_getaffinity(0)),
    }
    print(json.dumps(figures))


def _seed(settings, baselines: list[str]) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """The demo competition (not prepared yet, with these baselines) and a user to submit as,
    in a fresh database."""
    from core.db import session_scope
    from core.migrate import upgrade_database
    from core.models import User
    from server.security import hash_password
    from server.services.platform import seed_demo

    settings.ensure_dirs()
    upgrade_database(settings.sqlalchemy_url)
    with session_scope() as s:
        comp = seed_demo(s)
        comp.config = {
            **comp.config,
            "validity": {**comp.config.get("validity", {}), "baselines": baselines},
        }
        user = User(username="bench", password_hash=hash_password("x" * 10))
        s.add(user)
        s.flush()
        return comp.id, user.id


def _score(comp_id: int, user_id: int, method: str, settings) -> None:  # type: ignore[no-untyped-def]
    from harness.jobs import stored_submission
    from worker.jobs.score import run_scoring

    content = (ROOT / "examples" / f"{method}.py").read_bytes()
    sid = stored_submission(
        comp_id, user_id, content, n_models=64, filename=f"{method}.py", method_name=method
    )
    start = time.perf_counter()
    run_scoring(sid, settings, inline=True)
    print(f"{method}: scored in {time.perf_counter() - start:.1f} s", flush=True)


def _show(report) -> None:  # type: ignore[no-untyped-def]
    for n in report.nulls:
        print(
            f"null {n.board}: N = {n.n_models}, {n.n_per_side} vs {n.n_per_side}, "
            f"{n.n_examples} examples, {n.splits} splits: mean {n.mean:.4f}, 95% "
            f"[{n.low:.4f}, {n.high:.4f}], the board's retrain row {n.board_row}"
        )
    if report.planner:
        print(f"planner sd by N: {report.planner.sd_by_n}, exponent {report.planner.exponent}")
        for row in report.planner.rows:
            print(f"  difference {row.difference}: N = {row.n_models}, "
                  f"{row.submission_device_seconds} s per submission, "
                  f"{row.preparation_device_seconds} s of references")  # fmt: skip
    for a in report.agreements:
        print(f"{a.title}: tau {a.tau} [{a.low}, {a.high}] n={a.n_entries} {a.note or ''}")
        for sw in a.swings:
            print(f"  {sw.label}: {sw.rank_a} -> {sw.rank_b}")
    for c in report.correlations:
        print(f"{c.metric} vs {c.against}: rho {c.rho} (n={c.n})")


if __name__ == "__main__":
    main()
