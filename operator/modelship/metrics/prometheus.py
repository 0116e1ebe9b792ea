"""The ``prometheus`` provider: instant PromQL queries over the analysis window (httpx)."""

from __future__ import annotations

import math
import time
from typing import Any

import httpx

from modelship import telemetry
from modelship.metrics import BackendUnreachable, Labels, ProviderError


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
        """An instant query's result vector; ProviderError if it cannot be had or its
        answer is not the shape the HTTP API documents."""
        started = time.perf_counter()
        try:
            resp = self.client.get(f"{self.address}/api/v1/query", params={"query": promql})
        except httpx.HTTPError as exc:
            raise BackendUnreachable(f"Prometheus at {self.address} unreachable: {exc}") from exc
        finally:
            elapsed = time.perf_counter() - started
            telemetry.METRICS_QUERY_SECONDS.labels(self.name).observe(elapsed)
        try:
            body = resp.json()
        except ValueError as exc:
            raise ProviderError(f"Prometheus answered {resp.status_code} without JSON") from exc
        if not isinstance(body, dict):
            raise ProviderError(f"Prometheus answered {type(body).__name__}, not an object")
        if resp.status_code != 200 or body.get("status") != "success":
            raise ProviderError(f"Prometheus refused {promql!r}: {body.get('error', resp.text)}")
        data = body.get("data")
        if not isinstance(data, dict):
            raise ProviderError("Prometheus's answer has no data object")
        if data.get("resultType") == "scalar":
            return [{"metric": {}, "value": data.get("result")}]
        result = data.get("result") or []
        if not isinstance(result, list) or not all(isinstance(r, dict) for r in result):
            raise ProviderError("Prometheus's result is not a list of samples")
        return result

    def scalar(self, promql: str) -> float | None:
        """One number, or None for no data (empty result, NaN). Several series are an
        error, never one of them picked: the query must aggregate (max, sum, ...)."""
        result = self.query(promql)
        if not result:
            return None
        if len(result) > 1:
            labels = ", ".join(str(r.get("metric") or {}) for r in result[:3])
            raise ProviderError(
                f"the query returned {len(result)} series ({labels}); aggregate it to one, "
                "e.g. max(...) or sum(...)"
            )
        value = _value(result[0])
        return None if math.isnan(value) else value

    def prime(self) -> None:
        """Prometheus keeps the history itself: nothing to take now."""

    def buckets(self, metric: str, labels: Labels, window: float) -> dict[float, float] | None:
        query = f"sum by (le) (increase({metric}_bucket{selector(labels)}[{_duration(window)}]))"
        out = {}
        for sample in self.query(query):
            value = _value(sample)
            if not math.isnan(value):
                out[_label_number(sample, "le")] = value
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
            value = _value(sample)
            if not math.isnan(value):
                found = sample.get("metric") or {}
                out[tuple([found.get(key, "") for key in by])] = value  # a list: ~2x faster
        return out or None


def _value(sample: dict[str, Any]) -> float:
    """A sample's value, [time, "number"]; ProviderError naming what is wrong."""
    try:
        return float(sample["value"][1])
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        shown = str(sample.get("value"))[:80]
        raise ProviderError(f"a sample's value is not [time, number]: {shown}") from exc


def _label_number(sample: dict[str, Any], label: str) -> float:
    try:
        return float((sample.get("metric") or {})[label])
    except (KeyError, TypeError, ValueError) as exc:
        shown = str(sample.get("metric"))[:120]
        raise ProviderError(f"a histogram sample has no numeric {label!r} label: {shown}") from exc
