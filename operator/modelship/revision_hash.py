"""Revisions: a short hash of everything that changes the served model.

Replica count, rollout plan and analysis do not change what is served, so they
are left out: scaling never starts a new revision.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from modelship.api import ModelDeploymentSpec
from modelship.api.status import RevisionRef


def _absent_if_empty(value: Any) -> Any:
    """An empty list means the same as no list (``env: []`` and no ``env``): hash both
    alike, so a revert written either way finds its revision instead of a new canary."""
    if isinstance(value, dict):
        return {k: _absent_if_empty(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_absent_if_empty(v) for v in value] or None
    return value


def revision_name(spec: ModelDeploymentSpec) -> str:
    served = _absent_if_empty(
        {
            "model": spec.model.model_dump(mode="json", by_alias=True),
            "runtime": spec.runtime.model_dump(mode="json", by_alias=True),
        }
    )
    canonical = json.dumps(served, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:10]


def revision_ref(spec: ModelDeploymentSpec) -> RevisionRef:
    return RevisionRef(
        name=revision_name(spec),
        model_version=spec.model.version,
        digest=spec.model.digest,
        image=spec.runtime.image,
    )
