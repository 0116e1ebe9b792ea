"""A batch/v1 Job from a user's JobTemplateSpec (pure): retraining and evaluation Jobs."""

from __future__ import annotations

import copy
from typing import Any

from modelship.render.labels import MANAGED_BY, MANAGER, Owner

Obj = dict[str, Any]


def job_from_template(
    template: Obj,
    owner: Owner,
    name: str,
    labels: dict[str, str],
    env: list[Obj],
    pod_labels: dict[str, str] | None = None,
) -> Obj:
    """The template as a Job named ``name``, owned by ``owner``, with ``env`` in every
    container (replacing the template's variables of the same names), ``restartPolicy``
    Never unless the template says otherwise, and our labels on the Job (and
    ``pod_labels`` on its pods)."""
    template = copy.deepcopy(template)
    job_spec = template.get("spec") or {}
    pod_template = job_spec.setdefault("template", {})
    if pod_labels:
        pod_template.setdefault("metadata", {}).setdefault("labels", {}).update(pod_labels)
    pod_spec = pod_template.setdefault("spec", {})
    pod_spec.setdefault("restartPolicy", "Never")
    names = {e["name"] for e in env}
    for container in pod_spec.get("containers") or []:
        container["env"] = [e for e in container.get("env") or [] if e.get("name") not in names]
        container["env"] += copy.deepcopy(env)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": owner.namespace,
            "labels": {
                **((template.get("metadata") or {}).get("labels") or {}),
                MANAGED_BY: MANAGER,
                **labels,
            },
            "ownerReferences": [owner.reference()],
        },
        "spec": job_spec,
    }
