"""The ``scrape`` provider: the pods' own /metrics, increases computed here.

No Prometheus needed: every read fetches each target's page (pages younger than
``fresh`` seconds are reused, so one analysis round reads each pod once), parses it
with prometheus_client's parser and keeps the samples for ``keep`` seconds. An
increase over a window is computed like PromQL's ``increase``: from the last read at
or before the window's start (or the earliest one kept) to the newest, adding up
rises between successive reads and treating a fall as a counter reset (the pod
restarted). A series absent from an earlier read counts from zero (a first error
creates ``code="500"``); so does a pod first seen after the provider's first read
(a new pod starts at zero), while pods present at the first read only give a
baseline there.
"""

from __future__ import annotations

import itertools
import math
import re
import time
from collections.abc import Callable, Sequence

import httpx
from prometheus_client.parser import text_string_to_metric_families

from modelship.providers import Labels, ProviderError

Series = tuple[str, tuple[tuple[str, str], ...]]
Page = dict[Series, float]


def _matches(sample_labels: dict[str, str], wanted: Labels) -> bool:
    for key, value in wanted.items():
        have = sample_labels.get(key)
        if value.startswith("~"):
            if have is None or not re.fullmatch(value[1:], have):
                return False
        elif have != value:
            return False
    return True


def _parse(text: str) -> Page:
    page: Page = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            page[(s.name, tuple(sorted(s.labels.items())))] = float(s.value)
    return page


class ScrapeProvider:
    name = "scrape"

    def __init__(
        self,
        targets: Callable[[], Sequence[str]],
        client: httpx.Client | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        fresh: float = 1.0,
        keep: float = 6 * 3600.0,
        count_from_zero: bool = False,
    ) -> None:
        """``targets`` returns the /metrics URLs to read now (pods come and go);
        ``count_from_zero``: every pod's counters are new (a canary's pods), not only
        those first seen after the first read."""
        self.count_from_zero = count_from_zero
        self.targets = targets
        self.client = client or httpx.Client(timeout=5.0)
        self.clock = clock
        self.fresh = fresh
        self.keep = keep
        self._history: dict[str, list[tuple[float, Page]]] = {}
        self._first_read: float | None = None
        self._last_read: float | None = None

    def _read(self) -> None:
        now = self.clock()
        if self._last_read is not None and now - self._last_read < self.fresh:
            return
        urls = list(self.targets())
        failures = []
        for url in urls:
            try:
                resp = self.client.get(url)
                resp.raise_for_status()
            except httpx.HTTPError as exc:
                failures.append(f"{url}: {exc}")
                continue
            history = self._history.setdefault(url, [])
            if not history and (self._first_read is not None or self.count_from_zero):
                history.append((-math.inf, {}))  # a new pod: its counters began at 0
            history.append((now, _parse(resp.text)))
            old = [i for i, (t, _) in enumerate(history) if t < now - self.keep]
            if old:
                del history[: old[-1]]  # keep the last read before the kept span as a base
        for url in set(self._history) - set(urls):
            del self._history[url]  # the pod is gone
        if urls and len(failures) == len(urls):
            raise ProviderError("no pod answered: " + "; ".join(failures[:3]))
        if self._first_read is None:
            self._first_read = now
        self._last_read = now

    def prime(self) -> None:
        """Read now: pods present at the first read only give a baseline."""
        self._read()

    def _increase(
        self, names: set[str], labels: Labels, window: float, keep: tuple[str, ...] = ("le",)
    ) -> dict[Series, float]:
        """Increase of each matching series (labels reduced to ``keep``) over the window."""
        self._read()
        start = self.clock() - window
        grown: dict[Series, float] = {}
        for history in self._history.values():
            base = max((i for i, (t, _) in enumerate(history) if t <= start), default=0)
            reads = [page for _, page in history[base:]]
            for before, after in itertools.pairwise(reads):
                for key, value in after.items():
                    if key[0] not in names or not _matches(dict(key[1]), labels):
                        continue
                    old = before.get(key, 0.0)
                    short = (key[0], tuple(kv for kv in key[1] if kv[0] in keep))
                    grown[short] = grown.get(short, 0.0) + (value - old if value >= old else value)
        return grown

    def buckets(self, metric: str, labels: Labels, window: float) -> dict[float, float] | None:
        out: dict[float, float] = {}
        for (_, le), value in self._increase({f"{metric}_bucket"}, labels, window).items():
            bound = float(dict(le)["le"])
            out[bound] = out.get(bound, 0.0) + value
        return out or None

    def increase(self, metric: str, labels: Labels, window: float) -> float | None:
        grown = self._increase({metric}, labels, window)
        return sum(grown.values()) if grown else None

    def increase_by(
        self, metric: str, labels: Labels, window: float, by: tuple[str, ...]
    ) -> dict[tuple[str, ...], float] | None:
        out: dict[tuple[str, ...], float] = {}
        for (_, kept), value in self._increase({metric}, labels, window, by).items():
            key = tuple(dict(kept).get(label, "") for label in by)
            out[key] = out.get(key, 0.0) + value
        return out or None
