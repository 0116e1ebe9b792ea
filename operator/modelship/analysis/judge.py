"""The statistical canary-vs-stable judge: a plain function on what production gives.

Inputs are what a metrics backend has per track since the canary started: the
latency histogram's bucket counts and the request and error counters (no raw
samples). The judge answers Fail only when the canary is worse than stable *by more
than a tolerance* with the asked confidence, so the few-percent differences real
pods always show are never a regression however much traffic there is, while real
regressions are caught as soon as the counts can show them.

- latency, body of the distribution: a Mann-Whitney rank test of the canary against
  stable slowed down by ``LATENCY_TOLERANCE`` (stable's CDF read at x / (1 + tol), linear
  inside a bucket as histogram_quantile does; observations sharing a bucket count as
  ties). Fail when the canary is slower than that slowed-down stable.
- latency, tail: the share of requests above the bucket bound holding stable's
  ``TAIL_QUANTILE``; Fail when the canary's share is more than ``TAIL_RATIO`` times
  stable's (an exact conditional binomial test of the two counts).
- error rate: the same exact test on error counts with ``ERROR_RATIO``.

The canary is looked at again every interval on growing data. To keep the chance of
ever rolling back a healthy canary within 1 - confidence over any number of looks,
look k spends alpha / (k (k + 1)) (these sum to alpha), split evenly between the
tests of one metric.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from modelship.analysis.distributions import binomial_pmf, binomial_sf, normal_sf
from modelship.analysis.histogram import Histogram
from modelship.analysis.verdict import Verdict

# Canary slower than stable by less than this is treated as the same speed.
LATENCY_TOLERANCE = 0.10
TAIL_QUANTILE = 0.99
TAIL_RATIO = 1.25
ERROR_RATIO = 1.1
# Fewer requests than this on either track: nothing can be said (Inconclusive).
MIN_SAMPLES = 50


@dataclass(frozen=True)
class Traffic:
    """One track's requests since the canary started."""

    latency: Mapping[float, float]  # cumulative histogram buckets {le: count}
    requests: float
    errors: float


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    value: float | None  # the effect: how much worse the canary looks
    threshold: float | None  # the effect that would be a regression
    p_value: float | None  # smallest of the tests' p-values
    alpha: float  # what a p-value had to be below at this look
    reason: str


def look_alpha(confidence: float, look: int) -> float:
    """The share of 1 - confidence spent at look ``look`` (1-based)."""
    return (1.0 - confidence) / (look * (look + 1))


def judge(
    canary: Traffic,
    stable: Traffic,
    *,
    metric: Literal["latency", "errorRate"],
    confidence: float = 0.99,
    look: int = 1,
) -> Judgement:
    """Is the canary worse than stable? Fail, Pass, or Inconclusive for too little data."""
    alpha = look_alpha(confidence, max(look, 1))
    if metric == "errorRate":
        return _errors(canary, stable, alpha)
    return _latency(canary, stable, alpha)


def _too_few(n_canary: float, n_stable: float, alpha: float) -> Judgement | None:
    if n_canary >= MIN_SAMPLES and n_stable >= MIN_SAMPLES:
        return None
    return Judgement(
        "Inconclusive",
        None,
        None,
        None,
        alpha,
        f"too few requests to compare: canary {n_canary:.0f}, stable {n_stable:.0f} "
        f"(need {MIN_SAMPLES} each)",
    )


def rate_ratio_p(
    k_canary: float, n_canary: float, k_stable: float, n_stable: float, ratio: float
) -> float:
    """One-sided p-value of "canary rate > ratio x stable rate": given k events in all,
    the canary's count is binomial with the canary's share of exposure (ratio-weighted)."""
    k_c, k_s = round(k_canary), round(k_stable)
    if k_c + k_s == 0 or k_c == 0:
        return 1.0
    share = ratio * n_canary / (ratio * n_canary + n_stable)
    # mid-p: the exact test is conservative on small counts; half the observed point's
    # probability keeps it close to nominal without losing much power on rare errors.
    return binomial_sf(k_c, k_c + k_s, share) + 0.5 * binomial_pmf(k_c, k_c + k_s, share)


def _errors(canary: Traffic, stable: Traffic, alpha: float) -> Judgement:
    few = _too_few(canary.requests, stable.requests, alpha)
    if few:
        return few
    rate_c = canary.errors / canary.requests
    rate_s = stable.errors / stable.requests
    p = rate_ratio_p(canary.errors, canary.requests, stable.errors, stable.requests, ERROR_RATIO)
    what = (
        f"error rate {rate_c:.2%} on canary vs {rate_s:.2%} on stable "
        f"({canary.requests:.0f} and {stable.requests:.0f} requests)"
    )
    if p < alpha:
        return Judgement(
            "Fail",
            rate_c,
            rate_s * ERROR_RATIO,
            p,
            alpha,
            f"{what}: more than {ERROR_RATIO:g}x stable (p={p:.2g} < {alpha:.2g})",
        )
    return Judgement(
        "Pass",
        rate_c,
        rate_s * ERROR_RATIO,
        p,
        alpha,
        f"{what}: no significant increase (p={p:.2g})",
    )


def rank_shift(canary: Histogram, stable: Histogram, tolerance: float) -> tuple[float, float]:
    """(A, p): A = P(canary slower than stable x (1 + tolerance)) + half the ties, from
    bucket counts; p = one-sided Mann-Whitney p-value of A > 1/2 (normal, tie-corrected)."""
    n_c, n_s = canary.count, stable.count
    wins, ties = 0.0, 0.0
    tie_groups = []
    lower = 0.0
    below_lower = 0.0
    for bound, count in zip(canary.bounds, canary.counts(), strict=True):
        below_upper = 1.0 if math.isinf(bound) else stable.share_below(bound / (1 + tolerance))
        inside = below_upper - below_lower
        wins += count * below_lower
        ties += count * inside
        tie_groups.append(count + inside * n_s)
        lower, below_lower = bound, below_upper
    del lower
    a = (wins + ties / 2) / n_c
    total = n_c + n_s
    tie_term = sum(t**3 - t for t in tie_groups) / (total * (total - 1))
    variance = n_c * n_s / 12 * ((total + 1) - tie_term) / (n_c * n_s) ** 2
    if variance <= 0:
        return a, 1.0
    z = (a - 0.5) / math.sqrt(variance)
    return a, normal_sf(z)


def _latency(canary: Traffic, stable: Traffic, alpha: float) -> Judgement:
    c, s = Histogram.from_buckets(canary.latency), Histogram.from_buckets(stable.latency)
    few = _too_few(c.count, s.count, alpha)
    if few:
        return few
    half = alpha / 2
    a, p_body = rank_shift(c, s, LATENCY_TOLERANCE)
    p50_c, p50_s = c.quantile(0.5), s.quantile(0.5)
    change = f"p50 {_ms(p50_c)} vs {_ms(p50_s)}" if p50_c and p50_s else "p50 unknown"
    edge = s.bound_at(TAIL_QUANTILE)
    p_tail, tail_text = 1.0, ""
    if edge is not None:
        over_c, over_s = c.above(edge) if edge in c.bounds else 0.0, s.above(edge)
        p_tail = rate_ratio_p(over_c, c.count, over_s, s.count, TAIL_RATIO)
        tail_text = (
            f"; above {_ms(edge)}: {over_c / c.count:.2%} of canary vs {over_s / s.count:.2%} "
            f"of stable requests"
        )
    what = (
        f"canary slower than stable+{LATENCY_TOLERANCE:.0%} in {a:.0%} of request pairs, "
        f"{change}{tail_text}"
    )
    p = min(p_body, p_tail)
    if p_body < half:
        return Judgement(
            "Fail",
            a,
            0.5,
            p,
            alpha,
            f"latency regression: {what} (rank test p={p_body:.2g} < {half:.2g})",
        )
    if p_tail < half:
        return Judgement(
            "Fail",
            a,
            0.5,
            p,
            alpha,
            f"latency tail regression: {what} (tail test p={p_tail:.2g} < {half:.2g})",
        )
    return Judgement("Pass", a, 0.5, p, alpha, f"no significant latency regression: {what}")


def _ms(seconds: float | None) -> str:
    return "?" if seconds is None else f"{seconds * 1000:.0f}ms"
