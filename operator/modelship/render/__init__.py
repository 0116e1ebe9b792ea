"""Pure renderers: ModelDeployment -> Kubernetes object dicts. No I/O, no clock."""

from __future__ import annotations

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
    # Only metadata changes, so only it is copied (a deep copy was half a decision's time).
    meta = obj["metadata"]
    notes = {**(meta.get("annotations") or {}), APPLIED_HASH: digest}
    return {**obj, "metadata": {**meta, "annotations": notes}}
