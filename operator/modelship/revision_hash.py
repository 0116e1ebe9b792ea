"""Revisions: a short hash of everything that changes the served model.

Replica count, rollout plan and analysis do not change what is served, so they
are left out: scaling never starts a new revision.
"""

from __future__ import annotations

import hashlib
import json

from modelship.api import ModelDeploymentSpec
from modelship.api.status import RevisionRef


def revision_name(spec: ModelDeploymentSpec) -> str:
    served = {
        "model": spec.model.model_dump(mode="json", by_alias=True),
        "runtime": spec.runtime.model_dump(mode="json", by_alias=True),
    }
    canonical = json.dumps(served, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:10]


def revision_ref(spec: ModelDeploymentSpec) -> RevisionRef:
    return RevisionRef(
        name=revision_name(spec),
        model_version=spec.model.version,
        digest=spec.model.digest,
        image=spec.runtime.image,
    )
