"""Metrics providers kept alive between rounds: one HTTP client per Prometheus address,
one scrape provider (with its read history) per ModelDeployment, revision and track."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from modelship.api.analysis import ProviderSpec
from modelship.metrics import MetricsProvider
from modelship.metrics.prometheus import PrometheusProvider
from modelship.metrics.scrape import ScrapeProvider

Targets = Callable[[str], Sequence[str]]  # track -> the track's pods' /metrics URLs
DRIFT_SCOPE = "drift"  # scrape history of drift monitoring (canaries use their revision)


class ProviderPool:
    def __init__(self) -> None:
        self._prometheus: dict[str, PrometheusProvider] = {}
        self._scrapers: dict[tuple[str, ...], ScrapeProvider] = {}

    def get(
        self,
        key: tuple[str, str],
        spec: ProviderSpec | None,
        scope: str,
        track: str,
        targets: Targets,
    ) -> MetricsProvider:
        """The spec's provider (default: scrape) for ``track``; ``scope`` separates scrape
        histories (a canary revision, or drift monitoring)."""
        if spec is not None and spec.prometheus is not None:
            address = spec.prometheus.address
            if address not in self._prometheus:
                self._prometheus[address] = PrometheusProvider(address)
            return self._prometheus[address]
        scraper_key = (*key, scope, track)
        scraper = self._scrapers.get(scraper_key)
        if scraper is None:
            # A canary's pods are new: everything they counted is the canary's traffic.
            scraper = self._scrapers[scraper_key] = ScrapeProvider(
                lambda: targets(track), count_from_zero=track == "canary"
            )
        else:
            # Each reconcile observes the pods anew: read the ones it saw, not the first's.
            scraper.targets = lambda: targets(track)
        return scraper

    def forget(
        self, key: tuple[str, str], *, only: str | None = None, keep: str | None = None
    ) -> None:
        """Drop a ModelDeployment's scrape histories: all, ``only`` one scope, or all but
        scope ``keep``."""
        for k in [k for k in self._scrapers if k[:2] == key]:
            if (only is None or k[2] == only) and k[2] != keep:
                del self._scrapers[k]
