"""The runtime's metrics contract (product.md), labelled model, version, track.

Feature histograms need different buckets per feature (the reference's bin edges,
or, without a reference, the model's own mean ± k·scale), which prometheus_client's
Histogram cannot do per label; ``FeatureHistograms`` is a small collector that can.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterator, Mapping, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.15,
    0.2,
    0.25,
    0.3,
    0.4,
    0.5,
    0.75,
    1.0,
    1.5,
    2.5,
    5.0,
    10.0,
)
PROBABILITY_BUCKETS = (*(round(0.1 * i, 1) for i in range(1, 10)), 1.0)
LABELS = ("model", "version", "track")


class FeatureHistograms(Collector):
    """``modelship_feature_value{feature}`` with per-feature bucket edges."""

    def __init__(self, labels: dict[str, str], edges: Mapping[str, Sequence[float]]) -> None:
        self._labels = labels
        self._edges = {f: sorted(set(e)) for f, e in edges.items()}
        self._counts = {f: [0] * (len(e) + 1) for f, e in self._edges.items()}
        self._sums = dict.fromkeys(self._edges, 0.0)
        self._lock = threading.Lock()

    def observe(self, feature: str, value: float) -> None:
        edges = self._edges.get(feature)
        if edges is None:
            return
        # Prometheus buckets are "le": a value equal to an edge belongs to that bucket.
        index = bisect.bisect_left(edges, value)
        with self._lock:
            self._counts[feature][index] += 1
            self._sums[feature] += value

    def collect(self) -> Iterator[HistogramMetricFamily]:
        family = HistogramMetricFamily(
            "modelship_feature_value",
            "Input feature values seen by the model.",
            labels=[*self._labels, "feature"],
        )
        with self._lock:
            for feature, edges in self._edges.items():
                counts = self._counts[feature]
                cumulative, running = [], 0
                for edge, count in zip([*edges, float("inf")], counts, strict=True):
                    running += count
                    le = "+Inf" if edge == float("inf") else repr(float(edge))
                    cumulative.append((le, running))
                values = [*self._labels.values(), feature]
                family.add_metric(values, cumulative, None)
                # prometheus_client drops _count/_sum when a bucket edge is negative (an
                # OpenMetrics rule); the Prometheus text format keeps them, and drift uses them.
                names = dict(zip([*self._labels, "feature"], values, strict=True))
                family.samples.append(Sample("modelship_feature_value_count", names, running))
                family.samples.append(
                    Sample("modelship_feature_value_sum", names, self._sums[feature])
                )
        yield family


class RuntimeMetrics:
    def __init__(
        self,
        labels: dict[str, str],
        feature_edges: Mapping[str, Sequence[float]],
        classification: bool,
    ) -> None:
        self.registry = CollectorRegistry()
        self.labels = labels
        self.latency = Histogram(
            "modelship_request_duration_seconds",
            "Predict request duration.",
            LABELS,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        ).labels(**labels)
        # What an HPA scales on (spec.autoscaling inFlightRequests): requests being served.
        self.in_flight = Gauge(
            "modelship_requests_in_flight",
            "Predict requests being served.",
            LABELS,
            registry=self.registry,
        ).labels(**labels)
        self._requests = Counter(
            "modelship_requests",
            "Predict requests by HTTP code.",
            [*LABELS, "code"],
            registry=self.registry,
        )
        self.categories = Counter(
            "modelship_feature_category",
            "Categorical feature values.",
            [*LABELS, "feature", "category"],
            registry=self.registry,
        )
        self.predictions = Histogram(
            "modelship_prediction_value",
            "Model outputs.",
            LABELS,
            buckets=PROBABILITY_BUCKETS if classification else LATENCY_BUCKETS,
            registry=self.registry,
        ).labels(**labels)
        # Series exist from the start (at 0), so a rate over the first requests is right:
        # Prometheus cannot see an increase in a series whose first sample is already 5.
        for code in ("200", "400", "500"):
            self._requests.labels(**labels, code=code)
        self.features = FeatureHistograms(labels, feature_edges)
        self.registry.register(self.features)

    def request(self, code: int) -> None:
        self._requests.labels(**self.labels, code=str(code)).inc()
