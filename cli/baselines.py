"""`arena baselines run`: score the reference methods in examples/ through the real platform."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from pathlib import Path

from cli.client import ArenaClient

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
#: name → file, in the order they are submitted
BASELINES = {
    "identity": "identity.py",
    "fine-tune": "finetune.py",
    "NegGrad+": "neggrad_plus.py",
    "random labels": "random_labels.py",
    "SCRUB": "scrub.py",
    "LoTUS": "lotus.py",
    "SSD": "ssd.py",
    "retrain": "retrain.py",
}


def row_of(name: str, sub: dict) -> dict:
    seconds = [r["seconds"] for r in sub.get("runs", []) if r.get("seconds") is not None]
    row = {"method": name, "status": sub["status"], "id": sub["id"]}
    if sub["status"] == "scored":
        sec = sub.get("secondary") or {}
        overall = sub.get("overall_score") is not None  # organizers: all forget examples
        row |= {
            "examples": "all" if overall else "public",
            "score": sub["overall_score"] if overall else sub["score"],
            "ci": sub["overall_score_ci"] if overall else sub["score_ci"],
            "F": sub["overall_forgetting_quality"] if overall else sub["forgetting_quality"],
            "RA ratio": sub["retain_ratio"],
            "TA ratio": sub["test_ratio"],
            "RF-JSD×1e4": sec.get("rf_jsd_x1e4"),
            "s/run": statistics.median(seconds) if seconds else None,
        }
    else:
        row["failure"] = (
            f"{sub.get('failure_reason')}: {(sub.get('failure_message') or '').splitlines()[0]}"
        )
    return row


def run_baselines(
    client: ArenaClient,
    slug: str,
    only: list[str] | None,
    follow: Callable[[ArenaClient, int], dict],
) -> list[dict]:
    names = [n for n in BASELINES if not only or n in only]
    rows = []
    client.accept_rules(slug)  # running the baselines is submitting them
    for name in names:
        accepted = client.submit(slug, EXAMPLES / BASELINES[name])
        rows.append(row_of(name, follow(client, accepted["id"])))
    return rows


def markdown(rows: list[dict], slug: str, n_models: int, command: str, date: str) -> str:
    lines = [
        f"Competition `{slug}`, N = {n_models}, {date}, `{command}`. Scores over "
        + (
            "all forget examples (run by an organizer)."
            if rows and all(r.get("examples") == "all" for r in rows if r["status"] == "scored")
            else "the public part of the forget set (what a participant sees)."
        ),
        "",
        "| method | score | 95% interval | F | RA ratio | TA ratio | RF-JSD ×10⁴ | s / run |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: -(r.get("score") or -1)):
        if r["status"] != "scored":
            lines.append(f"| {r['method']} | failed | {r['failure']} | | | | | |")
            continue
        lines.append(
            f"| {r['method']} | {r['score']:.4f} | [{r['ci'][0]:.4f}, {r['ci'][1]:.4f}] | {r['F']:.4f} | "
            f"{r['RA ratio']:.4f} | {r['TA ratio']:.4f} | {r['RF-JSD×1e4']:.1f} | {r['s/run']:.2f} |"
        )
    return "\n".join(lines) + "\n"
