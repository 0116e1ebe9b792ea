"""A family of latency models for the judge's benchmark, and what production gives of them.

A model is a latency distribution (shape and median) plus the histogram buckets the
server that produces it would expose: the modelship runtime's buckets for classic
inference (milliseconds), vLLM's own for LLM serving (time to first token, end-to-end
request latency; the bounds are vLLM's published defaults). Simulated traffic never
leaves the bucket counts: a track's interval is a multinomial draw over the model's
bucket probabilities (exact, from the distribution's CDF), which is what a Prometheus
``increase()`` over the interval gives, without drawing every request.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import gammainc, gammaincinv, ndtr

from modelship.runtime.metrics import LATENCY_BUCKETS

# vLLM's default bucket bounds (seconds) for the histograms a latency check reads.
VLLM_TTFT_BUCKETS = (
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5,
    10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0,
)  # fmt: skip
VLLM_E2E_BUCKETS = (
    0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0,
    240.0, 480.0, 960.0, 1920.0, 7680.0,
)  # fmt: skip


@dataclass(frozen=True)
class Shape:
    """A latency distribution with median 1, as a CDF of x > 0."""

    name: str
    kind: str  # lognormal | gamma | mixture
    sigma: float = 0.35  # lognormal: sd of log latency; mixture: of its fast part
    k: float = 3.0  # gamma shape
    slow_share: float = 0.0  # mixture: share of requests in the slow part
    slow_factor: float = 1.0  # mixture: how much slower they are

    def cdf(self, x: np.ndarray) -> np.ndarray:
        x = np.maximum(x, 1e-300)
        if self.kind == "lognormal":
            return np.asarray(ndtr(np.log(x) / self.sigma))
        if self.kind == "gamma":
            # scaled so that the median is 1
            median = float(gammaincinv(self.k, 0.5))
            return np.asarray(gammainc(self.k, x * median))
        fast = ndtr(np.log(x) / self.sigma)
        slow = ndtr(np.log(x / self.slow_factor) / self.sigma)
        return np.asarray((1 - self.slow_share) * fast + self.slow_share * slow)


SHAPES = (
    Shape("lognormal sigma 0.25", "lognormal", sigma=0.25),
    Shape("lognormal sigma 0.35", "lognormal", sigma=0.35),
    Shape("lognormal sigma 0.6", "lognormal", sigma=0.6),
    Shape("gamma k3", "gamma", k=3.0),
    Shape("mix 5% x3 slow", "mixture", sigma=0.3, slow_share=0.05, slow_factor=3.0),
)


@dataclass(frozen=True)
class Model:
    """One latency model: a shape at a median, measured with some server's buckets."""

    shape: Shape
    median: float  # seconds
    server: str  # whose buckets
    bounds: tuple[float, ...]

    @property
    def name(self) -> str:
        return f"{self.shape.name}, {_duration(self.median)} ({self.server})"

    def bucket_probabilities(
        self, scale: float, tail_share: float, tail_factor: float
    ) -> np.ndarray:
        """P(latency in each bucket) for traffic ``scale`` x slower, with ``tail_share`` of
        requests another ``tail_factor`` x slower; the last bucket is (last bound, +Inf)."""
        edges = np.array(self.bounds) / (self.median * scale)
        cdf = (1 - tail_share) * self.shape.cdf(edges)
        if tail_share:
            cdf += tail_share * self.shape.cdf(edges / tail_factor)
        return np.diff(np.concatenate(([0.0], cdf, [1.0])))


MEDIANS = (
    (0.005, "modelship", LATENCY_BUCKETS),
    (0.040, "modelship", LATENCY_BUCKETS),
    (0.300, "vLLM TTFT", VLLM_TTFT_BUCKETS),
    (2.0, "vLLM e2e", VLLM_E2E_BUCKETS),
)


def models() -> list[Model]:
    return [
        Model(shape, median, server, tuple(bounds))
        for median, server, bounds in MEDIANS
        for shape in SHAPES
    ]


def _duration(seconds: float) -> str:
    return f"{seconds:g}s" if seconds >= 1 else f"{round(seconds * 1000)}ms"


def cumulative_buckets(bounds: tuple[float, ...], counts: np.ndarray) -> dict[float, float]:
    """Per-bucket counts (last one: +Inf) as Prometheus's cumulative ``{le: count}``."""
    running = np.cumsum(counts)
    return {float(b): float(c) for b, c in zip((*bounds, math.inf), running, strict=True)}
