"""Labels the operator puts on everything it creates (api.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

MANAGED_BY: Final = "app.kubernetes.io/managed-by"
MANAGER: Final = "modelship"
MODEL_DEPLOYMENT: Final = "modelship.io/model-deployment"
TRACK: Final = "modelship.io/track"
REVISION: Final = "modelship.io/revision"
MODEL_VERSION: Final = "modelship.io/model-version"
# Hash of the object as rendered: equal hash, nothing to apply.
APPLIED_HASH: Final = "modelship.io/applied-hash"

Track = Literal["stable", "canary"]


@dataclass(frozen=True)
class Owner:
    """The ModelDeployment that owns a child object."""

    name: str
    namespace: str
    uid: str
    api_version: str = "modelship.io/v1alpha1"
    kind: str = "ModelDeployment"

    def reference(self) -> dict[str, object]:
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }


def label_value(text: str) -> str:
    """Make free text (a model version) a valid label value: <=63 chars, alnum ends."""
    cleaned = "".join(c if c.isalnum() or c in "-_." else "_" for c in text)[:63]
    return cleaned.strip("-_.")


def selector(owner_name: str) -> dict[str, str]:
    """Labels selecting every runtime pod of a ModelDeployment, any track."""
    return {MANAGED_BY: MANAGER, MODEL_DEPLOYMENT: owner_name}


def track_labels(owner_name: str, track: Track) -> dict[str, str]:
    return {**selector(owner_name), TRACK: track}


def revision_labels(owner_name: str, track: Track, revision: str, version: str) -> dict[str, str]:
    return {
        **track_labels(owner_name, track),
        REVISION: revision,
        MODEL_VERSION: label_value(version),
    }
