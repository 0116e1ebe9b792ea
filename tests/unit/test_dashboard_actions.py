"""The dashboard's actions are ctl.py's and promotion_ctl.py's commands; refusals by the
API server come back as 403 "Forbidden: <its message>"."""

from __future__ import annotations

from typing import Any, cast

import pytest

from modelship.dashboard.actions import perform, validate
from modelship.errors import TransientError
from modelship.kube import Kube

CANARY = {
    "revision": {"name": "r2", "modelVersion": "2.0.0"},
    "phase": "Paused",
    "step": 1,
    "weight": 20,
    "startedAt": "2026-01-01T00:00:00Z",
    "stepStartedAt": "2026-01-01T00:00:00Z",
    "lastProgressAt": "2026-01-01T00:00:00Z",
}


class Cluster:
    """What Ctl asks of the Kubernetes layer, with the API server's refusal as it is
    worded by Kube._call when ``forbid`` is set."""

    def __init__(self, status: dict[str, Any], forbid: bool = False) -> None:
        self.obj = {"metadata": {"name": "m", "namespace": "ns"}, "status": status}
        self.forbid = forbid
        self.annotated: list[dict[str, str]] = []

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any]:
        return self.obj

    def annotate(
        self, api_version: str, kind: str, namespace: str, name: str, notes: dict[str, str]
    ) -> dict[str, Any]:
        if self.forbid:
            raise TransientError(
                "PATCH /apis/modelship.io/v1alpha1/namespaces/ns/modeldeployments/m: 403 "
                'modeldeployments.modelship.io "m" is forbidden: User "bob" cannot patch'
            )
        self.annotated.append(notes)
        return self.obj


def run(cluster: Cluster, action: str) -> tuple[int, str]:
    r = perform(cast(Kube, cluster), "ModelDeployment", "ns", "m", action, "")
    return r.status, r.text


@pytest.mark.parametrize(
    ("action", "annotation"),
    [
        ("promote", "modelship.io/promote"),
        ("promote-full", "modelship.io/promote-full"),
        ("abort", "modelship.io/abort"),
        ("pause", "modelship.io/paused"),
    ],
)
def test_actions_write_the_commands_annotation(action: str, annotation: str) -> None:
    cluster = Cluster({"canary": CANARY})
    status, text = run(cluster, action)
    assert (status, text) == (200, f"m: {action} requested")
    assert [list(n) for n in cluster.annotated] == [[annotation]]


def test_refused_by_ctl_is_a_conflict_with_its_reason() -> None:
    cluster = Cluster({})
    assert run(cluster, "promote") == (
        409,
        "error: m: no canary to promote: stable ? serves all traffic",
    )
    assert cluster.annotated == []


def test_forbidden_by_the_api_server() -> None:
    status, text = run(Cluster({"canary": CANARY}, forbid=True), "abort")
    assert status == 403
    assert (
        text == 'Forbidden: modeldeployments.modelship.io "m" is forbidden: User "bob" cannot patch'
    )


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (None, "JSON object"),
        ([], "JSON object"),
        ({"kind": "ModelDeployment", "namespace": "ns", "name": "m"}, "required"),
        ({"kind": "Pod", "namespace": "ns", "name": "m", "action": "promote"}, "unknown kind"),
        (
            {"kind": "ModelDeployment", "namespace": "ns", "name": "m", "action": "approve"},
            "has no action",
        ),
        (
            {"kind": "ModelPromotion", "namespace": "ns", "name": "m", "action": "promote"},
            "has no action",
        ),
        ({"kind": "ModelDeployment", "namespace": "ns", "name": "m", "action": 1}, "required"),
    ],
)
def test_validate(body: object, problem: str) -> None:
    checked = validate(body)
    assert isinstance(checked, str) and problem in checked


def test_validate_accepts_a_promotion_rejection_with_message() -> None:
    body = {"kind": "ModelPromotion", "namespace": "ns", "name": "p", "action": "reject"}
    assert validate({**body, "message": "bad eval"}) == (
        "ModelPromotion",
        "ns",
        "p",
        "reject",
        "bad eval",
    )
