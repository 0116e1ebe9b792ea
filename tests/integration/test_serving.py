"""ModelDeployment -> Deployment + Service on the real control plane (issue 2)."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from modelship_testenv.harness import OperatorProcess
from tests.integration.conftest import Kubectl, wait_for
from tests.integration.manifests import dump, gpu_runtime, model_deployment

pytestmark = pytest.mark.cluster


def md(kubectl: Kubectl, ns: str, name: str) -> dict[str, Any]:
    return kubectl.json("get", "md", name, "-n", ns)  # type: ignore[no-any-return]


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any] | None:
    for cond in obj.get("status", {}).get("conditions", []):
        if cond["type"] == type_:
            return cond  # type: ignore[no-any-return]
    return None


def pods(kubectl: Kubectl, ns: str, name: str) -> list[dict[str, Any]]:
    listed = kubectl.json("get", "pods", "-n", ns, "-l", f"modelship.io/model-deployment={name}")
    return [p for p in listed["items"] if not p["metadata"].get("deletionTimestamp")]


def wait_ready(kubectl: Kubectl, ns: str, name: str, timeout: int = 90) -> None:
    done = kubectl.run(
        "wait",
        "--for=condition=Ready",
        f"md/{name}",
        "-n",
        ns,
        f"--timeout={timeout}s",
        check=False,
    )
    assert done.returncode == 0, f"{done.stderr}\nstatus: {md(kubectl, ns, name).get('status')}"


def test_gpu_model_becomes_ready_on_gpu_nodes(
    kubectl: Kubectl, running_operator: OperatorProcess, namespace: str
) -> None:
    manifest = model_deployment(
        "fraud", replicas=2, runtime=gpu_runtime(1, product="NVIDIA-H100-80GB-HBM3")
    )
    assert kubectl.apply(dump(manifest), namespace).returncode == 0
    wait_ready(kubectl, namespace, "fraud")

    dep = kubectl.json(
        "get", "deployment", "fraud-stable", "-n", namespace, "--show-managed-fields"
    )
    labels = dep["metadata"]["labels"]
    assert labels["app.kubernetes.io/managed-by"] == "modelship"
    assert labels["modelship.io/model-deployment"] == "fraud"
    assert labels["modelship.io/track"] == "stable"
    assert labels["modelship.io/model-version"] == "1.0.0"
    owner = dep["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["controller"]) == ("ModelDeployment", "fraud", True)
    managers = {f["manager"] for f in dep["metadata"]["managedFields"] if f["operation"] == "Apply"}
    assert managers == {"modelship"}
    env = {
        e["name"]: e.get("value") for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["MODELSHIP_MODEL_URI"] == "s3://models/fraud/1.0.0/"
    assert env["MODELSHIP_MODEL_VERSION"] == "1.0.0"

    svc = kubectl.json("get", "service", "fraud", "-n", namespace)
    assert svc["spec"]["selector"]["modelship.io/model-deployment"] == "fraud"

    running = pods(kubectl, namespace, "fraud")
    assert len(running) == 2
    for pod in running:
        assert pod["spec"]["nodeName"].startswith("gpu-h100-"), pod["spec"]["nodeName"]
        assert pod["status"]["phase"] == "Running"

    status = md(kubectl, namespace, "fraud")["status"]
    assert status["phase"] == "Healthy"
    assert status["readyReplicas"] == 2 and status["replicas"] == 2
    assert status["stableRevision"]["modelVersion"] == "1.0.0"
    assert status["observedGeneration"] == md(kubectl, namespace, "fraud")["metadata"]["generation"]
    for cond in status["conditions"]:
        assert cond["observedGeneration"] >= 1

    table = kubectl.run("get", "md", "fraud", "-n", namespace).stdout
    header, row = table.splitlines()[:2]
    assert header.split() == ["NAME", "MODEL", "VERSION", "CANARY", "READY", "PHASE", "AGE"]
    assert row.split()[:3] == ["fraud", "fraud-scorer", "1.0.0"]
    assert "2/2" in row and "Healthy" in row


def test_scaling_and_version_change(
    kubectl: Kubectl, running_operator: OperatorProcess, namespace: str
) -> None:
    kubectl.apply(dump(model_deployment("svc", replicas=1)), namespace)
    wait_ready(kubectl, namespace, "svc")
    first_rev = md(kubectl, namespace, "svc")["status"]["stableRevision"]["name"]

    kubectl.run(
        "patch", "md", "svc", "-n", namespace, "--type", "merge", "-p", '{"spec":{"replicas":3}}'
    )
    wait_for(
        "3 ready replicas",
        lambda: (
            md(kubectl, namespace, "svc")["status"].get("readyReplicas") == 3
            and condition(md(kubectl, namespace, "svc"), "Ready")
        ),
    )
    wait_ready(kubectl, namespace, "svc")
    assert md(kubectl, namespace, "svc")["status"]["stableRevision"]["name"] == first_rev, (
        "scaling must not start a new revision"
    )

    kubectl.run(
        "patch",
        "md",
        "svc",
        "-n",
        namespace,
        "--type",
        "merge",
        "-p",
        '{"spec":{"model":{"version":"1.1.0","uri":"s3://models/fraud/1.1.0/"}}}',
    )

    def rolled() -> bool:
        obj = md(kubectl, namespace, "svc")
        rev = obj["status"].get("stableRevision", {})
        ready = condition(obj, "Ready")
        return (
            rev.get("modelVersion") == "1.1.0"
            and ready is not None
            and ready["status"] == "True"
            and ready["observedGeneration"] == obj["metadata"]["generation"]
        )

    wait_for("version 1.1.0 rolled out", rolled)
    dep = kubectl.json("get", "deployment", "svc-stable", "-n", namespace)
    env = {
        e["name"]: e.get("value") for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["MODELSHIP_MODEL_VERSION"] == "1.1.0"
    versions = {
        p["metadata"]["labels"]["modelship.io/model-version"]
        for p in pods(kubectl, namespace, "svc")
    }
    assert versions == {"1.1.0"}
    history = md(kubectl, namespace, "svc")["status"]["history"]
    assert [(h["modelVersion"], h["outcome"]) for h in history] == [
        ("1.1.0", "Promoted"),
        ("1.0.0", "Superseded"),
    ]


def test_delete_removes_children(
    kubectl: Kubectl, running_operator: OperatorProcess, namespace: str
) -> None:
    kubectl.apply(dump(model_deployment("gone", replicas=2)), namespace)
    wait_ready(kubectl, namespace, "gone")
    kubectl.run("delete", "md", "gone", "-n", namespace, "--wait=true", "--timeout=60s")

    def cleaned() -> bool:
        left = kubectl.run(
            "get",
            "deployment,service,pods",
            "-n",
            namespace,
            "-l",
            "modelship.io/model-deployment=gone",
            "-o",
            "name",
        ).stdout.strip()
        return left == ""

    wait_for("garbage collection of the children", cleaned)


def test_insufficient_gpu_is_reported_within_seconds(
    kubectl: Kubectl, running_operator: OperatorProcess, namespace: str
) -> None:
    # Nodes have 8 H100s each; 3 pods x 8 GPUs cannot all fit on two nodes once other
    # tests hold some, and 9 GPUs per pod never fit anywhere.
    manifest = model_deployment("greedy", replicas=1, runtime=gpu_runtime(9))
    applied = time.monotonic()
    kubectl.apply(dump(manifest), namespace)

    def degraded() -> dict[str, Any] | None:
        cond = condition(md(kubectl, namespace, "greedy"), "Degraded")
        return cond if cond and cond["reason"] == "InsufficientGPU" else None

    cond = wait_for("Degraded/InsufficientGPU", degraded, timeout=30)
    elapsed = time.monotonic() - applied
    print(f"apply -> InsufficientGPU: {elapsed:.2f}s")
    assert cond["status"] == "True"
    assert "Insufficient nvidia.com/gpu" in cond["message"]
    assert "9 nvidia.com/gpu each" in cond["message"]
    obj = md(kubectl, namespace, "greedy")
    assert obj["status"]["phase"] == "Degraded"
    assert condition(obj, "Ready")["status"] == "False"  # type: ignore[index]
    events = kubectl.json(
        "get", "events", "-n", namespace, "--field-selector", "involvedObject.name=greedy"
    )["items"]
    assert any(e["reason"] == "InsufficientGPU" and e["type"] == "Warning" for e in events)

    # Fixing the spec clears the condition.
    kubectl.run(
        "patch",
        "md",
        "greedy",
        "-n",
        namespace,
        "--type",
        "merge",
        "-p",
        '{"spec":{"runtime":{"gpu":{"count":1}}}}',
    )
    wait_ready(kubectl, namespace, "greedy")
    assert condition(md(kubectl, namespace, "greedy"), "Degraded")["status"] == "False"  # type: ignore[index]


def test_mig_request_lands_on_the_mig_node(
    kubectl: Kubectl, running_operator: OperatorProcess, namespace: str
) -> None:
    manifest = model_deployment(
        "mig", replicas=2, runtime=gpu_runtime(1, resource_name="nvidia.com/mig-1g.10gb")
    )
    kubectl.apply(dump(manifest), namespace)
    wait_ready(kubectl, namespace, "mig")
    assert {p["spec"]["nodeName"] for p in pods(kubectl, namespace, "mig")} == {"gpu-mig-0"}


def test_cpu_model_stays_off_gpu_nodes(
    kubectl: Kubectl, running_operator: OperatorProcess, namespace: str
) -> None:
    kubectl.apply(dump(model_deployment("cpu", replicas=3)), namespace)
    wait_ready(kubectl, namespace, "cpu")
    assert all(p["spec"]["nodeName"].startswith("cpu-") for p in pods(kubectl, namespace, "cpu"))


def test_child_rejected_by_the_api_server_becomes_degraded(
    kubectl: Kubectl, running_operator: OperatorProcess, namespace: str
) -> None:
    # The CRD passes valueFrom through as written; the Deployment validation rejects it.
    manifest = model_deployment(
        "badenv",
        runtime={
            "image": "rt:1",
            "env": [{"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nope"}}}],
        },
    )
    assert kubectl.apply(dump(manifest), namespace).returncode == 0

    def invalid() -> dict[str, Any] | None:
        cond = condition(md(kubectl, namespace, "badenv"), "Degraded")
        return cond if cond and cond["reason"] == "InvalidSpec" else None

    cond = wait_for("Degraded/InvalidSpec", invalid, timeout=30)
    assert "spec.nope" in cond["message"]
    assert running_operator.alive(), "bad input must never crash the operator"
    kubectl.run(
        "patch",
        "md",
        "badenv",
        "-n",
        namespace,
        "--type",
        "json",
        "-p",
        '[{"op":"replace","path":"/spec/runtime/env/0/valueFrom/fieldRef/fieldPath",'
        '"value":"spec.nodeName"}]',
    )
    wait_ready(kubectl, namespace, "badenv")


def test_kubectl_explain_shows_field_docs(kubectl: Kubectl) -> None:
    out = kubectl.run("explain", "md.spec.runtime.gpu").stdout
    assert "resourceName" in out and "MIG" in out


def test_non_ascii_versions_and_env_values_deploy(
    kubectl: Kubectl, running_operator: Any, namespace: str
) -> None:
    """A CJK version once made an invalid label and an emoji an apply the API server could
    not parse (issue 16, item 5): both deploy, the label is ASCII, the version is kept."""
    model = {"name": "fraud-scorer", "version": "版本-1 🚀", "uri": "s3://models/fraud/1/"}
    runtime = {
        "image": "registry.example.com/modelship-runtime:0.1",
        "env": [{"name": "GREETING", "value": "こんにちは 🚀"}],
    }
    kubectl.apply(dump(model_deployment("intl", model=model, runtime=runtime)), namespace)
    wait_ready(kubectl, namespace, "intl")
    dep = kubectl.json("get", "deployment", "intl-stable", "-n", namespace)
    template = dep["spec"]["template"]
    label = template["metadata"]["labels"]["modelship.io/model-version"]
    assert re.fullmatch(r"[A-Za-z0-9][-A-Za-z0-9_.]*-[0-9a-f]{8}", label), label
    assert template["metadata"]["annotations"]["modelship.io/model-version"] == "版本-1 🚀"
    env = {e["name"]: e.get("value") for e in template["spec"]["containers"][0]["env"]}
    assert env["GREETING"] == "こんにちは 🚀" and env["MODELSHIP_MODEL_VERSION"] == "版本-1 🚀"
    assert md(kubectl, namespace, "intl")["status"]["stableRevision"]["modelVersion"] == "版本-1 🚀"
