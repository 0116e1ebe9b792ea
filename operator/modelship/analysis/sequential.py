"""How much of a test's false-alarm budget each look at growing data may spend.

A canary is judged every interval on everything since it started, so the statistics
of successive looks are strongly correlated: the data of look 3 hold those of look 2.
Testing every look at a fixed level would roll back far more healthy canaries than
the level says; splitting the level over the looks as if they were independent
(Bonferroni) keeps the promise but wastes most of the budget, since correlated looks
rarely cross together. Group-sequential designs do it exactly: an alpha-spending function
says how much of alpha may have been spent by look k, and each look's *nominal* level is
the one whose boundary crossing, given no earlier crossing, has exactly the
probability that look may spend.

The spending function here is Lan-DeMets' power family over a horizon of
``HORIZON`` looks, ``alpha (1 - tau) (k / K)^rho``, with ``rho = SHAPE``: between Pocock's flat
boundary (early looks catch large regressions fast, later looks lose power) and
O'Brien-Fleming's (early looks almost never stop). Past the horizon the remaining
share tau is spent as ``tau alpha K / (k (k - 1))`` per look (summing to tau alpha over any number
of further looks), at Bonferroni levels: long canaries keep the promise, with little
power left to a canary that has shown nothing in ``HORIZON`` looks.

Boundaries assume equal information per look (steady traffic), the usual
approximation; the judge's test statistics are asymptotically normal with independent
increments on cumulative data, which is what the recursion needs (Armitage, McPherson
and Rowe's numerical integration over the partial sums). A seeded simulation in the
unit tests checks the false-alarm rate of the resulting boundaries.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy.special import ndtr, ndtri

HORIZON = 10  # looks over which most of the budget is spent
SHAPE = 1.0  # rho: 1 spends evenly over the looks, 3 is close to O'Brien-Fleming
TAIL = 0.1  # tau: share of the budget kept for looks past the horizon

_STEP = 0.01  # grid step of the partial sums, in standard deviations of one look


def spent_by(alpha: float, look: int) -> float:
    """The share of the false-alarm budget ``alpha`` spent by look ``look`` (1-based)."""
    k = max(look, 0)
    main = (1 - TAIL) * min(1.0, (k / HORIZON) ** SHAPE)
    tail = TAIL * max(0.0, 1 - HORIZON / k) if k > HORIZON else 0.0
    return float(alpha * (main + tail))


def nominal_alpha(alpha: float, look: int) -> float:
    """The level a one-sided p-value must be below at look ``look`` so that the chance of
    ever crossing, over any number of looks, stays within ``alpha``."""
    look = max(look, 1)
    if look > HORIZON:
        return spent_by(alpha, look) - spent_by(alpha, look - 1)
    return _boundaries(alpha)[look - 1]


@lru_cache(maxsize=32)
def _boundaries(alpha: float) -> tuple[float, ...]:
    """Nominal levels of looks 1..HORIZON (equal information per look)."""
    width = 8.0 * math.sqrt(HORIZON)
    grid = np.arange(-width, width / 2, _STEP)
    kernel_x = np.arange(-8.0, 8.0 + _STEP / 2, _STEP)
    kernel = np.exp(-(kernel_x**2) / 2) / math.sqrt(2 * math.pi) * _STEP
    # density of S_k on the paths that have not crossed by look k
    going = np.exp(-(grid**2) / 2) / math.sqrt(2 * math.pi)
    levels: list[float] = []
    for k in range(1, HORIZON + 1):
        spend = spent_by(alpha, k) - spent_by(alpha, k - 1)
        if k == 1:
            bound = float(-ndtri(spend))
        else:
            # S_k = S_{k-1} + one look's increment
            bound = _solve(grid, going, spend)
            going = np.convolve(going, kernel, mode="same")
        levels.append(float(ndtr(-bound / math.sqrt(k))))
        going = np.where(grid < bound, going, 0.0)
    return tuple(levels)


def _solve(grid: np.ndarray, density: np.ndarray, spend: float) -> float:
    """The boundary b on S_k whose crossing probability is ``spend``, from ``density``
    (of S_{k-1} on the paths still going): P = sum f(s) (1 - Phi(b - s)) ds."""

    def crossing(b: float) -> float:
        return float(np.sum(density * ndtr(grid - b)) * _STEP)

    lo, hi = 0.0, 20.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if crossing(mid) > spend:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2
