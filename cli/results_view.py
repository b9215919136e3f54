"""How the CLI shows a submission's result, and a local scoring's progress, failure and result."""

from __future__ import annotations

from contextlib import contextmanager

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cli.common import console, err, styled


def show_result(sub: dict) -> None:
    if sub["status"] == "scored":
        table = Table(title=f"Submission {sub['id']} scored")
        cols = ("score", "95% interval", "F", "retain ratio", "test ratio", "runs", "run time")
        for col in (*cols, "device time"):
            table.add_column(col)
        ci = sub.get("score_ci") or [None, None]
        table.add_row(
            f"{sub['score']:.4f}",
            f"[{ci[0]:.4f}, {ci[1]:.4f}]" if ci[0] is not None else "",
            f"{sub['forgetting_quality']:.4f}",
            f"{sub['retain_ratio']:.4f}",
            f"{sub['test_ratio']:.4f}",
            f"{sub['runs_done']}/{sub['n_models']}",
            f"{sub['elapsed_seconds']:.1f} s" if sub.get("elapsed_seconds") else "",
            f"{sub['device_seconds']:.1f} s" if sub.get("device_seconds") else "",
        )
        console.print(table)
    elif sub["status"] == "failed":
        err.print(f"Submission {sub['id']} failed ({sub['failure_reason']})", style="red")
        err.print(sub.get("failure_message") or "")
        if not sub.get("counts_against_quota", True):
            err.print("(this failure does not count against your quota)")
    else:
        spent = f", {sub['device_seconds']:.1f} device-seconds" if sub.get("device_seconds") else ""
        console.print(
            f"Submission {sub['id']}: {sub['status']} "
            f"({sub['runs_done']}/{sub['n_models']} runs{spent})"
        )


@contextmanager
def local_progress():
    """A progress bar per stage of a local scoring (original, references, runs)."""
    labels = {
        "original": "training the original model",
        "references": "training reference models",
        "runs": "running your unlearning",
    }
    label = TextColumn("{task.description}", style="bold", markup=False)
    columns = (label, BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeElapsedColumn(), console=err, transient=True) as bar:
        tasks: dict[str, int] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(labels.get(stage, stage), total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield progress


def show_local_failure(local) -> None:
    """The failure, then the failing run's log: on public data its full message may be shown."""
    from worker.sandbox.failure_report import WHERE_THE_MESSAGE_IS  # here the log follows instead

    message = local.failure[1].replace("\n" + WHERE_THE_MESSAGE_IS, "")
    err.print(styled((f"failed ({local.failure[0]})", "red"), f"\n{message}"))
    failed_log = local.log_dir / f"run-{len(local.runs) - 1:05d}.log"
    if failed_log.is_file():
        text = failed_log.read_text(errors="replace")
        err.print(
            styled("\n", ("The run's log", "bold"), f" ({failed_log}, last 4000 characters):")
        )
        err.print(text[-4000:])


def show_local_result(local, n_models: int) -> None:
    r = local.result
    show_result(
        {
            "id": "local",
            "status": "scored",
            "score": r.score,
            "score_ci": r.score_ci,
            "forgetting_quality": r.forgetting_quality,
            "retain_ratio": r.retain_ratio,
            "test_ratio": r.test_ratio,
            "runs_done": len(local.runs),
            "n_models": n_models,
            "elapsed_seconds": sum(x.seconds or 0 for x in local.runs),
        }
    )
    sec = r.secondary
    console.print(
        f"MIA {sec.mia:.3f} (retrained: {sec.mia_target:.3f}) · avg gap {sec.avg_gap:.4f} · "
        f"RF-JSD×10⁴ {sec.rf_jsd_x1e4:.2f} · JSD to retrained×10⁴ {sec.jsd_to_retrained_x1e4:.2f}"
    )
    hist = r.epsilon_histogram.model_dump()
    console.print("ε histogram (examples per bucket): " + histogram_text(hist))


def histogram_text(hist: dict) -> str:
    edges, counts = hist["edges"], hist["counts"]
    parts = [f"[{lo:g},{hi:g}):{c}" for lo, hi, c in zip(edges, edges[1:], counts, strict=False)]
    parts.append(f"≥{edges[-1]:g}:{counts[-1]}")
    return "  ".join(parts)
