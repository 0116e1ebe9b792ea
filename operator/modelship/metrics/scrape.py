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

import math
import re
import sys
import time
from collections.abc import Callable, Sequence

import httpx
import numpy as np
from prometheus_client.parser import text_string_to_metric_families

from modelship import telemetry
from modelship.metrics import Labels, ProviderError

Series = tuple[str, tuple[tuple[str, str], ...]]
Read = tuple[float, "np.ndarray"]  # when, and each indexed series' value (NaN: absent)


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
        those first seen after the first read; ``keep``: the longest history kept (it
        shrinks to the longest window asked so far plus one read)."""
        self.count_from_zero = count_from_zero
        self.targets = targets
        self.client = client or httpx.Client(timeout=5.0)
        self.clock = clock
        self.fresh = fresh
        self.keep = keep
        # Every series any pod exposed -> its place in the reads' arrays: label sets
        # repeat across pods and reads, so each read costs 8 bytes per series.
        self._index: dict[Series, int] = {}
        self._pairs: dict[tuple[str, str], tuple[str, str]] = {}
        self._history: dict[str, list[Read]] = {}
        self._longest_window = 0.0
        self._first_read: float | None = None
        self._last_read: float | None = None

    def _parse(self, text: str) -> np.ndarray:
        values: dict[int, float] = {}
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                key = (s.name, tuple(sorted(s.labels.items())))
                column = self._index.get(key)
                if column is None:
                    # Kept for good: interned, the many series that share a label
                    # ("track", "stable") share one string and one pair.
                    pairs = tuple(
                        self._pairs.setdefault(kv, (sys.intern(kv[0]), sys.intern(kv[1])))
                        for kv in key[1]
                    )
                    column = self._index[(sys.intern(s.name), pairs)] = len(self._index)
                values[column] = float(s.value)
        out = np.full(len(self._index), np.nan)
        out[list(values)] = list(values.values())
        return out

    def _read(self) -> None:
        now = self.clock()
        if self._last_read is not None and now - self._last_read < self.fresh:
            return
        urls = list(self.targets())
        failures = []
        span = min(self.keep, self._longest_window) if self._longest_window else self.keep
        for url in urls:
            started = time.perf_counter()
            try:
                resp = self.client.get(url)
                resp.raise_for_status()
            except httpx.HTTPError as exc:
                failures.append(f"{url}: {exc}")
                continue
            finally:
                elapsed = time.perf_counter() - started
                telemetry.METRICS_QUERY_SECONDS.labels(self.name).observe(elapsed)
            try:
                values = self._parse(resp.text)
            except ValueError as exc:
                # A pod serving something else on its metrics port (a proxy's error page,
                # another program) is one pod not answering, like a refused connection,
                # not a provider failure that loses every other pod's read.
                failures.append(f"{url}: not Prometheus text: {exc}")
                continue
            history = self._history.setdefault(url, [])
            if not history and (self._first_read is not None or self.count_from_zero):
                history.append((-math.inf, np.empty(0)))  # a new pod: its counters began at 0
            history.append((now, values))
            old = [i for i, (t, _) in enumerate(history) if t < now - span]
            if old:
                del history[: old[-1]]  # keep the last read before the kept span as a base
        for url in set(self._history) - set(urls):
            del self._history[url]  # the pod is gone
        self._compact()
        if urls and len(failures) == len(urls):
            raise ProviderError("no pod answered: " + "; ".join(failures[:3]))
        if self._first_read is None:
            self._first_read = now
        self._last_read = now

    def _compact(self) -> None:
        """Forget series no kept read has (an old version's, a gone pod's) once they
        are half the index, so a long-lived provider does not grow with every rollout."""
        width = len(self._index)
        used = np.zeros(width, dtype=bool)
        for history in self._history.values():
            for _, values in history:
                used[: len(values)] |= ~np.isnan(values)
        if used.sum() * 2 > width:
            return
        keys = list(self._index)
        kept = np.flatnonzero(used)
        self._index = {keys[i]: n for n, i in enumerate(kept)}
        self._pairs = {pair: pair for key in self._index for pair in key[1]}
        for history in self._history.values():
            for n, (when, values) in enumerate(history):
                padded = np.full(width, np.nan)
                padded[: len(values)] = values
                history[n] = (when, padded[kept])

    def prime(self) -> None:
        """Read now: pods present at the first read only give a baseline."""
        self._read()

    def scalar(self, promql: str) -> float | None:
        raise ProviderError(
            "query checks need PromQL: set spec.analysis.provider.prometheus "
            "(the scrape provider reads the pods' /metrics and has no query language)"
        )

    def _increase(
        self, names: set[str], labels: Labels, window: float, keep: tuple[str, ...] = ("le",)
    ) -> dict[Series, float]:
        """Increase of each matching series (labels reduced to ``keep``) over the window."""
        self._longest_window = max(self._longest_window, window)
        self._read()
        start = self.clock() - window
        wanted = [
            (i, (key[0], tuple(kv for kv in key[1] if kv[0] in keep)))
            for key, i in self._index.items()
            if key[0] in names and _matches(dict(key[1]), labels)
        ]
        if not wanted:
            return {}
        columns = np.array([i for i, _ in wanted])
        total = np.zeros(len(wanted))
        seen = np.zeros(len(wanted), dtype=bool)  # in a read after a base: has an increase
        for history in self._history.values():
            base = max((i for i, (t, _) in enumerate(history) if t <= start), default=0)
            reads = np.full((len(history) - base, len(self._index)), np.nan)
            for row, (_, values) in enumerate(history[base:]):
                reads[row, : len(values)] = values
            reads = reads[:, columns]
            before, after = np.nan_to_num(reads[:-1]), reads[1:]
            # A series absent before counts from zero; a fall is a counter reset (the pod
            # restarted): the new value is all it counted since.
            rises = np.where(after >= before, after - before, after)
            total += np.where(np.isnan(after), 0.0, rises).sum(axis=0)
            seen |= ~np.isnan(after).all(axis=0)
        grown: dict[Series, float] = {}
        for (_, short), value, has in zip(wanted, total.tolist(), seen.tolist(), strict=True):
            if has:
                grown[short] = grown.get(short, 0.0) + value
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
