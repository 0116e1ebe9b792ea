"""Drift references are parsed once per ConfigMap version, and a bounded number kept."""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import pytest

from modelship import measuring
from modelship.drift.reference import InvalidReferenceError, Reference, numeric_feature
from modelship.kube import Kube
from modelship.measuring import Measuring
from modelship.render.labels import Owner
from tests.unit.factories import spec

TEXT = Reference(100, {"x": numeric_feature(np.arange(100.0), 4)}).dumps()


class ConfigMaps:
    """What Measuring.reference asks of the Kubernetes layer: get a ConfigMap."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}

    def put(self, name: str, text: str, version: str) -> None:
        self.items[name] = {
            "metadata": {"name": name, "resourceVersion": version},
            "data": {"reference.json": text},
        }

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        assert (api_version, kind) == ("v1", "ConfigMap")
        return self.items.get(name)


def drift_spec(name: str = "ref") -> Any:
    return spec(drift={"reference": {"configMapRef": {"name": name, "key": "reference.json"}}})


OWNER = Owner("fraud", "ml", "uid-1")


def test_parsed_once_per_version_and_again_when_the_configmap_changes() -> None:
    store = ConfigMaps()
    m = Measuring(cast(Kube, store), lambda owner: [])
    store.put("ref", TEXT, "10")
    first = m.reference(OWNER, drift_spec())
    assert m.reference(OWNER, drift_spec()) is first
    changed = Reference(100, {"x": numeric_feature(np.arange(100.0) * 2, 4)})
    store.put("ref", changed.dumps(), "11")
    second = m.reference(OWNER, drift_spec())
    assert second is not first and second == changed
    store.put("ref", "{not json", "12")
    with pytest.raises(InvalidReferenceError, match="not JSON"):
        m.reference(OWNER, drift_spec())
    del store.items["ref"]
    with pytest.raises(LookupError, match="ConfigMap ml/ref not found"):
        m.reference(OWNER, drift_spec())


def test_at_most_the_configured_number_of_references_are_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(measuring, "REFERENCES_KEPT", 3)
    store = ConfigMaps()
    m = Measuring(cast(Kube, store), lambda owner: [])
    for i in range(5):
        store.put(f"ref{i}", TEXT, "1")
    kept = {i: m.reference(OWNER, drift_spec(f"ref{i}")) for i in range(4)}
    assert m.reference(OWNER, drift_spec("ref1")) is kept[1]  # recently used: kept
    m.reference(OWNER, drift_spec("ref4"))  # drops ref2, the least recently used
    assert m.reference(OWNER, drift_spec("ref3")) is kept[3]
    assert m.reference(OWNER, drift_spec("ref2")) is not kept[2]
