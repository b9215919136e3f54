"""Server-rendered SVG figures of the validity report (no JavaScript): the null distribution of
F per board and the rank-against-rank scatter of two scorings. Each has axis labels and says
what was resampled."""

from __future__ import annotations

from html import escape

from markupsafe import Markup

W, H = 480, 220
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 28, 44


def _frame(title: str, x_label: str, y_label: str) -> list[str]:
    x0, y0, x1, y1 = LEFT, H - BOTTOM, W - RIGHT, TOP
    return [
        f'<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<text x="{W / 2}" y="14" class="tick">{escape(title)}</text>',
        f'<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}" class="axis"/>',
        f'<line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y1}" class="axis"/>',
        f'<text x="{(x0 + x1) / 2}" y="{H - 8}" class="label">{escape(x_label)}</text>',
        f'<text x="12" y="{(y0 + y1) / 2}" class="label" '
        f'transform="rotate(-90 12 {(y0 + y1) / 2})">{escape(y_label)}</text>',
    ]


def null_svg(values: list[float | None], board_row: float | None, board: str, side: int) -> Markup:
    """Histogram of F over the random splits, the board's own retrain row marked."""
    finite = [v for v in values if v is not None]
    if not finite:
        return Markup("")
    lo, hi = min(finite + [board_row or min(finite)]), max(finite + [board_row or max(finite)])
    span = (hi - lo) or 1e-3
    lo, hi = lo - 0.05 * span, hi + 0.05 * span
    bins = 20
    counts = [0] * bins
    for v in finite:
        counts[min(bins - 1, int((v - lo) / (hi - lo) * bins))] += 1
    top = max(counts)
    plot_w, plot_h = W - LEFT - RIGHT, H - TOP - BOTTOM
    title = f"{board} board: retrain vs retrain, {side} vs {side} ({len(finite)} random splits)"
    parts = _frame(title, "F (forgetting quality) of one split", "splits")
    bar = plot_w / bins

    def x_of(v: float) -> float:
        return LEFT + plot_w * (v - lo) / (hi - lo)

    for i, c in enumerate(counts):
        h = plot_h * c / top
        parts.append(
            f'<rect x="{LEFT + i * bar + 1:.1f}" y="{H - BOTTOM - h:.1f}" width="{bar - 2:.1f}" '
            f'height="{h:.1f}" class="bar"><title>{c} splits</title></rect>'
        )
    for v in (lo + 0.05 * span, hi - 0.05 * span):
        parts.append(f'<text x="{x_of(v):.1f}" y="{H - BOTTOM + 14}" class="tick">{v:.3f}</text>')
    parts.append(f'<text x="{LEFT - 4}" y="{TOP + 4}" class="tick" text-anchor="end">{top}</text>')
    if board_row is not None:
        x = x_of(board_row)
        parts.append(
            f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{H - BOTTOM}" class="best">'
            f"<title>the board's retrain row: {board_row:.4f}</title></line>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def ranks_svg(points: list[tuple[int, int]], a_label: str, b_label: str, title: str) -> Markup:
    """Each entry's rank under one scoring against its rank under the other (1 = best)."""
    if not points:
        return Markup("")
    n = max(max(a, b) for a, b in points)
    plot_w, plot_h = W - LEFT - RIGHT, H - TOP - BOTTOM
    parts = _frame(title, f"rank, {a_label} (1 = best)", f"rank, {b_label}")

    def xy(a: int, b: int) -> tuple[float, float]:
        fx = (a - 1) / max(1, n - 1)
        fy = (b - 1) / max(1, n - 1)
        return LEFT + plot_w * fx, TOP + plot_h * fy

    (x0, y0), (x1, y1) = xy(1, 1), xy(n, n)
    parts.append(f'<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y1}" class="axis diagonal"/>')
    for a, b in points:
        x, y = xy(a, b)
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" class="dot"><title>{a} → {b}</title></circle>'
        )
    parts.append(f'<text x="{LEFT}" y="{H - BOTTOM + 14}" class="tick">1</text>')
    parts.append(f'<text x="{W - RIGHT}" y="{H - BOTTOM + 14}" class="tick">{n}</text>')
    parts.append(f'<text x="{LEFT - 6}" y="{TOP + 4}" class="tick" text-anchor="end">1</text>')
    parts.append(f'<text x="{LEFT - 6}" y="{H - BOTTOM}" class="tick" text-anchor="end">{n}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
