#!/usr/bin/env python3
"""Offline evaluation of a model version before promotion: a ModelPromotion's evaluationJob.

    python examples/evaluate.py [--holdout examples/evaluation/holdout.csv]
                                [--requests 300] [--concurrency 4] [--seconds 20]

Three validations, each a named result in the termination message (the promotion's
gates.evaluationThresholds hold bounds on them; docs/promotion.md, "Evaluation Job"):

- functional: the served model's accuracy on a labelled hold-out set (this example
  ships one: examples/evaluation/holdout.csv, drawn from examples/train.py's generator
  with a seed training never uses), scored through the source's Service
  -> ``accuracy``, ``holdout_rows``;
- performance: a short, bounded load on the source's Service (one-row requests, at
  most --requests and --seconds) -> ``p95_latency_ms``, ``requests_per_second``,
  ``error_rate``;
- security: the model artifact scanned for pickle opcodes that import or call
  dangerous globals (os.system, builtins.eval, ...), with picklescan
  -> ``unsafe_pickle_ops`` (dangerous globals found), ``suspicious_pickle_ops``,
  ``pickle_files_scanned``. Only file:// artifacts are scanned here (an s3:// or hf://
  one would be downloaded first in a real pipeline).

The operator puts the model and the source in env: MODELSHIP_MODEL_NAME, _VERSION,
_URI, _DIGEST and MODELSHIP_SOURCE_URL (http://SOURCE.NAMESPACE.svc:PORT). Exit status
0 when every validation ran (the thresholds decide), 1 when one could not run.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BATCH = 200  # hold-out rows per predict request


def predict(base: str, model: str, rows: list[dict[str, float]], timeout: float) -> list[float]:
    body = json.dumps({"instances": rows}).encode()
    request = urllib.request.Request(
        f"{base}/v1/models/{model}:predict",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return [float(p) for p in json.loads(response.read())["predictions"]]


def functional(base: str, model: str, holdout: Path, timeout: float) -> dict[str, float]:
    with open(holdout, newline="") as f:
        table = list(csv.DictReader(f))
    labels = [float(r.pop("label")) for r in table]
    rows = [{k: float(v) for k, v in r.items()} for r in table]
    correct = 0
    for start in range(0, len(rows), BATCH):
        scores = predict(base, model, rows[start : start + BATCH], timeout)
        chunk = labels[start : start + BATCH]
        correct += sum((s > 0.5) == (y > 0.5) for s, y in zip(scores, chunk, strict=True))
    return {"accuracy": correct / len(rows), "holdout_rows": float(len(rows))}


def performance(
    base: str,
    model: str,
    holdout: Path,
    requests: int,
    concurrency: int,
    seconds: float,
    timeout: float,
) -> dict[str, float]:
    with open(holdout, newline="") as f:
        rows = [{k: float(v) for k, v in r.items() if k != "label"} for r in csv.DictReader(f)]
    deadline = time.monotonic() + seconds

    def one(i: int) -> float | None:
        if time.monotonic() > deadline:
            return math.nan  # not sent: the time budget is spent
        started = time.perf_counter()
        try:
            predict(base, model, [rows[i % len(rows)]], timeout)
        except (OSError, ValueError, KeyError):
            return None
        return time.perf_counter() - started

    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        results = list(pool.map(one, range(requests)))
    elapsed = time.perf_counter() - began
    sent = [r for r in results if r is None or not math.isnan(r)]
    latencies = sorted(r for r in sent if r is not None)
    errors = sum(1 for r in sent if r is None)
    if not latencies:
        raise RuntimeError(f"no request to {base} succeeded ({errors} failed)")
    p95 = latencies[min(len(latencies) - 1, math.ceil(0.95 * len(latencies)) - 1)]
    return {
        "p95_latency_ms": round(p95 * 1000, 3),
        "requests_per_second": round(len(sent) / elapsed, 2),
        "error_rate": errors / len(sent),
        "load_requests": float(len(sent)),
    }


PICKLE_SUFFIXES = {".pkl", ".pickle", ".joblib", ".pt", ".pth", ".bin", ".ckpt", ".npy"}


def security(uri: str) -> dict[str, float]:
    """Dangerous imports in the artifact's pickles (picklescan: a maintained scanner
    that reads opcodes without unpickling anything)."""
    from picklescan.scanner import scan_directory_path, scan_file_path

    if not uri.startswith("file://"):
        print(f"security: {uri} is not a local artifact; not scanned", file=sys.stderr)
        return {"unsafe_pickle_ops": 0.0, "suspicious_pickle_ops": 0.0, "pickle_files_scanned": 0.0}
    path = Path(uri.removeprefix("file://"))
    result = scan_directory_path(str(path)) if path.is_dir() else scan_file_path(str(path))
    if result.scan_err:
        raise RuntimeError(f"picklescan could not scan {path}")
    for found in result.globals:
        if str(found.safety.value) != "innocuous":
            print(f"security: {found.module}.{found.name} ({found.safety.value})", file=sys.stderr)
    return {
        "unsafe_pickle_ops": float(result.issues_count),
        "suspicious_pickle_ops": float(getattr(result, "suspicious_count", 0)),
        "pickle_files_scanned": float(result.scanned_files),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--holdout", type=Path, default=HERE / "evaluation" / "holdout.csv")
    parser.add_argument("--requests", type=int, default=300, help="load: at most this many")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20.0, help="load: at most this long")
    parser.add_argument("--timeout", type=float, default=5.0, help="per request, seconds")
    args = parser.parse_args()
    env = os.environ
    base = env.get("MODELSHIP_SOURCE_URL", "").rstrip("/")
    model = env.get("MODELSHIP_MODEL_NAME", "")
    uri = env.get("MODELSHIP_MODEL_URI", "")
    if not base or not model:
        print("MODELSHIP_SOURCE_URL and MODELSHIP_MODEL_NAME must be set", file=sys.stderr)
        return 1
    termination = Path(env.get("MODELSHIP_TERMINATION_LOG", "/dev/termination-log"))
    results: dict[str, Any] = {}
    try:
        results.update(functional(base, model, args.holdout, args.timeout))
        results.update(
            performance(
                base,
                model,
                args.holdout,
                args.requests,
                args.concurrency,
                args.seconds,
                args.timeout,
            )
        )
        results.update(security(uri))
    except (OSError, RuntimeError, ValueError, urllib.error.URLError) as exc:
        # The termination message says why, where `modelship promotion status` shows it.
        why = f"evaluation could not run: {exc}"
        print(why, file=sys.stderr)
        termination.write_text(why[:4000])
        return 1
    text = json.dumps(results, sort_keys=True)
    print(text)
    termination.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
