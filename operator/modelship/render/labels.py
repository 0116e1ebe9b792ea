"""Labels the operator puts on everything it creates (api.md)."""

from __future__ import annotations

import hashlib
import string
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


_LABEL_CHARS = frozenset(string.ascii_letters + string.digits + "-_.")


def label_value(text: str) -> str:
    """Free text (a model version) as a valid label value: ASCII letters, digits and
    ``-_.``, at most 63 characters, alphanumeric at both ends. Text that does not survive
    that unchanged ("版本-1", "1.0 🚀") gets 8 hex digits of its SHA-256 appended, so two
    versions never share a label; ``lossless`` says whether it did."""
    cleaned = "".join(c if c in _LABEL_CHARS else "_" for c in text)[:63].strip("-_.")
    if cleaned == text:
        return cleaned
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    return f"{cleaned[:54].strip('-_.')}-{digest}".lstrip("-")


def lossless(text: str) -> bool:
    """``text`` is its own label value (no annotation needed to keep the original)."""
    return label_value(text) == text


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
