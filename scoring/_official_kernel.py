"""Compiled counting kernel for the `official` rule family (OFFICIAL_METRIC.md §3–§6).

For one forget example the official metric evaluates up to 160,400 interval rules and a
few hundred single thresholds. Every rule's ε depends only on two integer counts (how many
of one group fall on the wrong side, how many of the other), so the kernel walks the sorted
groups with pointers to get those counts and reads ε from a precomputed table indexed by them.
The grids are rebuilt with numpy.linspace's exact arithmetic so that the counts, and hence the
ε values, are those of the published code.
"""

from __future__ import annotations

import numpy as np
from numba import njit

BUFFER = 2.0
THRESHOLDS_PER_UNIT = 100
LEFT_EDGES = int(np.ceil(2 * BUFFER * THRESHOLDS_PER_UNIT))  # 400


@njit(cache=True, inline="always")
def _linspace_at(start: float, stop: float, num: int, k: int) -> float:
    """Element k of ``numpy.linspace(start, stop, num)`` with the same float64 arithmetic."""
    if num > 1 and k == num - 1:
        return stop
    div = num - 1
    if div <= 0:
        return start
    delta = stop - start
    step = delta / div
    if step == 0.0:
        return (k / div) * delta + start
    return k * step + start


@njit(cache=True)
def _best_eps(best: float, table: np.ndarray, f: int, g: int) -> float:
    e = table[f, g]
    if e != e:  # NaN: rule discarded
        return best
    if e > best:
        return e
    return best


@njit(cache=True)
def official_kernel(
    p_sorted: np.ndarray,
    q_sorted: np.ndarray,
    table: np.ndarray,
    to_score: np.ndarray,
) -> np.ndarray:
    """Max ε over the official rules for each example flagged in ``to_score``.

    p_sorted, q_sorted: (n_examples, N) rows sorted ascending; P is the group the single
    thresholds call positive (orientation by medians). table: (N+1, N+1) ε per
    (false-positive count, false-negative count), NaN for a discarded rule, +inf for perfect
    separation. Returns -1.0 where no rule survives, else the maximum (possibly +inf).
    """
    n_ex, n = p_sorted.shape
    out = np.full(n_ex, -1.0)
    for i in range(n_ex):
        if not to_score[i]:
            continue
        p = p_sorted[i]
        q = q_sorted[i]
        best = -1.0
        r_p = p[n - 1] - p[0]
        r_q = q[n - 1] - q[0]

        # Interval family: A is the group with the smaller range (Q on equal ranges).
        if r_p >= r_q:
            a_grp = q
            b_grp = p
        else:
            a_grp = p
            b_grp = q
        w = min(r_p, r_q)
        lo_r = a_grp[0] + w - 2.0
        hi_r = a_grp[n - 1] + 2.0
        k_r = int(np.ceil((hi_r - lo_r) * 100))
        pa_le = 0
        pb_le = 0
        for j in range(k_r):
            t = _linspace_at(lo_r, hi_r, k_r, j)
            while pa_le < n and a_grp[pa_le] <= t:
                pa_le += 1
            while pb_le < n and b_grp[pb_le] <= t:
                pb_le += 1
            l_start = t - w - 2.0
            l_stop = t - w + 2.0
            l0 = _linspace_at(l_start, l_stop, LEFT_EDGES, 0)
            pa_lt = np.searchsorted(a_grp, l0, side="left")
            pb_lt = np.searchsorted(b_grp, l0, side="left")
            for k in range(LEFT_EDGES):
                left = _linspace_at(l_start, l_stop, LEFT_EDGES, k)
                while pa_lt < n and a_grp[pa_lt] < left:
                    pa_lt += 1
                while pb_lt < n and b_grp[pb_lt] < left:
                    pb_lt += 1
                a_in = pa_le - pa_lt
                if a_in < 0:
                    a_in = 0
                b_in = pb_le - pb_lt
                if b_in < 0:
                    b_in = 0
                # predicted "A" inside: false positives are B inside, false negatives A outside
                best = _best_eps(best, table, b_in, n - a_in)

        # Single thresholds on a float32 grid over the pooled range: predict P iff phi >= t.
        lo = min(p[0], q[0])
        hi = max(p[n - 1], q[n - 1])
        k_s = int(np.ceil((hi - lo) * 100))
        pp = 0
        pq = 0
        for j in range(k_s):
            if j == 0:
                t32 = np.float32(lo)
            elif j == k_s - 1:
                t32 = np.float32(hi)
            else:
                t32 = np.float32(_linspace_at(lo, hi, k_s, j))
            t = np.float64(t32)
            while pp < n and p[pp] < t:
                pp += 1
            while pq < n and q[pq] < t:
                pq += 1
            # false positives: Q at or above t; false negatives: P below t
            best = _best_eps(best, table, n - pq, pp)
        out[i] = best
    return out
