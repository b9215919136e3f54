"""Small server-rendered SVG charts (no JavaScript, no CDN): the ε histogram and a score
series over time. Sized by viewBox, so they scale to the page width."""

from __future__ import annotations

from datetime import datetime
from html import escape

from markupsafe import Markup

W, H, PAD = 480, 170, 28


def histogram_svg(hist: dict | None, title: str = "ε per forget example") -> Markup:
    """Bars of ``{"edges": [...], "counts": [...]}``; the last bar is ε ≥ the top edge."""
    if not hist or not hist.get("counts"):
        return Markup("")
    counts = [int(c) for c in hist["counts"]]
    edges = hist.get("edges") or []
    top = max(counts) or 1
    n = len(counts)
    bar = (W - 2 * PAD) / n
    parts = [
        f'<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<line x1="{PAD}" y1="{H - PAD}" x2="{W - PAD}" y2="{H - PAD}" class="axis"/>',
    ]
    for i, c in enumerate(counts):
        h = (H - 2 * PAD) * c / top
        x, y = PAD + i * bar, H - PAD - h
        label = (
            f"{edges[i]:g}–{edges[i + 1]:g}"
            if i + 1 < len(edges)
            else f"≥{edges[-1]:g}"
            if edges
            else str(i)
        )
        parts.append(
            f'<rect x="{x + 1:.1f}" y="{y:.1f}" width="{bar - 2:.1f}" height="{h:.1f}" class="bar">'
            f"<title>ε {escape(label)}: {c}</title></rect>"
        )
        if c:
            parts.append(f'<text x="{x + bar / 2:.1f}" y="{y - 3:.1f}" class="count">{c}</text>')
        if i % max(1, n // 8) == 0 or i == n - 1:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{H - PAD + 14}" class="tick">{escape(label)}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def series_svg(points: list[tuple[datetime, float]], title: str = "score over time") -> Markup:
    """Dots and a line through (time, value); the best-so-far as a step line."""
    if not points:
        return Markup("")
    points = sorted(points)
    t0, t1 = points[0][0].timestamp(), points[-1][0].timestamp()
    span = (t1 - t0) or 1.0
    top = max(v for _, v in points) or 1.0

    def xy(t: datetime, v: float) -> tuple[float, float]:
        x = PAD + (W - 2 * PAD) * ((t.timestamp() - t0) / span if len(points) > 1 else 0.5)
        return x, H - PAD - (H - 2 * PAD) * (v / top)

    coords = [xy(t, v) for t, v in points]
    best, steps = -1.0, []
    for t, v in points:
        best = max(best, v)
        steps.append(xy(t, best))
    parts = [
        f'<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<line x1="{PAD}" y1="{H - PAD}" x2="{W - PAD}" y2="{H - PAD}" class="axis"/>',
        f'<text x="{PAD}" y="{PAD - 8}" class="tick">max {top:.4f}</text>',
        '<polyline class="best" points="' + " ".join(f"{x:.1f},{y:.1f}" for x, y in steps) + '"/>',
    ]
    for (t, v), (x, y) in zip(points, coords, strict=True):
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" class="dot"><title>{t:%Y-%m-%d %H:%M}: {v:.4f}</title></circle>'
        )
    parts.append(f'<text x="{PAD}" y="{H - 6}" class="tick">{points[0][0]:%Y-%m-%d %H:%M}</text>')
    if len(points) > 1:
        parts.append(
            f'<text x="{W - PAD}" y="{H - 6}" class="tick" text-anchor="end">{points[-1][0]:%Y-%m-%d %H:%M}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
