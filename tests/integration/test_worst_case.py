"""The largest ModelDeployment the CRD admits, end to end, and one past the size limit.

Every list in the spec has a bound in the CRD (steps 64, checks 32, env 256, hostnames 16,
...), but the bounds multiplied out (256 env values of 32 KiB) are larger than any object
Kubernetes stores (etcd takes 1.5 MiB per write). So the largest admitted spec is a size,
not a count: this test builds one with every list at its bound and the env values as long
as still fits, and checks that the operator serves it -- its ControllerRevision and both
tracks' Deployments carry the whole spec again, each a write of its own -- without a hot
loop; and that a larger one is refused by the API server before anything is stored.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modelship_testenv.cluster import free_port
from modelship_testenv.harness import OperatorProcess
from tests.integration.conftest import Kubectl, wait_for
from tests.integration.manifests import model_deployment
from tests.integration.test_canary import reconciles
from tests.integration.test_serving import condition, md

pytestmark = pytest.mark.cluster

# etcd's default --max-request-bytes is 1.5 MiB; the Deployment the operator renders holds
# the env values once more with its own metadata, so leave room for that.
FITS = 1_300_000


def largest(name: str, env_value_chars: int) -> dict[str, Any]:
    steps: list[dict[str, Any]] = []
    for i in range(63):
        steps.append({"setWeight": 1 + i % 99} if i % 2 == 0 else {"pause": {"duration": "1s"}})
    steps.append({"pause": {}})  # the last of 64 waits for a person
    checks: list[dict[str, Any]] = []
    for i in range(32):
        kind = i % 3
        if kind == 0:
            checks.append({"name": f"p{i}", "latency": {"quantile": 0.99, "max": "2s"}})
        elif kind == 1:
            checks.append({"name": f"e{i}", "errorRate": {"max": 0.05}})
        else:
            checks.append({"name": f"c{i}", "compare": {"metric": "latency"}})
    env = [{"name": f"VAR_{i:03d}", "value": "x" * env_value_chars} for i in range(256)]
    obj = model_deployment(
        name,
        runtime={"image": "registry.example.com/modelship-runtime:0.1", "env": env},
        rollout={"steps": steps},
        analysis={"interval": "1h", "checks": checks},
        revisionHistoryLimit=100,
    )
    return obj


def size(obj: dict[str, Any]) -> int:
    return len(json.dumps(obj, separators=(",", ":")))


@pytest.fixture
def own_operator(
    kubectl: Kubectl, running_operator: OperatorProcess, namespace: str, tmp_path: Path
) -> Iterator[OperatorProcess]:
    """An operator for this namespace alone, so its reconcile count is this object's; the
    shared one is stopped meanwhile (two would both write) and started again after."""
    metrics = f"127.0.0.1:{free_port()}"
    op = OperatorProcess(
        kubectl.kubeconfig,
        tmp_path / "operator.log",
        ["--metrics-address", metrics, "--namespace", namespace],
    )
    op.metrics_url = f"http://{metrics}/metrics"
    running_operator.stop()
    op.start()
    try:
        yield op
    finally:
        op.stop()
        running_operator.start()


def test_the_largest_admitted_spec_is_served_without_a_hot_loop(
    kubectl: Kubectl, own_operator: OperatorProcess, namespace: str
) -> None:
    chars = (FITS - size(largest("big", 0))) // 256
    obj = largest("big", chars)
    assert FITS - 300 < size(obj) <= FITS
    # create, not apply: client-side apply would copy the object into an annotation.
    done = kubectl.run("create", "-n", namespace, "-f", "-", input=json.dumps(obj), check=False)
    assert done.returncode == 0, done.stderr

    def ready() -> bool:
        found = condition(md(kubectl, namespace, "big"), "Ready")
        return bool(found and found["status"] == "True")

    started = time.monotonic()
    wait_for("the largest spec Ready", ready, timeout=120)
    print(f"\nlargest admitted spec ({size(obj):,} B): Ready in {time.monotonic() - started:.1f} s")
    deployment = kubectl.json("get", "deployment", "big-stable", "-n", namespace)
    served = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    assert [e["value"] for e in served if e["name"].startswith("VAR_")] == ["x" * chars] * 256

    # A version bump: a second ControllerRevision and the canary's Deployment, each as
    # large again, then the canary's 64 steps begin.
    kubectl.run(
        "patch",
        "md",
        "big",
        "-n",
        namespace,
        "--type",
        "merge",
        "-p",
        json.dumps({"spec": {"model": {"version": "2.0.0", "uri": "s3://models/fraud/2.0.0/"}}}),
    )
    wait_for(
        "the canary of the largest spec",
        lambda: md(kubectl, namespace, "big").get("status", {}).get("canary"),
        timeout=120,
    )
    wait_for(
        "its canary Deployment",
        lambda: (
            kubectl.run("get", "deployment", "big-canary", "-n", namespace, check=False).returncode
            == 0
        ),
    )
    revisions = kubectl.json("get", "controllerrevisions", "-n", namespace)["items"]
    assert len(revisions) == 2

    # No hot loop: with 1 s pauses and analysis every hour, the operator has at most one
    # step a second to take; a loop on this object's size would be hundreds of reconciles.
    before, t0 = sum(reconciles(own_operator.metrics_url or "").values()), time.monotonic()
    wait_for("20 s to pass", lambda: time.monotonic() - t0 >= 20, timeout=30, interval=1)
    count = sum(reconciles(own_operator.metrics_url or "").values()) - before
    print(f"reconciles of the largest spec over 20 s of its canary: {count}")
    assert count <= 60, count
    degraded = condition(md(kubectl, namespace, "big"), "Degraded")
    assert degraded is None or degraded["status"] == "False", degraded


def test_a_spec_past_the_size_limit_is_refused_and_nothing_is_stored(
    kubectl: Kubectl, namespace: str
) -> None:
    obj = largest("huge", 8_000)  # about 2.1 MB: under the request limit, over etcd's
    done = kubectl.run("create", "-n", namespace, "-f", "-", input=json.dumps(obj), check=False)
    assert done.returncode != 0
    assert "too large" in done.stderr.lower(), done.stderr
    print(f"\nrefused ({size(obj):,} B): {done.stderr.strip()}")
    left = kubectl.run("get", "md", "huge", "-n", namespace, check=False)
    assert left.returncode != 0 and "NotFound" in left.stderr
