"""Generated inputs shared by tests and benchmarks: competition files."""

from __future__ import annotations


def competition_yaml(slug: str, **extra: str) -> str:
    """A small uploaded-dataset competition (CNN on 1x8x8 digits, forgetting 3 groups, N = 4)."""
    text = f"""
slug: {slug}
title: Grouped digits
description: "Forget **three groups** of digits."
seed: 11
dataset: {{source: upload, n_classes: 10}}
split: {{test_fraction: 0.2, val_fraction: 0.1, forget_size: null, forget_groups: 3}}
model: {{name: cnn, channels: [4], hidden: 16}}
recipe: {{epochs: 8, batch_size: 32, lr: 0.05, schedule: cosine}}
scoring: {{n_models: 4, budget_floor_seconds: 10, timing_repeats: 1, bootstrap_resamples: 100}}
limits: {{max_daily_submissions: 10, max_total_submissions: 3, max_final_submissions: 1}}
allowed_uploads: [py]
"""
    for key, value in extra.items():
        text += f"{key}: {value}\n"
    return text


def many_problems_yaml(phases: int) -> str:
    """A competition file whose every phase is wrong (thousands of problems)."""
    lines = [competition_yaml("dos").strip(), "phases:"]
    for i in range(phases):
        lines += [f"  - name: p{i}", "    start: not-a-date", "    bogus: 1"]
    return "\n".join(lines) + "\n"
