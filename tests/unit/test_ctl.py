"""The manual commands refuse what cannot apply now, with the reason (exit 1)."""

from __future__ import annotations

from typing import Any, cast

import pytest

from modelship.api.status import ModelDeploymentStatus, RevisionRef
from modelship.ctl import Ctl
from modelship.errors import CtlError
from modelship.kube import Kube


class OneObject:
    """What Ctl asks of the Kubernetes layer: get the object, annotate it."""

    def __init__(self, obj: dict[str, Any]) -> None:
        self.obj = obj
        self.annotated: list[dict[str, str]] = []

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any]:
        return self.obj

    def annotate(
        self, api_version: str, kind: str, namespace: str, name: str, notes: dict[str, str]
    ) -> dict[str, Any]:
        self.annotated.append(notes)
        return self.obj


def healthy(annotations: dict[str, str] | None = None) -> OneObject:
    status = ModelDeploymentStatus(stable_revision=RevisionRef(name="r1", model_version="1.0"))
    return OneObject(
        {
            "metadata": {"name": "m", "namespace": "ns", "annotations": annotations or {}},
            "status": status.model_dump(mode="json", by_alias=True, exclude_none=True),
        }
    )


def test_resume_with_nothing_paused_is_refused_with_the_reason() -> None:
    kube = healthy()
    with pytest.raises(CtlError, match="nothing to resume"):
        Ctl(cast(Kube, kube), "ns").pause("m", paused=False)
    assert kube.annotated == [], "nothing written"


def test_resume_clears_a_pause_left_on_an_object_without_a_canary() -> None:
    kube = healthy({"modelship.io/paused": "true"})
    assert Ctl(cast(Kube, kube), "ns").pause("m", paused=False) == "m: resume requested"
    assert kube.annotated == [{"modelship.io/paused": "false"}]
