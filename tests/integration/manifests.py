"""Manifest builders for integration tests."""

from __future__ import annotations

import copy
from typing import Any

import yaml


def model_deployment(name: str = "m", **spec_overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "model": {"name": "fraud-scorer", "version": "1.0.0", "uri": "s3://models/fraud/1.0.0/"},
        "runtime": {"image": "registry.example.com/modelship-runtime:0.1"},
        "replicas": 1,
    }
    spec.update(copy.deepcopy(spec_overrides))
    return {
        "apiVersion": "modelship.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name},
        "spec": spec,
    }


def dump(obj: dict[str, Any]) -> str:
    return yaml.safe_dump(obj)


def gpu_runtime(
    count: int = 1, resource_name: str | None = None, product: str | None = None
) -> dict[str, Any]:
    gpu: dict[str, Any] = {"count": count}
    if resource_name:
        gpu["resourceName"] = resource_name
    if product:
        gpu["product"] = product
    return {"image": "registry.example.com/modelship-runtime:0.1", "gpu": gpu}
