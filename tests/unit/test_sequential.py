"""The sequential boundaries keep their promise: over all looks, a false alarm at most as
often as the budget says. Simulated (seeded, bounded), not asserted from the formulas."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.special import ndtr

from modelship.analysis.distributions import binomial_sf
from modelship.analysis.judge import ERROR_RATIO, LATENCY_TOLERANCE, Traffic, judge
from modelship.analysis.sequential import HORIZON, nominal_alpha, spent_by


def test_the_budget_is_spent_over_the_horizon_and_a_tail_that_never_runs_out() -> None:
    assert spent_by(0.01, 0) == 0.0
    assert spent_by(0.01, HORIZON) == pytest.approx(0.009)
    assert spent_by(0.01, 100_000) == pytest.approx(0.01, rel=1e-3)
    assert all(spent_by(0.01, k) < spent_by(0.01, k + 1) < 0.01 for k in range(1, 500))


def test_nominal_levels_grow_over_the_horizon_and_are_tiny_past_it() -> None:
    levels = [nominal_alpha(0.01, k) for k in range(1, HORIZON + 3)]
    assert all(a < b for a, b in itertools.pairwise(levels[:HORIZON]))
    # correlated looks: far more than the budget spent at a look, but never more than alpha
    assert levels[HORIZON - 1] > spent_by(0.01, HORIZON) - spent_by(0.01, HORIZON - 1)
    assert max(levels) < 0.01
    assert levels[HORIZON] < 1e-4


@pytest.mark.parametrize("alpha", [0.01, 0.05])
def test_random_walks_cross_the_boundaries_as_often_as_the_budget_allows(alpha: float) -> None:
    """Z statistics of cumulative data over 20 looks (past the horizon too)."""
    looks, paths = 2 * HORIZON, 200_000
    rng = np.random.default_rng(7)
    z = np.cumsum(rng.standard_normal((paths, looks)), axis=1) / np.sqrt(np.arange(1, looks + 1))
    levels = np.array([nominal_alpha(alpha, k) for k in range(1, looks + 1)])
    crossed = (ndtr(-z) < levels).any(axis=1)
    within_horizon = (ndtr(-z[:, :HORIZON]) < levels[:HORIZON]).any(axis=1)
    spread = 4 * math.sqrt(alpha / paths)  # four standard errors
    assert within_horizon.mean() == pytest.approx(spent_by(alpha, HORIZON), abs=spread)
    assert crossed.mean() <= spent_by(alpha, looks) + spread


def test_error_check_at_the_edge_of_its_tolerance_alarms_within_its_budget() -> None:
    """A canary exactly ERROR_RATIO x stable's error rate is the worst case the
    confidence is promised for: over 10 looks it fails at most 1 - confidence."""
    rng = np.random.default_rng(11)
    canaries, looks, n, ratio = 3000, HORIZON, 1000, 4
    c = np.cumsum(rng.binomial(n, 0.005 * ERROR_RATIO, (canaries, looks)), axis=1)
    s = np.cumsum(rng.binomial(n * ratio, 0.005, (canaries, looks)), axis=1)
    fails = 0
    for i in range(canaries):
        for k in range(looks):
            req = float(n * (k + 1))
            j = judge(
                Traffic({math.inf: req}, req, float(c[i, k])),
                Traffic({math.inf: req * ratio}, req * ratio, float(s[i, k])),
                metric="errorRate",
                look=k + 1,
            )
            if j.verdict == "Fail":
                fails += 1
                break
    assert fails / canaries <= 0.01 + 4 * math.sqrt(0.01 / canaries)


def test_latency_check_at_the_edge_of_its_tolerance_alarms_within_its_budget() -> None:
    """A canary exactly LATENCY_TOLERANCE slower than stable, lognormal, finely bucketed."""
    rng = np.random.default_rng(12)
    bounds = np.exp(np.linspace(-2.5, 2.5, 41)) * 0.05
    canaries, looks, n, ratio = 1000, HORIZON, 500, 4

    def probs(scale: float) -> np.ndarray:
        cdf = ndtr(np.log(bounds / (0.05 * scale)) / 0.4)
        return np.diff(np.concatenate(([0.0], cdf, [1.0])))

    def cumulative(counts: np.ndarray) -> dict[float, float]:
        return dict(zip([*bounds.tolist(), math.inf], np.cumsum(counts).tolist(), strict=True))

    fails = 0
    for _ in range(canaries):
        c = np.cumsum(rng.multinomial(n, probs(1 + LATENCY_TOLERANCE), looks), axis=0)
        s = np.cumsum(rng.multinomial(n * ratio, probs(1.0), looks), axis=0)
        for k in range(looks):
            j = judge(
                Traffic(cumulative(c[k]), float(c[k].sum()), 0.0),
                Traffic(cumulative(s[k]), float(s[k].sum()), 0.0),
                metric="latency",
                look=k + 1,
            )
            if j.verdict == "Fail":
                fails += 1
                break
    assert fails / canaries <= 0.01 + 4 * math.sqrt(0.01 / canaries)


def test_exact_error_test_matches_the_binomial_tail() -> None:
    from modelship.analysis.judge import rate_ratio_p

    # 12 of 20 errors on a track with a quarter of the (ratio-weighted) exposure
    share = 1.1 * 100 / (1.1 * 100 + 300)
    assert rate_ratio_p(12, 100, 8, 300, 1.1) == pytest.approx(binomial_sf(11, 20, share))
