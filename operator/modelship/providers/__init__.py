"""Metric providers: where analysis reads the runtime's metrics from.

One Protocol, one screen: histogram bucket increases and counter increases over a
window. ``prometheus`` asks a Prometheus server; ``scrape`` reads the pods' own
/metrics and computes increases itself (``pool`` keeps them between reconciles).
``None`` always means no data (which the checks turn into Inconclusive, never Fail);
an unreachable backend raises ProviderError.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

Labels = Mapping[str, str]


class ProviderError(Exception):
    """The backend could not be asked (down, refused, malformed answer)."""


class MetricsProvider(Protocol):
    name: str

    def buckets(self, metric: str, labels: Labels, window: float) -> dict[float, float] | None:
        """Increase of each cumulative ``le`` bucket of histogram ``metric`` over the window."""
        ...

    def increase(self, metric: str, labels: Labels, window: float) -> float | None:
        """Increase of counter ``metric`` (all series matching ``labels``) over the window."""
        ...

    def increase_by(
        self, metric: str, labels: Labels, window: float, by: tuple[str, ...]
    ) -> dict[tuple[str, ...], float] | None:
        """Increases summed per value of the ``by`` labels (e.g. feature and le)."""
        ...
