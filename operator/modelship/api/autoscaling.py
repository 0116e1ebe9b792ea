"""spec.autoscaling: a HorizontalPodAutoscaler per track, sized through the rollout.

Each metric item names one signal, so users write what they mean (``cpu``,
``inFlightRequests``, ``queueLength``, ``kvCacheUsage``) or any per-pod metric their
custom-metrics adapter serves (``pods``). decisions/autoscaling.py says how the tracks
are sized during a canary; render/autoscaling.py writes the autoscaling/v2 objects.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from modelship.api.types import ApiModel, cel, exactly_one, validations

# The HPA's own rule for a metric name (a path segment of the custom metrics API).
_METRIC_NAME = r"^[^/%]+$"
# A positive resource.Quantity, as the HPA's averageValue takes it (int or string, like
# every quantity in a CRD: 4, "2500m").
PositiveQuantity = Annotated[
    int | str,
    Field(
        json_schema_extra={
            "maxLength": 64,
            **validations(
                cel(
                    "isQuantity(string(self)) && quantity(string(self)).isGreaterThan("
                    "quantity('0'))",
                    "must be a quantity greater than 0, such as 4 or 2500m",
                )
            ),
        }
    ),
]


class Utilization(ApiModel):
    """Average use of the pods' requests, in percent."""

    average_utilization: int = Field(
        ge=1, le=1000, description="Target average use of the request, percent."
    )


class AverageValue(ApiModel):
    """A per-pod average to hold."""

    average_value: PositiveQuantity = Field(description="Target average per pod.")


class PodMetric(ApiModel):
    """Any per-pod metric the cluster's custom metrics API serves (custom.metrics.k8s.io)."""

    name: str = Field(
        min_length=1,
        max_length=253,
        pattern=_METRIC_NAME,
        description="Metric name as the custom-metrics adapter serves it, e.g. "
        "DCGM_FI_DEV_GPU_UTIL for GPU utilisation.",
    )
    average_value: PositiveQuantity = Field(description="Target average per pod.")


class AutoscalingMetric(ApiModel):
    """One signal to scale on: exactly one field."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            exactly_one(
                ["cpu", "memory", "inFlightRequests", "queueLength", "kvCacheUsage", "pods"],
                "in an autoscaling metric",
            )
        )
    }

    cpu: Utilization | None = Field(
        default=None,
        description="CPU use against the pods' CPU request (needs metrics.k8s.io and "
        "runtime.resources.requests.cpu).",
    )
    memory: Utilization | None = Field(
        default=None, description="Memory use against the pods' memory request."
    )
    in_flight_requests: AverageValue | None = Field(
        default=None,
        description="Requests being served per pod: modelship_requests_in_flight "
        "(preset modelship) or vllm:num_requests_running (preset vllm).",
    )
    queue_length: AverageValue | None = Field(
        default=None,
        description="Requests waiting per pod: vllm:num_requests_waiting (preset vllm).",
    )
    kv_cache_usage: Utilization | None = Field(
        default=None,
        description="KV-cache use per pod, percent: vllm:gpu_cache_usage_perc, a 0-1 gauge "
        "(preset vllm).",
    )
    pods: PodMetric | None = Field(default=None, description="Any per-pod custom metric.")


class Autoscaling(ApiModel):
    """Scale the tracks with autoscaling/v2 HorizontalPodAutoscalers.

    spec.replicas is then only the count before the first scale; the stable track
    scales between minReplicas and maxReplicas, never beyond the GPUs that fit.
    """

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel(
                "self.minReplicas <= self.maxReplicas",
                "minReplicas must not be greater than maxReplicas",
                ".minReplicas",
            )
        )
    }

    min_replicas: int = Field(default=1, ge=1, le=1000, description="Fewest stable pods.")
    max_replicas: int = Field(ge=1, le=1000, description="Most pods per track.")
    metrics: list[AutoscalingMetric] = Field(
        min_length=1, max_length=8, description="Signals to scale on; the largest wins."
    )
    scale_down_stabilization: int | None = Field(
        default=None,
        ge=0,
        le=3600,
        description="Seconds of lower recommendations before scaling down "
        "(the HPA's default, 300, when absent).",
    )
