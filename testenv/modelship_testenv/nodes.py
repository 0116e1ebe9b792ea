"""Fake nodes kwok manages: CPU, GPU (H100, tainted) and MIG (docs/testenv.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

KWOK_ANNOTATION = "kwok.x-k8s.io/node"
H100 = "NVIDIA-H100-80GB-HBM3"
A100 = "NVIDIA-A100-SXM4-80GB"


@dataclass(frozen=True)
class NodeSpec:
    name: str
    cpu: str = "32"
    memory: str = "256Gi"
    pods: str = "110"  # the kubelet default
    extended: dict[str, int] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    gpu_taint: bool = False


def default_nodes() -> list[NodeSpec]:
    """Two CPU nodes (room for 1,000 pods each, for benchmarks), two 8-GPU H100 nodes,
    and one A100 node split into seven 1g.10gb MIG slices."""
    return [
        NodeSpec("cpu-0", pods="1000"),
        NodeSpec("cpu-1", pods="1000"),
        *(
            NodeSpec(
                f"gpu-h100-{i}",
                extended={"nvidia.com/gpu": 8},
                labels={"nvidia.com/gpu.product": H100, "nvidia.com/gpu.count": "8"},
                gpu_taint=True,
            )
            for i in range(2)
        ),
        NodeSpec(
            "gpu-mig-0",
            extended={"nvidia.com/mig-1g.10gb": 7},
            labels={
                "nvidia.com/gpu.product": f"{A100}-MIG-1g.10gb",
                "nvidia.com/mig.strategy": "mixed",
            },
            gpu_taint=True,
        ),
    ]


def node_manifest(node: NodeSpec) -> dict[str, Any]:
    resources: dict[str, Any] = {"cpu": node.cpu, "memory": node.memory, "pods": node.pods}
    resources.update({k: str(v) for k, v in node.extended.items()})
    taints = (
        [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]
        if node.gpu_taint
        else []
    )
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": node.name,
            "annotations": {KWOK_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "kubernetes.io/hostname": node.name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "kwok",
                **node.labels,
            },
        },
        "spec": {"taints": taints},
        "status": {"capacity": resources, "allocatable": resources},
    }
