"""The resource label of the operator's request-latency metric, read from a path."""

from __future__ import annotations

import pytest

from modelship.kube.client import collection_path, object_path, resource_of


@pytest.mark.parametrize(
    ("path", "resource"),
    [
        (object_path("apps/v1", "Deployment", "ns", "m-stable"), "deployments"),
        (collection_path("v1", "Pod", "ns"), "pods"),
        (
            object_path("modelship.io/v1alpha1", "ModelDeployment", "ns", "m") + "/status",
            "modeldeployments/status",
        ),
        (collection_path("v1", "Node", None), "nodes"),
        ("/apis/authentication.k8s.io/v1/selfsubjectreviews", "selfsubjectreviews"),
        ("/apis/apps/v1", "discovery"),
        ("/api/v1", "discovery"),
        ("/api/v1/namespaces/ns", "namespaces"),
    ],
)
def test_a_request_path_names_its_resource(path: str, resource: str) -> None:
    assert resource_of(path) == resource
