#!/usr/bin/env python3
"""Drift decisions on synthetic windows (no cluster needed): false alarms, detection, cost.

A reference is built from 20,000 training rows of 50 independent standard-normal
features (10 quantile bins each). Live windows of 200, 2,000 and 20,000 rows are
drawn either from the same distribution (no drift) or with a 0.25-sigma mean shift in
5 of the 50 features, counted into the reference's bins as the runtime's histograms
do, and judged by:

- modelship: ``drift.assess`` (Holm-corrected chi-square significance and the
  method's score at its default threshold), for each method;
- fixed threshold: any feature's JS distance > 0.1 (or PSI > 0.1);
- uncorrected tests: any feature's chi-square p < 0.05;
- half the features: at least half of them significant at p < 0.05.

It reports the share of windows raising Drifted, and the CPU time of one monitoring
cycle over 1,000 ModelDeployments x 50 features. Nothing here asserts a threshold.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np

from modelship.drift.assess import ALPHA, assess
from modelship.drift.live import live_counts
from modelship.drift.methods import METHODS
from modelship.drift.reference import (
    NumericFeature,
    Reference,
    bin_counts,
    numeric_feature,
    parse,
)
from modelship.drift.scores import scores

FEATURES = 50
SHIFTED = 5
SHIFT = 0.25


def reference(rng: np.random.Generator) -> Reference:
    return Reference(
        20_000,
        {f"f{i}": numeric_feature(rng.standard_normal(20_000), 10) for i in range(FEATURES)},
    )


def window(
    ref: Reference, rng: np.random.Generator, rows: int, shift: float
) -> dict[str, list[float]]:
    live = {}
    for i, (name, f) in enumerate(ref.features.items()):
        assert isinstance(f, NumericFeature)
        values = rng.standard_normal(rows) + (shift if i < SHIFTED else 0.0)
        live[name] = list(bin_counts(f, values))
    return live


Policy = Callable[[Reference, dict[str, list[float]]], bool]


def _matrix(ref: Reference, live: dict[str, list[float]]) -> tuple[np.ndarray, np.ndarray]:
    r = np.array([f.counts for f in ref.features.values()])
    return r, np.array([live[n] for n in ref.features])


def fixed(method: str, bound: float) -> Policy:
    def decide(ref: Reference, live: dict[str, list[float]]) -> bool:
        values, _ = scores(method, *_matrix(ref, live))
        return bool((values > bound).any())

    return decide


def uncorrected(ref: Reference, live: dict[str, list[float]]) -> bool:
    _, p = scores("jensenshannon", *_matrix(ref, live))
    return bool((p < 0.05).any())


def half(ref: Reference, live: dict[str, list[float]]) -> bool:
    _, p = scores("jensenshannon", *_matrix(ref, live))
    return bool((p < 0.05).mean() >= 0.5)


def judged(method: str, alpha: float) -> Policy:
    def decide(ref: Reference, live: dict[str, list[float]]) -> bool:
        return assess(ref, live, method, alpha=alpha).verdict == "Drifted"

    return decide


def policies(alpha: float) -> dict[str, Policy]:
    out: dict[str, Policy] = {f"modelship {m}": judged(m, alpha) for m in METHODS}
    out["fixed JS > 0.1"] = fixed("jensenshannon", 0.1)
    out["fixed PSI > 0.1"] = fixed("psi", 0.1)
    out["uncorrected p < 0.05"] = uncorrected
    out["half the features"] = half
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=1000, help="windows per case")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--alpha", type=float, default=ALPHA, help="family-wise error per window")
    parser.add_argument(
        "--shifts",
        default=str(SHIFT),
        help="comma-separated mean shifts (in sigmas) of the drifted features (default 0.25)",
    )
    args = parser.parse_args(argv)
    shifts = [float(x) for x in args.shifts.split(",")]
    rng = np.random.default_rng(args.seed)
    ref = reference(rng)
    rows_list = [200, 2000, 20000]
    pols = policies(args.alpha)
    results: dict[tuple[str, int, float], int] = {}
    for rows in rows_list:
        for shift in (0.0, *shifts):
            for _ in range(args.windows):
                live = window(ref, rng, rows, shift)
                for name, policy in pols.items():
                    key = (name, rows, shift)
                    results[key] = results.get(key, 0) + policy(ref, live)
            print(f"<!-- {rows} rows, shift {shift} done -->", file=sys.stderr, flush=True)
    print(
        f"{args.windows} windows per case; {FEATURES} features; drift = a mean shift of "
        f"{', '.join(map(str, shifts))} sigma in {SHIFTED} of them\n"
    )
    for shift in shifts:
        head = " | ".join(f"{r} rows: no drift / drift" for r in rows_list)
        print(f"\nshift {shift} sigma\n\n| policy | {head} |")
        print("|---|" + "---|" * len(rows_list))
        for name in pols:
            cells = []
            for r in rows_list:
                quiet, drifted = results[(name, r, 0.0)], results[(name, r, shift)]
                cells.append(f"{quiet / args.windows:.1%} / {drifted / args.windows:.1%}")
            print(f"| {name} | " + " | ".join(cells) + " |")
    cycle(ref, rng)
    return 0


def exposed(ref: Reference, live: dict[str, list[float]]) -> dict[tuple[str, ...], float]:
    """A window's counts as a provider returns them: cumulative buckets by (feature, le)."""
    out: dict[tuple[str, ...], float] = {}
    for name, f in ref.features.items():
        assert isinstance(f, NumericFeature)
        bounds = [*map(repr, f.edges), "+Inf"]
        out |= {(name, le): float(c) for le, c in zip(bounds, np.cumsum(live[name]), strict=True)}
    return out


def cycle(ref: Reference, rng: np.random.Generator) -> None:
    """CPU of one monitoring cycle over 1,000 ModelDeployments x 50 features, 2,000-row
    windows: from the provider's buckets to the verdict (live_counts + assess), the
    reference already parsed (the operator re-parses only a changed ConfigMap)."""
    windows = [exposed(ref, window(ref, rng, 2000, 0.0)) for _ in range(20)]
    text = ref.dumps()
    started = time.process_time()
    for _ in range(100):
        assert parse(text).bucket_positions
    print(
        f"\nparsing a {FEATURES}-feature reference ({len(text) / 1024:.0f} KiB JSON), "
        f"once per ConfigMap version: {(time.process_time() - started) * 10:.1f} ms CPU"
    )
    # Five cycles per method: this shared 2-core VM's CPU time per cycle varies by up to
    # half from one run to the next, so the median and the range are printed.
    for method in METHODS:
        runs = []
        for _ in range(5):
            started = time.process_time()
            for i in range(1000):
                assess(ref, live_counts(ref, windows[i % len(windows)], None), method)
            runs.append(time.process_time() - started)
        print(
            f"\ncycle over 1,000 ModelDeployments x {FEATURES} features ({method}): "
            f"median {statistics.median(runs):.2f} s CPU "
            f"(5 cycles: {min(runs):.2f}-{max(runs):.2f})",
            end="",
        )
    print()


if __name__ == "__main__":
    sys.exit(main())
