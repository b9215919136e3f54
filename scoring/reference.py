"""Plain per-example reference implementations, for tests and benchmarks (slow by design)."""

from __future__ import annotations

import math

import numpy as np

from scoring.epsilon import DEGENERATE_RATIO


def _rule_eps(f: int, g: int, n: int, delta: float) -> float:
    if f == 0 and g == 0:
        return math.inf
    if f == 0 or g == 0:
        return math.nan
    fpr, fnr = f / n, g / n
    terms = []
    if 1 - delta - fpr > 0:
        terms.append(math.log(1 - delta - fpr) - math.log(fnr))
    if 1 - delta - fnr > 0:
        terms.append(math.log(1 - delta - fnr) - math.log(fpr))
    return max(0.0, *terms) if terms else math.nan


def exact_epsilon_brute_force(
    u: np.ndarray, r: np.ndarray, *, delta: float = 1e-5, cap: float = 50.0
) -> float:
    """ε of one example under the `exact` rules, by enumerating every interval.

    Every interval with real edges selects a contiguous run of the pooled distinct values, so
    enumerating all runs (and both groups as the inside) covers every rule. O(N³).
    """
    u = np.asarray(u, float)
    r = np.asarray(r, float)
    n = len(u)
    ru, rr = np.ptp(u), np.ptp(r)
    if max(ru, rr) > 0 and min(ru, rr) / max(ru, rr) < DEGENERATE_RATIO:
        return cap
    values = np.unique(np.concatenate([u, r]))
    best = -1.0
    for inside, other in ((u, r), (r, u)):
        for i in range(len(values)):
            for j in range(i, len(values)):
                lo, hi = values[i], values[j]
                a = int(np.sum((inside >= lo) & (inside <= hi)))
                b = int(np.sum((other >= lo) & (other <= hi)))
                e = _rule_eps(b, n - a, n, delta)
                if not math.isnan(e):
                    best = max(best, e)
    if best < 0:
        return math.nan
    return min(best, cap)


def exact_epsilon_quadratic(
    u: np.ndarray, r: np.ndarray, *, delta: float = 1e-5, cap: float = 50.0
) -> float:
    """ε of one example under the `exact` rules: every (start, length) of the other group, O(N²).

    The same enumeration as the compiled kernel without its pruning: for intervals that hold
    the other group's points of ranks s+1..s+k, the most points of the inside group that the
    open gap allows while leaving at least one out (docs/scoring.md §4).
    """
    u = np.sort(np.asarray(u, float))
    r = np.sort(np.asarray(r, float))
    ru, rr = u[-1] - u[0], r[-1] - r[0]
    if max(ru, rr) > 0 and min(ru, rr) / max(ru, rr) < DEGENERATE_RATIO:
        return cap
    best = max(_around_quadratic(u, r, delta), _around_quadratic(r, u, delta))
    return math.nan if best < 0 else min(best, cap)


def _around_quadratic(a: np.ndarray, b: np.ndarray, delta: float) -> float:
    n = len(a)
    if np.searchsorted(b, a[-1], "right") - np.searchsorted(b, a[0], "left") == 0:
        return math.inf
    lt_a = [0] + [int(np.searchsorted(a, v, "left")) for v in b] + [n]
    le_a = [0] + [int(np.searchsorted(a, v, "right")) for v in b] + [n]
    g_min = int(np.searchsorted(a, a[0], "right"))
    g_max = n - int(np.searchsorted(a, a[-1], "left"))
    best = -1.0
    for s in range(n):
        if s > 0 and b[s - 1] == b[s]:
            continue
        for k in range(1, n - s + 1):
            last = s + k
            if last < n and b[last - 1] == b[last]:
                continue
            a_in = lt_a[last + 1] - le_a[s]
            if a_in >= n:
                a_in = n - g_min if a[0] < b[s] else -1
                if a[-1] > b[last - 1]:
                    a_in = max(a_in, n - g_max)
                if a_in < 0:
                    continue
            e = _rule_eps(k, n - a_in, n, delta)
            if not math.isnan(e):
                best = max(best, e)
    return best


def official_epsilon_numpy(
    u: np.ndarray, r: np.ndarray, *, delta: float = 1e-5, cap: float = 50.0
) -> float:
    """ε of one example under the `official` rules, written plainly with numpy per rule family.

    The straightforward per-example implementation (grid built with numpy.linspace, counts by
    searchsorted), used as the baseline of ``bench/scoring.py``.
    """
    u = np.asarray(u, float)
    r = np.asarray(r, float)
    n = len(u)
    if np.median(r) > np.median(u):
        p, q = r, u
    else:
        p, q = u, r
    rp, rq = np.ptp(p), np.ptp(q)
    largest, smallest = (rp, rq) if rp > rq else (rq, rp)
    with np.errstate(divide="ignore", invalid="ignore"):
        if smallest / largest < DEGENERATE_RATIO:
            return cap
    c32 = np.float32(1 - delta)

    def eps(fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
        return _official_eps(fp, fn, n, c32)

    a, b = (q, p) if rp >= rq else (p, q)
    a, b = np.sort(a), np.sort(b)
    w = min(rp, rq)
    lo_r, hi_r = a[0] + w - 2.0, a[-1] + 2.0
    right = np.linspace(lo_r, hi_r, int(np.ceil((hi_r - lo_r) * 100)))
    left = np.linspace(right - w - 2.0, right - w + 2.0, 400, axis=1)
    a_in = np.maximum(
        np.searchsorted(a, right, "right")[:, None] - np.searchsorted(a, left, "left"), 0
    )
    b_in = np.maximum(
        np.searchsorted(b, right, "right")[:, None] - np.searchsorted(b, left, "left"), 0
    )
    found = [eps(b_in.ravel(), n - a_in.ravel())]
    lo, hi = min(p.min(), q.min()), max(p.max(), q.max())
    k = int(np.ceil((hi - lo) * 100))
    if k > 0:
        t = np.linspace(lo, hi, k).astype(np.float32)
        t[-1] = np.float32(hi)
        t[0] = np.float32(lo)  # with one point, it is the lower end
        t = t.astype(float)
        ps, qs = np.sort(p), np.sort(q)
        found.append(eps(n - np.searchsorted(qs, t, "left"), np.searchsorted(ps, t, "left")))
    allv = np.concatenate(found)
    if np.all(np.isnan(allv)):
        return math.nan
    return float(min(np.nanmax(allv), cap))


def _official_eps(fp: np.ndarray, fn: np.ndarray, n: int, c32: np.float32) -> np.ndarray:
    """ε of each rule from its false-positive and false-negative counts, in float32 as the
    published code computes it."""
    fpr = fp.astype(np.float32) / np.float32(n)
    fnr = fn.astype(np.float32) / np.float32(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        e = np.maximum(
            np.float32(0),
            np.fmax(np.log(c32 - fpr) - np.log(fnr), np.log(c32 - fnr) - np.log(fpr)),
        )
    e = e.astype(float)
    e[(fp == 0) ^ (fn == 0)] = np.nan
    e[(fp == 0) & (fn == 0)] = np.inf
    return e  # type: ignore[no-any-return]
