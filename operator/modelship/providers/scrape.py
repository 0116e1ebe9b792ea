"""The ``scrape`` provider: the pods' own /metrics, deltas between two reads.

No Prometheus needed: each call reads every target, parses the text with
prometheus_client's parser and returns how much the matching series grew since the
previous read of the same target (the window is the time between reads). A counter
that went down was reset (the pod restarted): its new value is the increase.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import httpx
from prometheus_client.parser import text_string_to_metric_families

from modelship.providers import Labels, ProviderError

Series = tuple[str, tuple[tuple[str, str], ...]]


def _matches(sample_labels: dict[str, str], wanted: Labels) -> bool:
    for key, value in wanted.items():
        have = sample_labels.get(key)
        if value.startswith("~"):
            if have is None or not re.fullmatch(value[1:], have):
                return False
        elif have != value:
            return False
    return True


class ScrapeProvider:
    name = "scrape"

    def __init__(
        self, targets: Callable[[], Sequence[str]], client: httpx.Client | None = None
    ) -> None:
        """``targets`` returns the /metrics URLs to read now (pods come and go)."""
        self.targets = targets
        self.client = client or httpx.Client(timeout=5.0)
        self._last: dict[str, dict[Series, float]] = {}

    def _read(self, metric_names: set[str], labels: Labels) -> dict[Series, float]:
        """Increase of every matching series summed over targets since their last read."""
        grown: dict[Series, float] = {}
        urls = list(self.targets())
        if not urls:
            return grown
        failures = []
        for url in urls:
            try:
                resp = self.client.get(url)
                resp.raise_for_status()
            except httpx.HTTPError as exc:
                failures.append(f"{url}: {exc}")
                continue
            now: dict[Series, float] = {}
            for family in text_string_to_metric_families(resp.text):
                for s in family.samples:
                    if s.name in metric_names and _matches(s.labels, labels):
                        key = (s.name, tuple(sorted(s.labels.items())))
                        now[key] = now.get(key, 0.0) + float(s.value)
            before = self._last.get(url, {})
            self._last[url] = {**before, **now}
            for key, value in now.items():
                if key not in before:
                    continue  # first read of this series: a baseline, no increase yet
                old = before[key]
                delta = value - old if value >= old else value
                short = (key[0], tuple(kv for kv in key[1] if kv[0] == "le"))
                grown[short] = grown.get(short, 0.0) + delta
        if failures and len(failures) == len(urls):
            raise ProviderError("no pod answered: " + "; ".join(failures[:3]))
        return grown

    def buckets(self, metric: str, labels: Labels, window: float) -> dict[float, float] | None:
        grown = self._read({f"{metric}_bucket"}, labels)
        out: dict[float, float] = {}
        for (_, le), value in grown.items():
            bound = float(dict(le)["le"])
            out[bound] = out.get(bound, 0.0) + value
        return out or None

    def increase(self, metric: str, labels: Labels, window: float) -> float | None:
        grown = self._read({metric}, labels)
        return sum(grown.values()) if grown else None
