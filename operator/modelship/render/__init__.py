"""Pure renderers: ModelDeployment -> Kubernetes object dicts. No I/O, no clock."""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

from modelship.render.labels import APPLIED_HASH


def with_applied_hash(obj: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``obj`` annotated with a hash of its own content.

    The reconcile compares it with the live object's annotation and skips the
    server-side apply when they match: the apply could change nothing we own.
    """
    digest = hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]
    out = copy.deepcopy(obj)
    out["metadata"].setdefault("annotations", {})[APPLIED_HASH] = digest
    return out
