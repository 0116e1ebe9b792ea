"""spec.analysis: measurements taken every interval while a canary runs."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from modelship.api.types import (
    DNS1123_LABEL,
    ApiModel,
    Duration,
    Interval,
    Percent,
    Ratio,
    cel,
    exactly_one,
    validations,
)


class PrometheusProviderSpec(ApiModel):
    """Query a Prometheus server."""

    address: str = Field(
        max_length=2048,
        description="Base URL, e.g. http://prometheus.monitoring:9090.",
        json_schema_extra=validations(
            cel("self.matches('^https?://.+')", "must be an http:// or https:// URL")
        ),
    )


class ScrapeProviderSpec(ApiModel):
    """Read the runtime pods' own /metrics endpoints directly."""


class ProviderSpec(ApiModel):
    """Where measurements come from; exactly one."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(exactly_one(["prometheus", "scrape"], "in provider"))
    }

    prometheus: PrometheusProviderSpec | None = Field(default=None, description="Prometheus.")
    scrape: ScrapeProviderSpec | None = Field(default=None, description="Direct scrape.")


class LatencyCheck(ApiModel):
    """Latency quantile from the request-duration histogram."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel("has(self.max) || has(self.maxIncrease)", "set max, maxIncrease or both")
        )
    }

    quantile: float = Field(default=0.99, gt=0, lt=1, description="Quantile, e.g. 0.99.")
    metric: Literal["request", "timeToFirstToken", "timePerOutputToken"] = Field(
        default="request",
        description="Which latency: request (end to end); with preset vllm also "
        "timeToFirstToken or timePerOutputToken.",
    )
    max: Duration | None = Field(default=None, description="Absolute bound, e.g. 250ms.")
    max_increase: Percent | None = Field(
        default=None, description="Percent the canary may be worse than stable."
    )


class ErrorRateCheck(ApiModel):
    """Share of failed requests."""

    max: Ratio = Field(description="Highest acceptable error ratio, 0-1.")


class CompareCheck(ApiModel):
    """A statistical canary-vs-stable test."""

    metric: Literal["latency", "errorRate"] = Field(description="What to compare.")
    confidence: float = Field(
        default=0.99, gt=0, lt=1, description="Confidence required to call a regression."
    )


class DriftCheck(ApiModel):
    """Canary inputs against spec.drift's reference."""

    threshold: float | None = Field(
        default=None, ge=0, description="Score above which the check fails; default spec.drift."
    )


class QueryCheck(ApiModel):
    """A custom PromQL query (prometheus provider only)."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel("has(self.min) || has(self.max)", "set min, max or both")
        )
    }

    promql: str = Field(min_length=1, max_length=4096, description="PromQL returning one value.")
    min: float | None = Field(default=None, description="Lowest passing value.")
    max: float | None = Field(default=None, description="Highest passing value.")


_CHECK_KINDS = ["latency", "errorRate", "compare", "drift", "query"]


class Check(ApiModel):
    """One measurement taken every analysis interval; exactly one kind."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(exactly_one(_CHECK_KINDS, "in a check"))
    }

    name: str = Field(max_length=63, pattern=DNS1123_LABEL, description="Unique check name.")
    latency: LatencyCheck | None = Field(default=None, description="Latency quantile.")
    error_rate: ErrorRateCheck | None = Field(default=None, description="Error ratio.")
    compare: CompareCheck | None = Field(default=None, description="Statistical judge.")
    drift: DriftCheck | None = Field(default=None, description="Input drift on the canary.")
    query: QueryCheck | None = Field(default=None, description="Custom PromQL.")


class AnalysisSpec(ApiModel):
    """Measurements taken while a canary runs."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel(
                "!has(self.checks) || !self.checks.exists(c, has(c.query)) "
                "|| (has(self.provider) && has(self.provider.prometheus))",
                "query checks need provider.prometheus",
                ".checks",
            )
        )
    }

    interval: Interval = Field(
        default="30s", description="Time between measurements (at least 1s)."
    )
    preset: Literal["modelship", "vllm"] = Field(
        default="modelship",
        description="Metric names of the runtime: modelship (the reference runtime) or vllm.",
    )
    failure_limit: int = Field(
        default=1,
        ge=0,
        le=100,
        description="Failed analysis rounds that abort the canary (1: the first failure "
        "aborts); 0 records failures without aborting.",
    )
    inconclusive_limit: int = Field(
        default=3,
        ge=0,
        le=100,
        description="Consecutive inconclusive rounds that pause the canary until a round "
        "passes or a manual promote; 0 never pauses.",
    )
    provider: ProviderSpec | None = Field(default=None, description="Metrics provider.")
    checks: list[Check] | None = Field(
        default=None,
        max_length=32,
        description="Checks, keyed by name.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
