"""Each revision's served spec (model + runtime) kept as a ControllerRevision.

The stable track must keep serving the old revision while the spec already
names the new one, and `undo --to-revision N` needs older ones: like a
StatefulSet, the operator stores them as apps/v1 ControllerRevisions owned by
the ModelDeployment, named NAME-<revision>.
"""

from __future__ import annotations

from typing import Any

from modelship.api import ModelDeploymentSpec
from modelship.api.deployment import ModelRef, Runtime
from modelship.render.labels import REVISION, Owner, selector


def controller_revision_name(owner_name: str, revision: str) -> str:
    return f"{owner_name}-{revision}"


def controller_revision(
    owner: Owner, spec: ModelDeploymentSpec, revision: str, number: int
) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": {
            "name": controller_revision_name(owner.name, revision),
            "namespace": owner.namespace,
            "labels": {**selector(owner.name), REVISION: revision},
            "ownerReferences": [owner.reference()],
        },
        "revision": number,
        "data": {
            "model": spec.model.model_dump(mode="json", by_alias=True, exclude_none=True),
            "runtime": spec.runtime.model_dump(mode="json", by_alias=True, exclude_none=True),
        },
    }


def served_spec(spec: ModelDeploymentSpec, stored: dict[str, Any]) -> ModelDeploymentSpec:
    """``spec`` with the model and runtime of a stored revision."""
    data = stored.get("data") or {}
    return spec.model_copy(
        update={
            "model": ModelRef.model_validate(data["model"]),
            "runtime": Runtime.model_validate(data["runtime"]),
        }
    )
