"""Render the runtime Deployment and Service of a ModelDeployment."""

from __future__ import annotations

from typing import Any

from modelship.api import ModelDeploymentSpec
from modelship.api.types import parse_duration
from modelship.render.labels import (
    MODEL_VERSION,
    Owner,
    Track,
    lossless,
    revision_labels,
    selector,
    track_labels,
)

CONTAINER = "runtime"
GPU_TAINT = "nvidia.com/gpu"
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"

Obj = dict[str, Any]


def deployment_name(owner_name: str, track: Track) -> str:
    return f"{owner_name}-{track}"


def _metadata(owner: Owner, name: str, labels: dict[str, str]) -> Obj:
    return {
        "name": name,
        "namespace": owner.namespace,
        "labels": labels,
        "ownerReferences": [owner.reference()],
    }


def model_env(spec: ModelDeploymentSpec, track: Track, revision: str) -> list[Obj]:
    """What the runtime needs to load and label the model (MODELSHIP_* variables)."""
    model = spec.model
    pairs = {
        "MODELSHIP_MODEL_NAME": model.name,
        "MODELSHIP_MODEL_VERSION": model.version,
        "MODELSHIP_MODEL_URI": model.uri,
        "MODELSHIP_MODEL_DIGEST": model.digest or "",
        "MODELSHIP_MODEL_FORMAT": model.format or "",
        "MODELSHIP_TRACK": track,
        "MODELSHIP_REVISION": revision,
        "MODELSHIP_PORT": str(spec.runtime.port),
        "MODELSHIP_METRICS_PORT": str(spec.runtime.metrics_port),
        "MODELSHIP_METRICS_PATH": spec.runtime.metrics.path,
    }
    return [{"name": k, "value": v} for k, v in pairs.items()]


def resources(spec: ModelDeploymentSpec) -> Obj:
    """User resources with the GPU request folded in (requests must equal limits)."""
    user = spec.runtime.resources
    requests: Obj = dict(user.requests or {}) if user else {}
    limits: Obj = dict(user.limits or {}) if user else {}
    gpu = spec.runtime.gpu
    if gpu and gpu.count > 0:
        limits[gpu.resource_name] = gpu.count
        requests[gpu.resource_name] = gpu.count
    out: Obj = {}
    if requests:
        out["requests"] = requests
    if limits:
        out["limits"] = limits
    return out


def scheduling(spec: ModelDeploymentSpec) -> Obj:
    """nodeSelector and tolerations that put GPU pods on GPU nodes."""
    gpu = spec.runtime.gpu
    if not gpu or gpu.count == 0:
        return {}
    tolerations = [{"key": GPU_TAINT, "operator": "Exists", "effect": "NoSchedule"}]
    if gpu.resource_name != GPU_TAINT:
        tolerations.append({"key": gpu.resource_name, "operator": "Exists", "effect": "NoSchedule"})
    out: Obj = {"tolerations": tolerations}
    if gpu.product:
        out["nodeSelector"] = {GPU_PRODUCT_LABEL: gpu.product}
    return out


def scrape_annotations(spec: ModelDeploymentSpec) -> dict[str, str]:
    """The common prometheus.io/* convention, so any Prometheus finds the metrics."""
    return {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(spec.runtime.metrics_port),
        "prometheus.io/path": spec.runtime.metrics.path,
    }


def pod_annotations(spec: ModelDeploymentSpec) -> dict[str, str]:
    """The scrape annotations, and the model version as written when its label had to
    be made ASCII (only then: a new annotation on every pod template would restart
    every runtime pod on an operator upgrade)."""
    out = scrape_annotations(spec)
    if not lossless(spec.model.version):
        out[MODEL_VERSION] = spec.model.version
    return out


def container_ports(spec: ModelDeploymentSpec) -> list[Obj]:
    ports = [{"name": "http", "containerPort": spec.runtime.port, "protocol": "TCP"}]
    if spec.runtime.metrics_port != spec.runtime.port:
        ports.append(
            {"name": "metrics", "containerPort": spec.runtime.metrics_port, "protocol": "TCP"}
        )
    return ports


REFERENCE_VOLUME = "modelship-reference"
REFERENCE_DIR = "/etc/modelship/reference"
REFERENCE_FILE = f"{REFERENCE_DIR}/reference.json"


def reference_volume(spec: ModelDeploymentSpec) -> Obj:
    """spec.drift's reference ConfigMap key, mounted so the runtime counts live
    feature values in the reference's bins (MODELSHIP_REFERENCE_PATH)."""
    if spec.drift is None:
        return {}
    ref = spec.drift.reference.config_map_ref
    return {
        "volumes": [
            {
                "name": REFERENCE_VOLUME,
                "configMap": {
                    "name": ref.name,
                    "items": [{"key": ref.key, "path": "reference.json"}],
                },
            }
        ]
    }


def runtime_deployment(
    owner: Owner,
    spec: ModelDeploymentSpec,
    revision: str,
    track: Track,
    replicas: int,
    surge: bool = True,
) -> Obj:
    """The Deployment of one track. ``surge=False`` (swap capacity) rolls pods one at a
    time without extra ones, so the GPU count never rises above the replicas'."""
    runtime = spec.runtime
    container: Obj = {
        "name": CONTAINER,
        "image": runtime.image,
        "env": model_env(spec, track, revision)
        + [e.model_dump(mode="json", by_alias=True, exclude_none=True) for e in runtime.env or []],
        "ports": container_ports(spec),
    }
    if spec.drift is not None:
        container["env"].append({"name": "MODELSHIP_REFERENCE_PATH", "value": REFERENCE_FILE})
        container["volumeMounts"] = [
            {"name": REFERENCE_VOLUME, "mountPath": REFERENCE_DIR, "readOnly": True}
        ]
    if runtime.command:
        container["command"] = list(runtime.command)
    if runtime.args:
        container["args"] = list(runtime.args)
    if res := resources(spec):
        container["resources"] = res
    pod_labels = revision_labels(owner.name, track, revision, spec.model.version)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(owner, deployment_name(owner.name, track), pod_labels),
        "spec": {
            "replicas": replicas,
            "revisionHistoryLimit": 2,
            "progressDeadlineSeconds": int(parse_duration(spec.rollout.progress_deadline)),
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}
                if surge
                else {"maxSurge": 0, "maxUnavailable": 1},
            },
            "selector": {"matchLabels": track_labels(owner.name, track)},
            "template": {
                "metadata": {"labels": pod_labels, "annotations": pod_annotations(spec)},
                "spec": {"containers": [container], **scheduling(spec), **reference_volume(spec)},
            },
        },
    }


def runtime_service(owner: Owner, spec: ModelDeploymentSpec) -> Obj:
    """One Service over every track: the entry point clients use."""
    ports: list[Obj] = [{"name": "http", "port": spec.runtime.port, "targetPort": "http"}]
    if spec.runtime.metrics_port != spec.runtime.port:
        ports.append(
            {"name": "metrics", "port": spec.runtime.metrics_port, "targetPort": "metrics"}
        )
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(owner, owner.name, selector(owner.name)),
        "spec": {"selector": selector(owner.name), "ports": ports},
    }
