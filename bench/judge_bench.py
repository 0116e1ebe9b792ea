#!/usr/bin/env python3
"""Decision quality of canary judges on simulated traffic (no cluster needed).

Each simulated canary runs for ``--intervals`` analysis intervals. Every interval the
canary serves ``n`` requests and stable ``STABLE_SHARE`` times as many (a canary at
20 % weight); latencies are drawn from a lognormal (median 40 ms, sigma 0.35) and
bucketed with the runtime's own latency buckets, errors are Bernoulli. Policies see
only what production gives them: per-interval bucket counts and request/error
counters. A policy that says Fail at an interval rolls the canary back there
(failureLimit 1). Scenarios:

- healthy: canary latency scaled by a factor drawn from [0.97, 1.03] per canary,
  same error rate (0.5 %) — real pods differ by a few percent;
- latency+25%: every canary request 25 % slower;
- errors+1pt: canary error rate 1.5 % instead of 0.5 %;
- tail: 3 % of canary requests 4x slower, median unchanged.

Policies, side by side:

- judge: modelship's ``compare`` checks (latency and errorRate) on the counts since
  the canary started, look k spending alpha / (k (k + 1));
- static: Flagger-style per interval: p99 <= 150 ms and error rate <= 1 %;
- relative: per interval: canary p99 <= 1.2 x stable p99 and error rate <= 1 %;
- mann-whitney: Kayenta-style per interval: one-sided rank test on latency buckets and
  an exact test on errors, each at 98 % confidence, no tolerance.

Reports, per scenario and traffic level: the share rolled back, and the mean
interval at which it happened. Nothing here asserts a threshold.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from modelship.analysis.histogram import Histogram
from modelship.analysis.judge import Traffic, judge, rank_shift, rate_ratio_p
from modelship.runtime.metrics import LATENCY_BUCKETS

STABLE_SHARE = 4
MEDIAN = 0.040
SIGMA = 0.35
ERROR_RATE = 0.005
BOUNDS = np.array(LATENCY_BUCKETS)


@dataclass(frozen=True)
class Scenario:
    name: str
    regression: bool
    scale: Callable[[np.random.Generator], float]
    error_rate: float = ERROR_RATE
    tail_share: float = 0.0
    tail_factor: float = 1.0


SCENARIOS = [
    Scenario("healthy", False, lambda rng: float(rng.uniform(0.97, 1.03))),
    Scenario("latency+25%", True, lambda rng: 1.25),
    Scenario("errors+1pt", True, lambda rng: 1.0, error_rate=0.015),
    Scenario("tail 3% x4", True, lambda rng: 1.0, tail_share=0.03, tail_factor=4.0),
]


@dataclass
class Interval:
    """One interval of one track: bucket counts (not cumulative), requests, errors."""

    counts: np.ndarray
    requests: int
    errors: int


def draw(
    rng: np.random.Generator,
    n: int,
    scale: float,
    error_rate: float,
    tail_share: float = 0.0,
    tail_factor: float = 1.0,
) -> Interval:
    latency = MEDIAN * scale * np.exp(SIGMA * rng.standard_normal(n))
    if tail_share:
        latency[rng.random(n) < tail_share] *= tail_factor
    counts = np.bincount(np.searchsorted(BOUNDS, latency, side="left"), minlength=len(BOUNDS) + 1)
    return Interval(counts, n, int(rng.binomial(n, error_rate)))


def traffic(parts: list[Interval]) -> Traffic:
    counts = np.sum([p.counts for p in parts], axis=0)
    cumulative = np.cumsum(counts)
    buckets = {
        float(b): float(c)
        for b, c in zip([*LATENCY_BUCKETS, float("inf")], cumulative, strict=True)
    }
    return Traffic(
        buckets, float(sum(p.requests for p in parts)), float(sum(p.errors for p in parts))
    )


Policy = Callable[[list[Interval], list[Interval]], bool]  # True: roll back now


def judge_policy(confidence: float) -> Policy:
    def decide(canary: list[Interval], stable: list[Interval]) -> bool:
        c, s = traffic(canary), traffic(stable)
        look = len(canary)
        return any(
            judge(c, s, metric=m, confidence=confidence, look=look).verdict == "Fail"
            for m in ("latency", "errorRate")
        )

    return decide


def static(canary: list[Interval], stable: list[Interval]) -> bool:
    c = traffic(canary[-1:])
    p99 = Histogram.from_buckets(c.latency).quantile(0.99) or 0.0
    return p99 > 0.150 or c.errors / c.requests > 0.01


def relative(canary: list[Interval], stable: list[Interval]) -> bool:
    c, s = traffic(canary[-1:]), traffic(stable[-1:])
    p99_c = Histogram.from_buckets(c.latency).quantile(0.99) or 0.0
    p99_s = Histogram.from_buckets(s.latency).quantile(0.99) or 0.0
    return p99_c > 1.2 * p99_s or c.errors / c.requests > 0.01


def mann_whitney(canary: list[Interval], stable: list[Interval]) -> bool:
    c, s = traffic(canary[-1:]), traffic(stable[-1:])
    _, p_latency = rank_shift(
        Histogram.from_buckets(c.latency), Histogram.from_buckets(s.latency), 0.0
    )
    p_errors = rate_ratio_p(c.errors, c.requests, s.errors, s.requests, 1.0)
    return p_latency < 0.02 or p_errors < 0.02


POLICIES: dict[str, Policy] = {
    "judge (0.98)": judge_policy(0.98),
    "judge (0.99)": judge_policy(0.99),
    "static": static,
    "relative": relative,
    "mann-whitney": mann_whitney,
}


def run(
    scenario: Scenario, n: int, canaries: int, intervals: int, seed: int
) -> dict[str, list[int | None]]:
    """For each policy, the interval (1-based) at which each canary was rolled back, or None."""
    rng = np.random.default_rng(seed)
    out: dict[str, list[int | None]] = {name: [] for name in POLICIES}
    for _ in range(canaries):
        scale = scenario.scale(rng)
        canary = [
            draw(rng, n, scale, scenario.error_rate, scenario.tail_share, scenario.tail_factor)
            for _ in range(intervals)
        ]
        stable = [draw(rng, n * STABLE_SHARE, 1.0, ERROR_RATE) for _ in range(intervals)]
        for name, policy in POLICIES.items():
            at = next((k for k in range(1, intervals + 1) if policy(canary[:k], stable[:k])), None)
            out[name].append(at)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--canaries", type=int, default=1000, help="simulated canaries per scenario"
    )
    parser.add_argument("--intervals", type=int, default=10, help="analysis intervals per canary")
    parser.add_argument(
        "--requests", type=int, nargs="+", default=[100, 1000], help="canary requests per interval"
    )
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    print(
        f"{args.canaries} canaries per scenario, {args.intervals} intervals, stable traffic "
        f"{STABLE_SHARE}x canary\n"
    )
    print("| scenario | canary req/interval | policy | rolled back | within 3 | mean interval |")
    print("|---|---|---|---|---|---|")
    for n in args.requests:
        for scenario in SCENARIOS:
            started = time.monotonic()
            result = run(scenario, n, args.canaries, args.intervals, args.seed)
            for name, ats in result.items():
                hit = [a for a in ats if a is not None]
                within3 = sum(1 for a in hit if a <= 3)
                mean = f"{np.mean(hit):.1f}" if hit else "-"
                print(
                    f"| {scenario.name} | {n} | {name} | {len(hit) / len(ats):.1%} | "
                    f"{within3 / len(ats):.1%} | {mean} |"
                )
            print(
                f"<!-- {scenario.name} @ {n}: {time.monotonic() - started:.0f} s -->",
                file=sys.stderr,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
