"""Locating the problems of a large competition file for the organizer's editor.

A 256 KiB competition file with thousands of problems (every phase wrong); times
``problems_by_line`` (one parse of the file for all problems) against the baseline timed in the
same run: one parse per problem (what the editor did before). Medians of 3.
Last line: one JSON object of the figures.

    python bench/config_editor.py
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.config_file import ConfigInvalid, line_of, parse_config_text, problems_by_line  # noqa: E402
from harness.cases import many_problems_yaml  # noqa: E402


def per_problem_parse(text: str, problems: list[str]) -> dict:
    out: dict = {}
    for p in problems:
        out.setdefault(line_of(text, p.split(": ", 1)[0]), []).append(p)
    return out


def main() -> None:
    per_phase = len(many_problems_yaml(1001)) - len(many_problems_yaml(1000))
    n = (256 << 10) // per_phase + 1
    text = many_problems_yaml(n)
    try:
        parse_config_text(text)
        raise SystemExit("the file has no problems")
    except ConfigInvalid as exc:
        problems = exc.problems
    ours, base = [], []
    for _ in range(3):
        start = time.perf_counter()
        problems_by_line(text, problems)
        ours.append(time.perf_counter() - start)
    sample = problems[:50]  # the baseline is slow: timed on 50 problems, scaled
    for _ in range(3):
        start = time.perf_counter()
        per_problem_parse(text, sample)
        base.append((time.perf_counter() - start) * len(problems) / len(sample))
    figures = {
        "file_kib": round(len(text.encode()) / 1024, 1),
        "problems": len(problems),
        "one_parse_s_median": round(statistics.median(ours), 3),
        "parse_per_problem_s_median_estimated": round(statistics.median(base), 1),
        "ratio": round(statistics.median(ours) / statistics.median(base), 5),
    }
    print(
        f"{len(problems)} problems in a {figures['file_kib']} KiB file: "
        f"{figures['one_parse_s_median']} s (one parse per problem: ~{figures['parse_per_problem_s_median_estimated']} s)"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
