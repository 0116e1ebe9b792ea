"""Drift references are parsed once per ConfigMap version, and a bounded number kept."""

from __future__ import annotations

from typing import Any, cast

import numpy as np

from modelship.drift.reference import Reference, numeric_feature
from modelship.kube import Kube
from modelship.observe.references import References
from tests.unit.factories import spec

TEXT = Reference(100, {"x": numeric_feature(np.arange(100.0), 4)}).dumps()


class ConfigMaps:
    """What References.get asks of the Kubernetes layer: get a ConfigMap."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}

    def put(self, name: str, text: str, version: str) -> None:
        self.items[name] = {
            "metadata": {"name": name, "resourceVersion": version},
            "data": {"reference.json": text},
        }

    def get(
        self, api_version: str, kind: str, namespace: str, name: str, cached: bool = False
    ) -> dict[str, Any] | None:
        assert (api_version, kind) == ("v1", "ConfigMap")
        assert cached, "a reference is read from the API server's watch cache"
        return self.items.get(name)


def drift_spec(name: str = "ref") -> Any:
    body = {"reference": {"configMapRef": {"name": name, "key": "reference.json"}}}
    return spec(drift=body).drift


def test_parsed_once_per_version_and_again_when_the_configmap_changes() -> None:
    store = ConfigMaps()
    m = References(cast(Kube, store))
    store.put("ref", TEXT, "10")
    first = m.get("ml", drift_spec())
    assert m.get("ml", drift_spec()) is first
    changed = Reference(100, {"x": numeric_feature(np.arange(100.0) * 2, 4)})
    store.put("ref", changed.dumps(), "11")
    second = m.get("ml", drift_spec())
    assert second is not first and second == changed
    store.put("ref", "{not json", "12")
    invalid = m.get("ml", drift_spec())
    assert isinstance(invalid, str) and invalid.startswith("drift reference is not valid: not JSON")
    store.items["ref"]["data"] = {"other.json": TEXT}
    assert m.get("ml", drift_spec()) == "drift reference: ConfigMap ref has no key 'reference.json'"
    del store.items["ref"]
    assert m.get("ml", drift_spec()) == "drift reference: ConfigMap ml/ref not found"


def test_at_most_the_configured_number_of_references_are_kept() -> None:
    store = ConfigMaps()
    m = References(cast(Kube, store), kept=3)
    for i in range(5):
        store.put(f"ref{i}", TEXT, "1")
    kept = {i: m.get("ml", drift_spec(f"ref{i}")) for i in range(4)}
    assert m.get("ml", drift_spec("ref1")) is kept[1]  # recently used: kept
    m.get("ml", drift_spec("ref4"))  # drops ref2, the least recently used
    assert m.get("ml", drift_spec("ref3")) is kept[3]
    assert m.get("ml", drift_spec("ref2")) is not kept[2]
