"""GPU capacity counts pods that fit on a node, not GPUs summed over nodes (issue 14).

The dev cluster has two 8-GPU H100 nodes. Pods of another team (kwok runs them; no
process) take GPUs so that each node keeps 3 free: 6 GPUs free in all, and no room for
one 4-GPU pod. A canary of 4-GPU pods must then swap (the stable gives up its pod), not
surge into a pod that stays Pending until the progress deadline.
"""

from __future__ import annotations

from typing import Any

import pytest

from modelship_testenv.harness import OperatorProcess
from modelship_testenv.nodes import H100
from tests.integration.conftest import Kubectl, wait_for
from tests.integration.manifests import dump, gpu_runtime
from tests.integration.test_canary import canary_of, deploy, set_version, track_pods
from tests.integration.test_serving import condition, md

pytestmark = pytest.mark.cluster

H100_NODES = ("gpu-h100-0", "gpu-h100-1")


def gpus_held(kubectl: Kubectl, node: str) -> int:
    """nvidia.com/gpu requested by the unfinished pods bound to ``node``."""
    pods = kubectl.json("get", "pods", "-A", "--field-selector", f"spec.nodeName={node}")
    held = 0
    for pod in pods["items"]:
        if pod["status"].get("phase") in ("Succeeded", "Failed"):
            continue
        for container in pod["spec"]["containers"]:
            limits = (container.get("resources") or {}).get("limits") or {}
            held += int(limits.get("nvidia.com/gpu", 0))
    return held


def holder(name: str, node: str, gpus: int) -> dict[str, Any]:
    """Another team's pod holding ``gpus`` GPUs on ``node`` (bound there, no scheduler)."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "nodeName": node,
            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists"}],
            "containers": [
                {
                    "name": "hold",
                    "image": "registry.example.com/other-team/trainer:1",
                    "resources": {"limits": {"nvidia.com/gpu": str(gpus)}},
                }
            ],
        },
    }


def pod_scheduled(pod: dict[str, Any]) -> bool:
    conds = {c["type"]: c["status"] for c in pod["status"].get("conditions") or []}
    return conds.get("PodScheduled") == "True"


def test_gpus_spread_over_nodes_do_not_make_room_for_a_surge(
    kubectl: Kubectl, running_operator: OperatorProcess, namespace: str
) -> None:
    wait_for(
        "the H100 nodes to hold no GPUs",
        lambda: all(gpus_held(kubectl, n) == 0 for n in H100_NODES),
        timeout=90,
    )
    steps: list[dict[str, Any]] = [{"setWeight": 50}, {"pause": {}}]
    deploy(kubectl, namespace, "packed", 1, steps, runtime=gpu_runtime(4, product=H100))
    (stable_pod,) = track_pods(kubectl, namespace, "packed", "stable")
    on = stable_pod["spec"]["nodeName"]
    other = next(n for n in H100_NODES if n != on)
    # 8 - 4 (the stable) - 1 = 3 free on one node, 8 - 5 = 3 on the other.
    for name, node, gpus in (("hold-a", on, 1), ("hold-b", other, 5)):
        done = kubectl.apply(dump(holder(name, node, gpus)), namespace)
        assert done.returncode == 0, done.stderr
    wait_for(
        "3 GPUs free on each H100 node",
        lambda: all(gpus_held(kubectl, n) == 5 for n in H100_NODES),
        timeout=30,
    )

    set_version(kubectl, namespace, "packed", "2.0.0")

    def paused() -> dict[str, Any] | None:
        c = canary_of(kubectl, namespace, "packed")
        return c if c.get("phase") == "Paused" else None

    canary = wait_for("the canary paused at 50%", paused, timeout=90)
    # 6 GPUs free would have said surge; no node has 4 free, so it swaps.
    assert canary["capacity"] == "swap", canary
    assert not canary.get("capacityNote"), canary
    (canary_pod,) = track_pods(kubectl, namespace, "packed", "canary")
    assert pod_scheduled(canary_pod), canary_pod["status"]
    assert canary_pod["spec"]["nodeName"] == on  # where the stable pod gave up its 4
    degraded = condition(md(kubectl, namespace, "packed"), "Degraded")
    assert degraded is None or degraded["status"] == "False", degraded

    kubectl.run("delete", "md", "packed", "-n", namespace, "--wait=true", "--timeout=60s")
    kubectl.run("delete", "pod", "hold-a", "hold-b", "-n", namespace, "--wait=true")
