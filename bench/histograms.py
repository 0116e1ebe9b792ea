"""Where an operator's time went between two reads of its /metrics: the difference of
its histograms (count, mean, and a quantile read from the buckets).

The operator's histograms (modelship_reconcile_duration_seconds,
modelship_workqueue_queue_duration_seconds, modelship_kube_request_duration_seconds,
modelship_metrics_query_duration_seconds) are cumulative since it started; a phase of a
benchmark is the difference of two snapshots.
"""

from __future__ import annotations

import math
import urllib.request
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

Labels = tuple[tuple[str, str], ...]


@dataclass
class Series:
    count: float = 0.0
    total: float = 0.0
    buckets: dict[float, float] = field(default_factory=dict)  # le -> cumulative count

    def minus(self, before: Series | None) -> Series:
        if before is None:
            return self
        return Series(
            self.count - before.count,
            self.total - before.total,
            {le: c - before.buckets.get(le, 0.0) for le, c in self.buckets.items()},
        )

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else math.nan

    def quantile(self, q: float) -> float:
        """The upper bound of the bucket holding quantile ``q`` (an upper estimate)."""
        if not self.count:
            return math.nan
        for le in sorted(self.buckets):
            if self.buckets[le] >= q * self.count:
                return le
        return math.inf


Snapshot = dict[tuple[str, Labels], Series]


def snapshot(metrics_url: str, prefix: str = "modelship_") -> Snapshot:
    """Every histogram named ``prefix...`` in the operator's /metrics, by name and labels."""
    with urllib.request.urlopen(metrics_url, timeout=5) as resp:
        return parse(resp.read().decode(), prefix)


def parse(text: str, prefix: str, keep: Mapping[str, Collection[str]] | None = None) -> Snapshot:
    """The histograms named ``prefix...`` in a /metrics text; with ``keep``, only series
    whose label ``k`` is one of ``keep[k]`` (the API server's have thousands)."""
    found: Snapshot = {}
    for family in text_string_to_metric_families(text):
        if family.type != "histogram" or not family.name.startswith(prefix):
            continue
        for sample in family.samples:
            if keep and any(sample.labels.get(k) not in v for k, v in keep.items()):
                continue
            labels = tuple(sorted((k, v) for k, v in sample.labels.items() if k != "le"))
            series = found.setdefault((family.name, labels), Series())
            if sample.name.endswith("_count"):
                series.count = sample.value
            elif sample.name.endswith("_sum"):
                series.total = sample.value
            elif sample.name.endswith("_bucket"):
                series.buckets[float(sample.labels["le"])] = sample.value
    return found


def between(before: Snapshot, after: Snapshot) -> Snapshot:
    """What was observed between two snapshots; series with no observation left out."""
    diff = {key: series.minus(before.get(key)) for key, series in after.items()}
    return {key: series for key, series in diff.items() if series.count > 0}


def table(diff: Snapshot, seconds: float) -> list[str]:
    """Markdown rows: histogram, labels, count per second, mean and p99 in ms."""
    rows = [
        "| histogram | labels | per s | mean ms | p99 ms (bucket bound) |",
        "|---|---|---|---|---|",
    ]
    for (name, labels), series in sorted(diff.items(), key=lambda kv: -kv[1].total):
        shown = ",".join(f"{k}={v}" for k, v in labels) or "-"
        rows.append(
            f"| {name.removeprefix('modelship_')} | {shown} | {series.count / seconds:.1f} | "
            f"{series.mean * 1000:.1f} | {series.quantile(0.99) * 1000:.0f} |"
        )
    return rows
