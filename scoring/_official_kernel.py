"""Compiled counting kernel for the `official` rule family (docs/scoring.md §4).

For one forget example the official metric evaluates up to 160,400 interval rules and a
few hundred single thresholds. Every rule's ε depends only on two integer counts (how many
of one group fall on the wrong side, how many of the other), so the kernel walks the sorted
groups with pointers to get those counts and reads ε from a precomputed table indexed by them.
The grids are rebuilt with numpy.linspace's exact arithmetic so that the counts, and hence the
ε values, are those of the published code.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

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
def _intervals_walk(a_grp, b_grp, flat, w, lo_r, hi_r, k_r) -> float:
    """The interval family rule by rule: 400 left edges per right edge, merged with the data."""
    n = a_grp.shape[0]
    stride = n + 1
    last_l = LEFT_EDGES - 1
    best = -1.0
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
        # numpy.linspace(l_start, l_stop, 400): k * step + start, the last point exactly l_stop
        l_step = (l_stop - l_start) / last_l
        pa_lt = np.searchsorted(a_grp, l_start, side="left")
        pb_lt = np.searchsorted(b_grp, l_start, side="left")
        for k in range(LEFT_EDGES):
            left = k * l_step + l_start if k != last_l else l_stop
            while pa_lt < n and a_grp[pa_lt] < left:
                pa_lt += 1
            while pb_lt < n and b_grp[pb_lt] < left:
                pb_lt += 1
            a_in = pa_le - pa_lt
            b_in = pb_le - pb_lt
            if a_in < 0 or b_in < 0:  # empty interval (left above right): f = 0, g = N, discarded
                continue
            # predicted "A" inside: false positives are B inside, false negatives A outside
            e = flat[b_in * stride + n - a_in]
            if e > best:  # False for NaN (a discarded rule)
                best = e
    return best


MAX_AMBIGUOUS = 64


@njit(cache=True)
def _intervals_lattice(a_grp, b_grp, flat, w, lo_r, hi_r, k_r) -> float:
    """The interval family through a shared lattice of left edges; -2.0 if it does not apply.

    When the right-edge step equals the left-edge step (K_R = 400), left edge k of right edge j
    lies within rounding error (~1e-13) of the lattice point base + (j + k)·step, so the counts
    below each left edge are those below its lattice point, computed once per example. A data
    point that lies within a margin (far larger than that error) of a lattice point, such as
    min(A), which the grid puts exactly there, is "ambiguous": for the rules on that lattice
    point it is compared with the exact left edge, as the rule-by-rule walk does. The result
    equals the walk's; the caller falls back to the walk when the lattice does not apply.
    """
    n = a_grp.shape[0]
    stride = n + 1
    last_l = LEFT_EDGES - 1
    if k_r < 2:
        return -2.0
    step_r = (hi_r - lo_r) / (k_r - 1)
    step = 4.0 / last_l
    scale = 1.0 + max(
        abs(a_grp[0]), abs(a_grp[n - 1]), abs(b_grp[0]), abs(b_grp[n - 1]), abs(lo_r), abs(hi_r)
    )
    margin = 1e-9 * scale
    if abs(step_r - step) * k_r > 1e-3 * margin:
        return -2.0
    base = lo_r - w - 2.0
    m_count = k_r + last_l

    x = np.empty(m_count, np.int64)  # #A below lattice point m (ambiguous points at m left out)
    y = np.empty(m_count, np.int64)
    pa = 0
    pb = 0
    for m in range(m_count):
        point = base + m * step
        while pa < n and a_grp[pa] < point:
            pa += 1
        while pb < n and b_grp[pb] < point:
            pb += 1
        x[m] = pa
        y[m] = pb

    amb_flag = np.zeros(m_count, np.bool_)
    amb_m = np.empty(MAX_AMBIGUOUS, np.int64)
    amb_v = np.empty(MAX_AMBIGUOUS)
    amb_is_a = np.empty(MAX_AMBIGUOUS, np.bool_)
    n_amb = 0
    for g in range(2):
        grp = a_grp if g == 0 else b_grp
        for v in grp:
            mf = np.floor((v - base) / step + 0.5)
            if mf < 0.0 or mf >= m_count:
                continue
            m = int(mf)
            if abs(v - (base + m * step)) >= margin:
                continue
            if n_amb == MAX_AMBIGUOUS:
                return -2.0
            amb_flag[m] = True
            amb_m[n_amb] = m
            amb_v[n_amb] = v
            amb_is_a[n_amb] = g == 0
            n_amb += 1
            if v < base + m * step:  # counted below its own lattice point: take it out there
                if g == 0:
                    x[m] -= 1
                else:
                    y[m] -= 1

    # Counts at or below each right edge; right edges with equal counts form runs whose rules
    # differ only in their left edges, so a run is scored over the union of its lattice windows.
    a_le = np.empty(k_r, np.int64)
    b_le = np.empty(k_r, np.int64)
    pa = 0
    pb = 0
    for j in range(k_r):
        t = _linspace_at(lo_r, hi_r, k_r, j)
        while pa < n and a_grp[pa] <= t:
            pa += 1
        while pb < n and b_grp[pb] <= t:
            pb += 1
        a_le[j] = pa
        b_le[j] = pb

    best = -1.0
    j1 = 0
    while j1 < k_r:
        j2 = j1
        while j2 + 1 < k_r and a_le[j2 + 1] == a_le[j1] and b_le[j2 + 1] == b_le[j1]:
            j2 += 1
        pa_le = a_le[j1]
        pb_le = b_le[j1]
        row0 = pb_le * stride + n - pa_le
        for m in range(j1, j2 + LEFT_EDGES):
            if not amb_flag[m]:
                # f = pb_le - y[m], g = n - pa_le + x[m]; negative counts mean an empty interval
                if pa_le >= x[m] and pb_le >= y[m]:
                    e = flat[row0 - y[m] * stride + x[m]]
                    if e > best:
                        best = e
                continue
            for j in range(max(j1, m - last_l), min(j2, m) + 1):  # exact left edge per rule
                k = m - j
                t = _linspace_at(lo_r, hi_r, k_r, j)
                l_start = t - w - 2.0
                l_stop = t - w + 2.0
                left = k * ((l_stop - l_start) / last_l) + l_start if k != last_l else l_stop
                below_a = x[m]
                below_b = y[m]
                for i in range(n_amb):
                    if amb_m[i] == m and amb_v[i] < left:
                        if amb_is_a[i]:
                            below_a += 1
                        else:
                            below_b += 1
                a_in = pa_le - below_a
                b_in = pb_le - below_b
                if a_in < 0 or b_in < 0:
                    continue
                e = flat[b_in * stride + n - a_in]
                if e > best:
                    best = e
        j1 = j2 + 1
    return best


@njit(cache=True)
def _official_one(p: np.ndarray, q: np.ndarray, flat: np.ndarray) -> float:
    """Max ε over the official rules for one example (P, Q sorted ascending)."""
    n = p.shape[0]
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
    best = _intervals_lattice(a_grp, b_grp, flat, w, lo_r, hi_r, k_r)
    if best == -2.0:
        best = _intervals_walk(a_grp, b_grp, flat, w, lo_r, hi_r, k_r)

    # Single thresholds on a float32 grid over the pooled range: predict P iff phi >= t.
    stride = n + 1
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
        e = flat[(n - pq) * stride + pp]
        if e > best:
            best = e
    return best


@njit(cache=True, inline="always")
def _median_of_sorted(x: np.ndarray) -> float:
    """``numpy.median`` of a sorted row, with its arithmetic (mean of the two middle values)."""
    n = x.shape[0]
    if n % 2:
        return float(x[n // 2])
    return float((x[n // 2 - 1] + x[n // 2]) / 2)


@njit(cache=True, parallel=True)
def official_kernel(
    unlearned: np.ndarray,
    retrained: np.ndarray,
    table: np.ndarray,
    to_score: np.ndarray,
) -> np.ndarray:
    """Max ε over the official rules for each example flagged in ``to_score``.

    unlearned, retrained: (n_examples, N) signals, each row sorted ascending. P, the group the
    single thresholds call positive, is the retrained one iff its median is strictly larger
    (ties: the unlearned one), as the published code orients them. table: (N+1, N+1) ε per
    (false-positive count, false-negative count), NaN for a discarded rule, +inf for perfect
    separation. Returns -1.0 where no rule survives, else the maximum (possibly +inf).
    """
    n_ex = unlearned.shape[0]
    out = np.full(n_ex, -1.0)
    flat = table.ravel()
    for i in prange(n_ex):
        if to_score[i]:
            u = unlearned[i]
            r = retrained[i]
            if _median_of_sorted(r) > _median_of_sorted(u):
                out[i] = _official_one(r, u, flat)
            else:
                out[i] = _official_one(u, r, flat)
    return out
