"""The watch-fed child cache: what observe reads children from, and what pruning trusts."""

from __future__ import annotations

from typing import Any

from modelship.cache import ChildCache

LABELS = {"app.kubernetes.io/managed-by": "modelship", "modelship.io/model-deployment": "m"}


def obj(kind: str, name: str, rv: str, **extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": kind,
        "metadata": {
            "name": name,
            "namespace": "ns",
            "resourceVersion": rv,
            "labels": dict(LABELS),
            "ownerReferences": [{"uid": "u1", "kind": "ModelDeployment", "name": "m"}],
            "managedFields": [{"manager": "big"}],
        },
        **extra,
    }


def names(cache: ChildCache, owner: str = "m") -> list[str]:
    return sorted(f"{o['kind']}/{o['metadata']['name']}" for o in cache.children("ns", owner))


def test_children_are_indexed_by_owner_and_follow_deletes() -> None:
    cache = ChildCache()
    cache.put(obj("Service", "m", "5"))
    cache.put(obj("Service", "m-canary", "6"))
    other = obj("Service", "x", "7")
    other["metadata"]["labels"]["modelship.io/model-deployment"] = "x"
    cache.put(other)
    assert names(cache) == ["Service/m", "Service/m-canary"]
    cache.delete({"kind": "Service", "metadata": {"namespace": "ns", "name": "m-canary"}})
    assert names(cache) == ["Service/m"], "a delete by name alone (the executor's) is enough"
    assert names(cache, "x") == ["Service/x"]


def test_an_older_event_never_replaces_a_newer_object() -> None:
    cache = ChildCache()
    cache.put(obj("Service", "m", "9", spec={"replicas": 2}))
    cache.put(obj("Service", "m", "8", spec={"replicas": 1}))
    (kept,) = cache.children("ns", "m")
    assert kept["metadata"]["resourceVersion"] == "9"


def test_trimmed_children_keep_what_observe_and_pruning_read() -> None:
    cache = ChildCache()
    route = obj(
        "HTTPRoute",
        "m",
        "3",
        spec={
            "parentRefs": [{"name": "gw"}],
            "rules": [{"backendRefs": [{"name": "m-stable", "port": 80, "weight": 90}]}],
        },
    )
    route["apiVersion"] = "gateway.networking.k8s.io/v1"
    cache.put(route)
    (kept,) = cache.children("ns", "m")
    assert kept["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert kept["metadata"]["ownerReferences"] == [{"uid": "u1"}], "owner uid, for pruning"
    assert kept["spec"] == {"rules": [{"backendRefs": [{"name": "m-stable", "weight": 90}]}]}
    assert "managedFields" not in kept["metadata"]
