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
- latency, tail: at the bucket bounds holding stable's ``TAIL_QUANTILES``, the
  canary's share of requests above the bound against stable's above bound / (1 +
  ``TAIL_SHIFT``), read log-linearly along the tail inside a bucket; Fail when the
  canary's is more than ``TAIL_RATIO`` times that (an exact conditional binomial test
  of the two counts).
- error rate: the same exact test on error counts with ``ERROR_RATIO``.

The canary is looked at again every interval on growing data. So that the chance of
ever failing a canary at the edge of a tolerance stays within 1 - confidence over any
number of looks, each look tests at the group-sequential level of
``modelship.analysis.sequential``; a latency check gives half its budget to the body
test and splits the other half between the tail bounds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from modelship.analysis.distributions import binomial_sf, normal_sf
from modelship.analysis.histogram import Histogram
from modelship.analysis.sequential import nominal_alpha
from modelship.analysis.verdict import Verdict

# Canary slower than stable by less than this is treated as the same speed.
LATENCY_TOLERANCE = 0.05
TAIL_QUANTILES = (0.95, 0.99, 0.999)
TAIL_RATIO = 1.1
# Stable slowed down by this before its tail is compared (pods differ by a few %).
TAIL_SHIFT = LATENCY_TOLERANCE
# Share of a latency check's budget for the body (rank) test; the tail tests have the rest.
BODY_SHARE = 0.5
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


def judge(
    canary: Traffic,
    stable: Traffic,
    *,
    metric: Literal["latency", "errorRate"],
    confidence: float = 0.99,
    look: int = 1,
) -> Judgement:
    """Is the canary worse than stable? Fail, Pass, or Inconclusive for too little data."""
    alpha = 1.0 - confidence
    if metric == "errorRate":
        return _errors(canary, stable, nominal_alpha(alpha, look))
    return _latency(canary, stable, alpha, look)


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
    # P(X >= k_c): exact, so conservative on small counts; the false-alarm budget is
    # what the healthy-canary bar is held to, and mid-p spent it faster than promised.
    return binomial_sf(k_c - 1, k_c + k_s, share)


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


def _tail_points(stable: Histogram) -> list[float]:
    """The bucket bounds holding stable's ``TAIL_QUANTILES`` (distinct, ascending)."""
    points: list[float] = []
    for q in TAIL_QUANTILES:
        bound = stable.bound_at(q)
        if bound is not None and bound not in points:
            points.append(bound)
    return points


def tail_test(canary: Histogram, stable: Histogram, bound: float) -> tuple[float, float, float]:
    """(canary's share above ``bound``, stable's share above bound / (1 + tolerance), p):
    is the canary's tail heavier than that of stable slowed down by the tolerance, by more
    than ``TAIL_RATIO`` (which absorbs what reading stable inside a bucket can get wrong)?
    Exact conditional test of the two counts (stable's rounded to whole requests)."""
    over_c = canary.above(bound) if bound in canary.bounds else 0.0
    share_s = stable.share_above(bound / (1 + TAIL_SHIFT))
    over_s = round(share_s * stable.count)
    p = rate_ratio_p(over_c, canary.count, over_s, stable.count, TAIL_RATIO)
    return over_c / canary.count, share_s, p


def _latency(canary: Traffic, stable: Traffic, alpha: float, look: int) -> Judgement:
    c, s = Histogram.from_buckets(canary.latency), Histogram.from_buckets(stable.latency)
    level = nominal_alpha(alpha * BODY_SHARE, look)
    few = _too_few(c.count, s.count, level)
    if few:
        return few
    a, p_body = rank_shift(c, s, LATENCY_TOLERANCE)
    p50_c, p50_s = c.quantile(0.5), s.quantile(0.5)
    change = f"p50 {_ms(p50_c)} vs {_ms(p50_s)}" if p50_c and p50_s else "p50 unknown"
    points = _tail_points(s)
    tail_level = nominal_alpha(alpha * (1 - BODY_SHARE) / max(len(points), 1), look)
    p_tail, tail_text, failed_text, tail_failed = 1.0, "", "", False
    for bound in points:
        share_c, share_s, p = tail_test(c, s, bound)
        if p < p_tail or not tail_text:
            tail_text = (
                f"; above {_ms(bound)}: {share_c:.2%} of canary vs {share_s:.2%} of stable "
                f"requests (stable +{TAIL_SHIFT:.0%})"
            )
        if p < tail_level and not tail_failed:
            tail_failed = True
            failed_text = tail_text
        p_tail = min(p_tail, p)
    what = (
        f"canary slower than stable+{LATENCY_TOLERANCE:.0%} in {a:.0%} of request pairs, {change}"
    )
    p = min(p_body, p_tail)
    if p_body < level:
        return Judgement(
            "Fail",
            a,
            0.5,
            p,
            level,
            f"latency regression: {what}{tail_text} (rank test p={p_body:.2g} < {level:.2g})",
        )
    if tail_failed:
        return Judgement(
            "Fail",
            a,
            0.5,
            p,
            tail_level,
            f"latency tail regression: {what}{failed_text} "
            f"(tail test p={p_tail:.2g} < {tail_level:.2g})",
        )
    return Judgement(
        "Pass", a, 0.5, p, level, f"no significant latency regression: {what}{tail_text}"
    )


def _ms(seconds: float | None) -> str:
    return "?" if seconds is None else f"{seconds * 1000:.0f}ms"
