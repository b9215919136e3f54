"""Compiled kernel for the `exact` rules: every interval with real edges, around either group.

For a group A (the interval's inside) and the other group B, every rule's ε depends only on
f = #B inside and g = #A outside, and falls as either grows (except that f = 0 with g > 0 is
discarded). An interval that contains exactly the B points of ranks s+1..s+k (k ≥ 1) can hold
any number of A points from those inside [b_{s+1}, b_{s+k}] up to all of those in the open gap
(b_s, b_{s+k+1}), in steps of whole tie groups. The best such rule keeps as many A points as it
can while leaving at least one out, so each (s, k) needs one table look-up: O(N²) per example
instead of the O(N⁴) count pairs of a brute-force enumeration. f = 0 rules only count when they
separate perfectly (g = 0 too), which is checked on its own.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True)
def _last_above(flat: np.ndarray, stride: int, g: int, k_max: int, best: float) -> int:
    """Largest k in [0, k_max] with ε(f = k, g) > best (0 if none); ε falls as f grows."""
    lo = 0
    hi = k_max
    while lo < hi:
        mid = (lo + hi + 1) // 2
        e = flat[mid * stride + g]
        if e > best or e != e:  # NaN (f = g = N only) cannot bound: keep it in
            lo = mid
        else:
            hi = mid - 1
    return lo


@njit(cache=True)
def _around(a: np.ndarray, b: np.ndarray, flat: np.ndarray, best: float) -> float:
    """Best ε of intervals around group ``a`` (sorted), at least ``best``; inf if perfect.

    Returns ``best`` (-1 when called with -1) if no rule beats it. Every rule's ε falls as
    either count grows, and g >= max(1, #A <= b_s) for the rules starting after b_s, so a
    start whose best possible ε cannot beat the best so far ends the search (the starts'
    bound only falls), and within a start the lengths stop where the bound does.
    """
    n = a.shape[0]
    stride = n + 1
    # perfect separation: no B point within [min A, max A]
    if np.searchsorted(b, a[n - 1], side="right") - np.searchsorted(b, a[0], side="left") == 0:
        return np.inf
    # A counts around each B point; index j = 1..n for b_j, with sentinels 0 (−inf) and n+1 (+inf)
    lt_a = np.empty(n + 2, np.int64)  # #A < b_j
    le_a = np.empty(n + 2, np.int64)  # #A <= b_j
    le_a[0] = 0
    lt_a[n + 1] = n
    for j in range(1, n + 1):
        lt_a[j] = np.searchsorted(a, b[j - 1], side="left")
        le_a[j] = np.searchsorted(a, b[j - 1], side="right")
    a_min, a_max = a[0], a[n - 1]
    g_min = np.searchsorted(a, a_min, side="right")  # size of the tie group at min A
    g_max = n - np.searchsorted(a, a_max, side="left")
    for s in range(n):  # B points of ranks s+1..s+k inside; b_s (if s > 0) excluded
        if s > 0 and b[s - 1] == b[s]:
            continue  # cannot take b_{s+1} without its equal b_s
        base = le_a[s]
        k_stop = _last_above(flat, stride, max(base, 1), n - s, best)
        if k_stop == 0:
            break  # no longer interval from here or any later start can beat best
        b_first = b[s]
        for k in range(1, k_stop + 1):
            last = s + k  # rank of the last B inside
            if last < n and b[last - 1] == b[last]:
                continue  # cannot leave out b_{last+1}, equal to b_last
            inside_max = lt_a[last + 1] - base  # #A in the open gap (b_s, b_{last+1})
            if inside_max < n:
                a_in = inside_max
            else:  # all of A fits: leave out a whole tie group at an end, if it lies in a gap
                a_in = -1
                if a_min < b_first:
                    a_in = n - g_min
                if a_max > b[last - 1] and n - g_max > a_in:
                    a_in = n - g_max
                if a_in < 0:
                    continue  # A lies within [b_{s+1}, b_last]: only g = 0, a discarded rule
            e = flat[k * stride + n - a_in]
            if e > best:
                best = e
    return best


@njit(cache=True, parallel=True)
def exact_kernel(
    unlearned: np.ndarray, retrained: np.ndarray, table: np.ndarray, to_score: np.ndarray
) -> np.ndarray:
    """Best ε per example over intervals around either group; -1 where no rule survives.

    unlearned, retrained: (n_examples, N), each row sorted ascending.
    """
    n_ex = unlearned.shape[0]
    out = np.full(n_ex, -1.0)
    flat = table.ravel()
    for i in prange(n_ex):
        if to_score[i]:
            u = unlearned[i]
            r = retrained[i]
            out[i] = _around(r, u, flat, _around(u, r, flat, -1.0))
    return out
