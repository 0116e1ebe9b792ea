"""Invalid manifests are rejected by the API server with a message naming the field."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from tests.integration.conftest import Kubectl
from tests.integration.manifests import dump, model_deployment

pytestmark = pytest.mark.cluster

Obj = dict[str, Any]


@dataclass
class Case:
    name: str
    mutate: Callable[[Obj], None]
    field: str  # must appear in the API server's message
    words: str = ""  # and so must this, when set


def setp(path: str, value: Any) -> Callable[[Obj], None]:
    def apply(obj: Obj) -> None:
        node = obj
        keys = path.split(".")
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = value

    return apply


def delp(path: str) -> Callable[[Obj], None]:
    def apply(obj: Obj) -> None:
        node = obj
        keys = path.split(".")
        for key in keys[:-1]:
            node = node[key]
        del node[keys[-1]]

    return apply


PROM = {"prometheus": {"address": "http://prom:9090"}}

CASES = [
    Case("no model", delp("spec.model"), "spec.model", "Required"),
    Case("no uri", delp("spec.model.uri"), "spec.model.uri", "Required"),
    Case("uri scheme", setp("spec.model.uri", "ftp://x/y"), "spec.model.uri", "s3://"),
    Case("digest format", setp("spec.model.digest", "md5:abc"), "spec.model.digest", "sha256"),
    Case("model name", setp("spec.model.name", "Fraud_Scorer"), "spec.model.name"),
    Case("version length", setp("spec.model.version", "v" * 64), "spec.model.version"),
    Case("no image", setp("spec.runtime", {}), "spec.runtime.image", "Required"),
    Case("gpu count", setp("spec.runtime.gpu", {"count": -1}), "spec.runtime.gpu.count"),
    Case(
        "gpu resource name",
        setp("spec.runtime.gpu", {"count": 1, "resourceName": "gpu"}),
        "spec.runtime.gpu.resourceName",
    ),
    Case(
        "resource quantity",
        setp("spec.runtime.resources", {"requests": {"cpu": "lots"}}),
        "spec.runtime.resources.requests[cpu]",
        "must be a quantity",
    ),
    Case("replicas", setp("spec.replicas", -1), "spec.replicas"),
    Case("port", setp("spec.runtime.port", 70000), "spec.runtime.port"),
    Case(
        "env valueFrom unknown field",
        setp(
            "spec.runtime.env",
            [
                {
                    "name": "A",
                    "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k", "bogus": 1}},
                }
            ],
        ),
        "spec.runtime.env[0].valueFrom.configMapKeyRef.bogus",
        "unknown field",
    ),
    Case(
        "env valueFrom wrong type",
        setp("spec.runtime.env", [{"name": "A", "valueFrom": {"secretKeyRef": "s"}}]),
        "spec.runtime.env[0].valueFrom.secretKeyRef",
        "must be of type object",
    ),
    Case(
        "env valueFrom two sources",
        setp(
            "spec.runtime.env",
            [
                {
                    "name": "A",
                    "valueFrom": {
                        "fieldRef": {"fieldPath": "metadata.name"},
                        "secretKeyRef": {"name": "s", "key": "k"},
                    },
                }
            ],
        ),
        "spec.runtime.env[0].valueFrom",
        "exactly one of configMapKeyRef",
    ),
    Case(
        "reserved env",
        setp("spec.runtime.env", [{"name": "MODELSHIP_MODEL_URI", "value": "x"}]),
        "spec.runtime.env[0].name",
        "set by the operator",
    ),
    Case(
        "step with two actions",
        setp("spec.rollout", {"steps": [{"setWeight": 10, "pause": {}}]}),
        "spec.rollout.steps[0]",
        "exactly one of setWeight, pause",
    ),
    Case(
        "empty step", setp("spec.rollout", {"steps": [{}]}), "spec.rollout.steps[0]", "exactly one"
    ),
    Case(
        "weight over 100",
        setp("spec.rollout", {"steps": [{"setWeight": 150}]}),
        "spec.rollout.steps[0].setWeight",
    ),
    Case(
        "progress deadline",
        setp("spec.rollout", {"progressDeadline": "10 minutes"}),
        "spec.rollout.progressDeadline",
        "duration",
    ),
    Case(
        "pause duration",
        setp("spec.rollout", {"steps": [{"pause": {"duration": "1d"}}]}),
        "spec.rollout.steps[0].pause.duration",
        "duration",
    ),
    Case("capacity", setp("spec.rollout", {"capacity": "lots"}), "spec.rollout.capacity", "surge"),
    Case(
        "analysis interval",
        setp("spec.analysis", {"interval": "30"}),
        "spec.analysis.interval",
        "duration",
    ),
    Case(
        "two providers",
        setp("spec.analysis", {"provider": {**PROM, "scrape": {}}}),
        "spec.analysis.provider",
        "exactly one of prometheus, scrape",
    ),
    Case(
        "no provider",
        setp("spec.analysis", {"provider": {}}),
        "spec.analysis.provider",
        "exactly one",
    ),
    Case(
        "prometheus address",
        setp("spec.analysis", {"provider": {"prometheus": {"address": "prom:9090"}}}),
        "spec.analysis.provider.prometheus.address",
        "http",
    ),
    Case(
        "check with two kinds",
        setp(
            "spec.analysis",
            {
                "provider": PROM,
                "checks": [{"name": "a", "errorRate": {"max": 0.01}, "latency": {"max": "1s"}}],
            },
        ),
        "spec.analysis.checks[0]",
        "exactly one of",
    ),
    Case(
        "duplicate check names",
        setp(
            "spec.analysis",
            {
                "provider": PROM,
                "checks": [
                    {"name": "a", "errorRate": {"max": 0.01}},
                    {"name": "a", "errorRate": {"max": 0.02}},
                ],
            },
        ),
        "spec.analysis.checks[1]",
        "Duplicate",
    ),
    Case(
        "query without prometheus",
        setp(
            "spec.analysis",
            {
                "provider": {"scrape": {}},
                "checks": [{"name": "q", "query": {"promql": "up", "max": 1}}],
            },
        ),
        "spec.analysis.checks",
        "provider.prometheus",
    ),
    Case(
        "latency without bound",
        setp(
            "spec.analysis",
            {"provider": PROM, "checks": [{"name": "l", "latency": {"quantile": 0.99}}]},
        ),
        "spec.analysis.checks[0].latency",
        "maxIncrease",
    ),
    Case(
        "error rate over 1",
        setp(
            "spec.analysis",
            {"provider": PROM, "checks": [{"name": "e", "errorRate": {"max": 1.5}}]},
        ),
        "spec.analysis.checks[0].errorRate.max",
    ),
    Case(
        "drift method",
        setp(
            "spec.drift",
            {"reference": {"configMapRef": {"name": "r", "key": "k"}}, "method": "euclid"},
        ),
        "spec.drift.method",
        "psi",
    ),
    Case(
        "drift windows",
        setp("spec.retraining", {"trigger": {"driftWindows": 0}, "jobTemplate": {}}),
        "spec.retraining.trigger.driftWindows",
    ),
    Case("name not DNS-1035", setp("metadata.name", "1model"), "metadata.name", "DNS-1035"),
    Case("name too long", setp("metadata.name", "m" * 60), "metadata.name", "52"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_rejected_with_field_path(kubectl: Kubectl, namespace: str, case: Case) -> None:
    obj = copy.deepcopy(model_deployment("valid-name"))
    case.mutate(obj)
    done = kubectl.run(
        "apply", "--dry-run=server", "-n", namespace, "-f", "-", input=dump(obj), check=False
    )
    assert done.returncode != 0, f"{case.name}: accepted\n{dump(obj)}"
    assert case.field in done.stderr, done.stderr
    assert case.words in done.stderr, done.stderr


def test_valid_examples_are_accepted(kubectl: Kubectl, namespace: str) -> None:
    """Every example, as the API server would take it. Those that name their namespaces
    (examples/promotion/: one per environment) go there, which must exist for real."""
    from modelship_testenv.cluster import repo_root

    made: list[str] = []
    try:
        for path in sorted((repo_root() / "examples").rglob("*.yaml")):
            docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
            spaces = {d["metadata"]["namespace"] for d in docs if "namespace" in d["metadata"]}
            for ns in sorted(spaces - set(made)):
                if kubectl.run("get", "namespace", ns, check=False).returncode != 0:
                    kubectl.run("create", "namespace", ns)
                    made.append(ns)
            where = [] if spaces else ["-n", namespace]
            done = kubectl.run("apply", "--dry-run=server", *where, "-f", str(path), check=False)
            assert done.returncode == 0, f"{path.name}: {done.stderr}"
    finally:
        for ns in made:
            kubectl.run("delete", "namespace", ns, "--wait=false", check=False)


def test_other_modelship_variables_are_the_users(kubectl: Kubectl, namespace: str) -> None:
    """Only the variables the operator sets are refused (docs/api.md says the same): the
    runtime's fault knobs and any other MODELSHIP_* name are the user's to set."""
    runtime = {
        "image": "registry.example.com/modelship-runtime:0.1",
        "env": [
            {"name": "MODELSHIP_X", "value": "1"},
            {"name": "MODELSHIP_FAULT_LATENCY", "value": "5ms"},
        ],
    }
    obj = model_deployment("env-ok", runtime=runtime)
    done = kubectl.run(
        "apply", "--dry-run=server", "-n", namespace, "-f", "-", input=dump(obj), check=False
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("field", ["stepStartedAt", "lastProgressAt", "abortedAt"])
def test_a_status_time_that_is_not_a_date_time_is_refused(
    kubectl: Kubectl, namespace: str, field: str
) -> None:
    """A garbage time in status once wedged every reconcile (issue 16, item 2): the API
    server now refuses it, naming the field (the operator repairs one stored earlier)."""
    assert kubectl.apply(dump(model_deployment("times")), namespace).returncode == 0
    canary = {
        "revision": {"name": "abc", "modelVersion": "2.0.0"},
        "phase": "Progressing",
        "startedAt": "2026-01-01T11:00:00Z",
        "stepStartedAt": "2026-01-01T11:00:00Z",
        "lastProgressAt": "2026-01-01T11:00:00Z",
        field: "garbage",
    }
    done = kubectl.run(
        "patch",
        "md",
        "times",
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": {"canary": canary}}),
        check=False,
    )
    assert done.returncode != 0, done.stdout
    assert f"status.canary.{field}" in done.stderr and "date-time" in done.stderr, done.stderr


def test_an_apply_of_undeclared_fields_is_an_invalid_object_not_a_retry(
    kubectl: Kubectl, namespace: str
) -> None:
    """The API server answers a server-side apply with fields its schema does not declare
    with a 500 "failed to create typed patch object"; retried as transient it kept a
    ModelDeployment without status for minutes (issue 16, item 3)."""
    from modelship.errors import InvalidObjectError
    from modelship.kube import connect

    kube = connect(pool_size=1, kubeconfig=str(kubectl.kubeconfig))
    container = {"name": "c", "image": "x", "env": [{"name": "A", "valueFrom": {"bogus": 1}}]}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "typed", "namespace": namespace},
        "spec": {
            "selector": {"matchLabels": {"a": "b"}},
            "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [container]}},
        },
    }
    with pytest.raises(InvalidObjectError, match="typed patch"):
        kube.apply(deployment)
