"""Render a track's autoscaling/v2 HorizontalPodAutoscaler from spec.autoscaling (pure)."""

from __future__ import annotations

from typing import Any

from modelship.api import ModelDeploymentSpec
from modelship.api.autoscaling import AutoscalingMetric
from modelship.render.labels import Owner, Track, track_labels
from modelship.render.serving import deployment_name

Obj = dict[str, Any]

# Per-pod metric names of each preset's signals (analysis.preset).
SIGNALS: dict[str, dict[str, str]] = {
    "modelship": {"inFlightRequests": "modelship_requests_in_flight"},
    "vllm": {
        "inFlightRequests": "vllm:num_requests_running",
        "queueLength": "vllm:num_requests_waiting",
        "kvCacheUsage": "vllm:gpu_cache_usage_perc",
    },
}


def hpa_name(owner_name: str, track: Track) -> str:
    return deployment_name(owner_name, track)


def _pods(name: str, average_value: int | str) -> Obj:
    return {
        "type": "Pods",
        "pods": {
            "metric": {"name": name},
            "target": {"type": "AverageValue", "averageValue": str(average_value)},
        },
    }


def _resource(name: str, utilization: int) -> Obj:
    return {
        "type": "Resource",
        "resource": {
            "name": name,
            "target": {"type": "Utilization", "averageUtilization": utilization},
        },
    }


def metric(item: AutoscalingMetric, preset: str) -> Obj:
    """One autoscaling/v2 MetricSpec. The CRD admits queueLength and kvCacheUsage only
    with preset vllm, so a signal always has a name here."""
    names = SIGNALS[preset]
    if item.cpu is not None:
        return _resource("cpu", item.cpu.average_utilization)
    if item.memory is not None:
        return _resource("memory", item.memory.average_utilization)
    if item.in_flight_requests is not None:
        return _pods(names["inFlightRequests"], item.in_flight_requests.average_value)
    if item.queue_length is not None:
        return _pods(names["queueLength"], item.queue_length.average_value)
    if item.kv_cache_usage is not None:
        # vLLM's gauge is a fraction: 80 percent is an average of 0.8, written 800m.
        return _pods(names["kvCacheUsage"], f"{item.kv_cache_usage.average_utilization * 10}m")
    assert item.pods is not None  # exactly one is set (CRD rule)
    return _pods(item.pods.name, item.pods.average_value)


def horizontal_pod_autoscaler(
    owner: Owner, spec: ModelDeploymentSpec, track: Track, min_replicas: int, max_replicas: int
) -> Obj:
    auto = spec.autoscaling
    assert auto is not None
    preset = spec.analysis.preset if spec.analysis else "modelship"
    body: Obj = {
        "scaleTargetRef": {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": deployment_name(owner.name, track),
        },
        "minReplicas": min_replicas,
        "maxReplicas": max_replicas,
        "metrics": [metric(m, preset) for m in auto.metrics],
    }
    if auto.scale_down_stabilization is not None:
        body["behavior"] = {
            "scaleDown": {"stabilizationWindowSeconds": auto.scale_down_stabilization}
        }
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {
            "name": hpa_name(owner.name, track),
            "namespace": owner.namespace,
            "labels": track_labels(owner.name, track),
            "ownerReferences": [owner.reference()],
        },
        "spec": body,
    }
