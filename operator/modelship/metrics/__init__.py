"""Reading metrics: the one I/O package analysis and drift get their numbers from.

Providers are the plug-in point (one Protocol): ``prometheus`` asks a Prometheus
server, ``scrape`` reads the pods' own /metrics and computes increases itself, ``noop``
has no data. ``pool`` keeps providers alive between reconciles (HTTP pools, scrape
histories); ``readings`` asks them for what an analysis round or a drift window needs
and returns plain readings, which the pure packages (analysis/, drift/) judge.
``None`` always means no data (Inconclusive, never Fail); a backend that cannot be
asked raises ProviderError.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

Labels = Mapping[str, str]


class ProviderError(Exception):
    """The backend could not be asked (down, refused, malformed answer)."""


class BackendUnreachable(ProviderError):
    """Nothing answered (refused, timed out): the round's other reads of the operator's
    own series would wait as long for the same answer, so they are not tried."""


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

    def scalar(self, promql: str) -> float | None:
        """One PromQL expression's value (query checks); ProviderError where there is
        no PromQL to ask."""
        ...

    def prime(self) -> None:
        """Take a baseline now, where increases are computed here (scrape); else nothing."""
        ...


class NoopProvider:
    """No backend: every read is no data, so every check is Inconclusive."""

    name = "noop"

    def buckets(self, metric: str, labels: Labels, window: float) -> dict[float, float] | None:
        return None

    def increase(self, metric: str, labels: Labels, window: float) -> float | None:
        return None

    def increase_by(
        self, metric: str, labels: Labels, window: float, by: tuple[str, ...]
    ) -> dict[tuple[str, ...], float] | None:
        return None

    def scalar(self, promql: str) -> float | None:
        return None

    def prime(self) -> None:
        return None
