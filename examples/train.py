#!/usr/bin/env python3
"""Train the example fraud model and write it in the reference runtime's format.

    python examples/train.py --out /tmp/fraud-1.0.0 [--rows 20000] [--seed 1] [--shift 0]

Synthetic, labelled transactions (numpy only), logistic regression fitted by
Newton's method (IRLS) on standardised features. Writes OUT/model.json and the
training data as OUT/train.csv. ``--shift`` moves every feature's mean by that many
standard deviations: train on shifted data to make the "retrained" version.
A retraining Job runs this same script; ``--report-version`` tells the operator the
new version and where the model is (docs/drift.md, "How a Job reports its result").
"""

from __future__ import annotations

import argparse
import csv
import json
import os
from pathlib import Path

import numpy as np

FEATURES = ["amount", "account_age_days", "merchant_risk", "hour_of_day"]
TRUE_WEIGHTS = np.array([1.2, -0.8, 1.5, 0.3])


def synthesize(rows: int, seed: int, shift: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    means = np.array([120.0, 700.0, 0.3, 13.0])
    stds = np.array([80.0, 400.0, 0.15, 5.0])
    x = rng.normal(means + shift * stds, stds, size=(rows, len(FEATURES)))
    z = ((x - means) / stds) @ TRUE_WEIGHTS - 2.0
    y = (rng.random(rows) < 1 / (1 + np.exp(-z))).astype(float)
    return x, y


def fit(x: np.ndarray, y: np.ndarray, iterations: int = 25) -> dict[str, object]:
    mean, scale = x.mean(axis=0), x.std(axis=0)
    xs = np.column_stack([np.ones(len(x)), (x - mean) / scale])
    beta = np.zeros(xs.shape[1])
    for _ in range(iterations):
        p = 1 / (1 + np.exp(-xs @ beta))
        w = p * (1 - p) + 1e-9
        hessian = xs.T @ (xs * w[:, None]) + 1e-6 * np.eye(xs.shape[1])
        step = np.linalg.solve(hessian, xs.T @ (y - p))
        beta += step
        if np.max(np.abs(step)) < 1e-8:
            break
    return {
        "format": "modelship-linear/v1",
        "task": "classification",
        "features": FEATURES,
        "weights": beta[1:].tolist(),
        "bias": float(beta[0]),
        "mean": mean.tolist(),
        "scale": scale.tolist(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", required=True, type=Path, help="directory to write")
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--shift",
        type=float,
        default=0.0,
        help="move feature means by this many standard deviations",
    )
    parser.add_argument(
        "--report-version",
        metavar="VERSION",
        help="as a retraining Job: report this version and file://OUT to the operator in "
        "the termination message ($MODELSHIP_TERMINATION_LOG or /dev/termination-log)",
    )
    args = parser.parse_args()
    x, y = synthesize(args.rows, args.seed, args.shift)
    model = fit(x, y)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "model.json").write_text(json.dumps(model, indent=2))
    with open(args.out / "train.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([*FEATURES, "label"])
        writer.writerows(np.column_stack([x, y]).round(6).tolist())
    p = 1 / (
        1
        + np.exp(
            -(
                ((x - np.array(model["mean"])) / np.array(model["scale"]))
                @ np.array(model["weights"])
                + model["bias"]
            )
        )
    )
    accuracy = float(((p > 0.5) == (y > 0.5)).mean())
    print(f"wrote {args.out / 'model.json'} ({args.rows} rows, training accuracy {accuracy:.3f})")
    if args.report_version:
        result = {"version": args.report_version, "uri": f"file://{args.out.resolve()}"}
        log = os.environ.get("MODELSHIP_TERMINATION_LOG", "/dev/termination-log")
        Path(log).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
