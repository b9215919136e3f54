"""Draw docs/h_of_epsilon.svg (the points H(ε) earns) without plotting libraries.

python docs/make_figures.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from scoring import epsilon_points, max_epsilon

W, H, PAD = 640, 300, 50
X_MAX = 8.0


def x(v: float) -> float:
    return PAD + (W - 2 * PAD) * v / X_MAX


def y(v: float) -> float:
    return H - PAD - (H - 2 * PAD) * v


def main() -> None:
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
        f'<rect width="{W}" height="{H}" fill="white"/>',
        f'<line x1="{x(0)}" y1="{y(0)}" x2="{x(X_MAX)}" y2="{y(0)}" stroke="black"/>',
        f'<line x1="{x(0)}" y1="{y(0)}" x2="{x(0)}" y2="{y(1.05)}" stroke="black"/>',
    ]
    for t in range(int(X_MAX) + 1):
        parts.append(f'<text x="{x(t)}" y="{y(0) + 18}" text-anchor="middle">{t}</text>')
    for v in (0, 0.25, 0.5, 1):
        parts.append(f'<text x="{x(0) - 8}" y="{y(v) + 4}" text-anchor="end">{v:g}</text>')
    colours = {32: "#1f77b4", 512: "#d62728"}
    for n, colour in colours.items():
        eps = np.linspace(0, X_MAX, 1601)
        pts = epsilon_points(eps, n)
        path = " ".join(
            f"{'M' if i == 0 else 'L'}{x(e):.1f},{y(p):.1f}"
            for i, (e, p) in enumerate(zip(eps, pts, strict=True))
        )
        parts.append(f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        parts.append(
            f'<text x="{x(max_epsilon(n)) + 4}" y="{y(0.12 if n == 32 else 0.2)}" fill="{colour}">'
            f"N = {n}: 0 from ε = ⌈ln(N−1)⌉ = {max_epsilon(n)}</text>"
        )
    parts.append(f'<text x="{W / 2}" y="{H - 10}" text-anchor="middle">per-example ε</text>')
    parts.append(
        f'<text x="{PAD}" y="{PAD - 20}">points H(ε) an example earns (F is their mean)</text>'
    )
    parts.append("</svg>")
    out = Path(__file__).with_name("h_of_epsilon.svg")
    out.write_text("\n".join(parts) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
