"""The ``prometheus`` provider: instant PromQL queries over the analysis window (httpx)."""

from __future__ import annotations

import math
from typing import Any

import httpx

from modelship.metrics import Labels, ProviderError


def selector(labels: Labels) -> str:
    """``{a="x",b=~"5.."}``: a value starting with ``~`` is a regex match."""
    parts = []
    for key, value in sorted(labels.items()):
        op, text = ("=~", value[1:]) if value.startswith("~") else ("=", value)
        escaped = text.replace("\\", "\\\\").replace('"', '\\"')
        parts.append(f'{key}{op}"{escaped}"')
    return "{" + ",".join(parts) + "}"


def _duration(seconds: float) -> str:
    return f"{max(1, round(seconds))}s"


class PrometheusProvider:
    name = "prometheus"

    def __init__(
        self, address: str, client: httpx.Client | None = None, timeout: float = 5.0
    ) -> None:
        self.address = address.rstrip("/")
        self.client = client or httpx.Client(timeout=timeout)

    def query(self, promql: str) -> list[dict[str, Any]]:
        """An instant query's result vector; ProviderError if it cannot be had."""
        try:
            resp = self.client.get(f"{self.address}/api/v1/query", params={"query": promql})
        except httpx.HTTPError as exc:
            raise ProviderError(f"Prometheus at {self.address} unreachable: {exc}") from exc
        try:
            body = resp.json()
        except ValueError as exc:
            raise ProviderError(f"Prometheus answered {resp.status_code} without JSON") from exc
        if resp.status_code != 200 or body.get("status") != "success":
            raise ProviderError(f"Prometheus refused {promql!r}: {body.get('error', resp.text)}")
        data = body.get("data") or {}
        if data.get("resultType") == "scalar":
            return [{"metric": {}, "value": data.get("result")}]
        return list(data.get("result") or [])

    def scalar(self, promql: str) -> float | None:
        """One number, or None for no data (empty result, NaN)."""
        result = self.query(promql)
        if not result:
            return None
        value = float(result[0]["value"][1])
        return None if math.isnan(value) else value

    def prime(self) -> None:
        """Prometheus keeps the history itself: nothing to take now."""

    def buckets(self, metric: str, labels: Labels, window: float) -> dict[float, float] | None:
        query = f"sum by (le) (increase({metric}_bucket{selector(labels)}[{_duration(window)}]))"
        out = {}
        for sample in self.query(query):
            value = float(sample["value"][1])
            if not math.isnan(value):
                out[float(sample["metric"]["le"])] = value
        return out or None

    def increase(self, metric: str, labels: Labels, window: float) -> float | None:
        return self.scalar(f"sum(increase({metric}{selector(labels)}[{_duration(window)}]))")

    def increase_by(
        self, metric: str, labels: Labels, window: float, by: tuple[str, ...]
    ) -> dict[tuple[str, ...], float] | None:
        query = (
            f"sum by ({', '.join(by)}) (increase({metric}{selector(labels)}[{_duration(window)}]))"
        )
        out = {}
        for sample in self.query(query):
            value = float(sample["value"][1])
            if not math.isnan(value):
                found = sample["metric"]
                out[tuple([found.get(key, "") for key in by])] = value  # a list: ~2x faster
        return out or None
