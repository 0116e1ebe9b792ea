"""Generate the CustomResourceDefinitions in crds/ from the pydantic models.

pydantic emits JSON Schema 2020-12; the API server wants a *structural*
OpenAPI v3.0 schema: every node typed, no $ref, no anyOf for nullables,
``x-kubernetes-int-or-string`` instead of a string|integer union, and
``exclusiveMinimum`` as a boolean. ``to_structural`` does that translation.
"""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import BaseModel

from modelship.api import GROUP, KIND, PLURAL, VERSION, ModelDeployment
from modelship.api.promotion import PROMOTION_KIND, PROMOTION_PLURAL, ModelPromotion
from modelship.api.types import cel

_DROP = {"title", "$defs"}

Schema = dict[str, Any]


def to_structural(node: Schema, defs: dict[str, Schema]) -> Schema:
    """Translate one pydantic JSON-schema node into a structural OpenAPI node."""
    node = dict(node)
    if "$ref" in node:
        target = defs[node.pop("$ref").rsplit("/", 1)[-1]]
        # Siblings of $ref (a field's own description) win over the model's.
        node = {**target, **node}
    if "anyOf" in node:
        branches = [b for b in node.pop("anyOf") if b.get("type") != "null"]
        if node.get("default", 0) is None:
            node.pop("default")
        types = sorted(b.get("type", "") for b in branches)
        if types == ["integer", "string"]:
            node["x-kubernetes-int-or-string"] = True
        elif len(branches) == 1:
            return to_structural({**branches[0], **node}, defs)
        else:
            raise ValueError(f"cannot express union {branches} structurally")
    out: Schema = {}
    for key, value in node.items():
        if key in _DROP:
            continue
        if key == "properties":
            out[key] = {k: to_structural(v, defs) for k, v in value.items()}
        elif key == "items":
            out[key] = to_structural(value, defs)
        elif key == "additionalProperties":
            if value is True:
                out["x-kubernetes-preserve-unknown-fields"] = True
            elif isinstance(value, dict):
                out[key] = to_structural(value, defs)
        elif key == "exclusiveMinimum":
            out["minimum"], out["exclusiveMinimum"] = value, True
        elif key == "exclusiveMaximum":
            out["maximum"], out["exclusiveMaximum"] = value, True
        elif key == "default" and isinstance(value, dict | list):
            continue  # object defaults are applied by the models, not the API server
        else:
            out[key] = value
    if out.get("type") == "object":
        # pydantic spells a dict's size bounds as string lengths.
        for size, props in (("maxLength", "maxProperties"), ("minLength", "minProperties")):
            if size in out:
                out[props] = out.pop(size)
    if out.get("x-kubernetes-preserve-unknown-fields") and "type" not in out:
        out["type"] = "object"
    if "properties" in out and "type" not in out:
        out["type"] = "object"
    if "x-kubernetes-int-or-string" in out:
        out.pop("type", None)
    return out


def _printer_columns() -> list[Schema]:
    return [
        {"name": "Model", "type": "string", "jsonPath": ".spec.model.name"},
        {
            "name": "Version",
            "type": "string",
            "jsonPath": ".status.stableRevision.modelVersion",
            "description": "Model version served by the stable track.",
        },
        {
            "name": "Canary",
            "type": "string",
            "jsonPath": ".status.canarySummary",
            "description": "Canary model version and traffic weight.",
        },
        {
            "name": "Ready",
            "type": "string",
            "jsonPath": ".status.readySummary",
            "description": "Ready runtime pods / desired.",
        },
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        # Priority 1: only in `kubectl get -o wide`, so the default view stays api.md's.
        {
            "name": "Drift",
            "type": "string",
            "jsonPath": ".status.drift.verdict",
            "description": "The stable track's last drift verdict.",
            "priority": 1,
        },
        {
            "name": "Retraining",
            "type": "string",
            "jsonPath": ".status.retraining.active.name",
            "description": "The retraining Job running now.",
            "priority": 1,
        },
    ]


def _crd(
    model: type[BaseModel],
    kind: str,
    plural: str,
    short_names: list[str],
    columns: list[Schema],
    root_rules: list[Schema],
) -> Schema:
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs = raw.get("$defs", {})
    props = {k: to_structural(v, defs) for k, v in raw["properties"].items()}
    schema: Schema = {
        "type": "object",
        "description": to_structural(raw, defs).get("description", ""),
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": props["spec"],
            "status": props["status"],
        },
    }
    if root_rules:
        schema["x-kubernetes-validations"] = root_rules
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": short_names,
                "categories": ["modelship"],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": schema},
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": columns,
                }
            ],
        },
    }


def model_deployment_crd() -> Schema:
    # The Service is named after the object, so the name must be a DNS-1035 label;
    # 52 characters leave room for the -canary / -stable suffixes of child objects.
    name_rule = cel(
        "self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$') "
        "&& size(self.metadata.name) <= 52",
        "metadata.name must be a DNS-1035 label (lowercase letters, digits, '-', starting "
        "with a letter) of at most 52 characters",
    )
    return _crd(ModelDeployment, KIND, PLURAL, ["md", "mdep"], _printer_columns(), [name_rule])


def _promotion_columns() -> list[Schema]:
    return [
        {
            "name": "From",
            "type": "string",
            "jsonPath": ".status.fromSummary",
            "description": "namespace/name of the source ModelDeployment.",
        },
        {
            "name": "To",
            "type": "string",
            "jsonPath": ".status.toSummary",
            "description": "namespace/name of the target ModelDeployment.",
        },
        {
            "name": "Version",
            "type": "string",
            "jsonPath": ".status.version",
            "description": "Model version of the current or last run.",
        },
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
        {
            "name": "Gates",
            "type": "string",
            "jsonPath": ".status.gatesSummary",
            "description": "Gates passing / gates.",
        },
        {
            "name": "Soak",
            "type": "string",
            "jsonPath": ".status.soakRemaining",
            "description": "Soak time remaining.",
        },
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        {
            "name": "Mode",
            "type": "string",
            "jsonPath": ".spec.mode",
            "description": "Once or Continuous.",
            "priority": 1,
        },
        {
            "name": "Runs",
            "type": "integer",
            "jsonPath": ".status.runs",
            "description": "Runs started.",
            "priority": 1,
        },
    ]


def model_promotion_crd() -> Schema:
    # The evaluation Job is named NAME-eval-<run>: 52 characters leave room for it.
    name_rule = cel(
        "self.metadata.name.matches('^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$') "
        "&& size(self.metadata.name) <= 52",
        "metadata.name must be lowercase letters, digits, '-' or '.', of at most 52 "
        "characters (its evaluation Jobs are named after it)",
    )
    return _crd(
        ModelPromotion,
        PROMOTION_KIND,
        PROMOTION_PLURAL,
        ["mpromo"],
        _promotion_columns(),
        [name_rule],
    )


APPROVAL_POLICY = "modelpromotion-approval.modelship.io"


def approval_policy() -> list[Schema]:
    """The ValidatingAdmissionPolicy (and its binding) that makes an approval a verified
    identity (api/approvals.py): an added approve/reject annotation must carry the
    requesting user's own name, its author must hold the ``approve`` verb on
    modelpromotions, and an approval cannot be edited into someone else's."""
    from modelship.api.approvals import APPROVE_PREFIX, REJECT_PREFIX

    voting = f"(k.startsWith('{APPROVE_PREFIX}') || k.startsWith('{REJECT_PREFIX}'))"
    user = "request.userInfo.username"
    policy: Schema = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": APPROVAL_POLICY},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": [GROUP],
                        "apiVersions": ["*"],
                        "operations": ["CREATE", "UPDATE"],
                        "resources": [PROMOTION_PLURAL],
                    }
                ]
            },
            "variables": [
                {
                    "name": "old",
                    "expression": "oldObject != null && has(oldObject.metadata.annotations) "
                    "? oldObject.metadata.annotations : {}",
                },
                {
                    "name": "new",
                    "expression": "has(object.metadata.annotations) "
                    "? object.metadata.annotations : {}",
                },
                {
                    "name": "added",
                    "expression": f"variables.new.filter(k, {voting} && "
                    "(!(k in variables.old) || variables.old[k] != variables.new[k]))",
                },
                {
                    "name": "removed",
                    "expression": f"variables.old.filter(k, {voting} && !(k in variables.new))",
                },
            ],
            "validations": [
                {
                    "expression": "variables.added.all(k, variables.new[k] == "
                    f"{user} || variables.new[k].startsWith({user} + '\\n'))",
                    "messageExpression": "'an approve.modelship.io/ or reject.modelship.io/ "
                    "annotation must carry your own username (' + "
                    f"{user} + '), as its value or its first line'",
                    "reason": "Forbidden",
                },
                {
                    "expression": "variables.added.all(k, !(k in variables.old))",
                    "message": "an approval or rejection cannot be edited; remove it and add "
                    "your own",
                    "reason": "Forbidden",
                },
                {
                    "expression": "(variables.added.size() == 0 && variables.removed.size() "
                    "== 0) || authorizer.group('modelship.io').resource('modelpromotions')"
                    ".namespace(request.namespace).name(request.name)"
                    ".check('approve').allowed()",
                    "messageExpression": "'approving or rejecting a ModelPromotion needs the "
                    "approve verb on modelpromotions.modelship.io; ' + "
                    f"{user} + ' does not have it'",
                    "reason": "Forbidden",
                },
            ],
        },
    }
    binding: Schema = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": APPROVAL_POLICY},
        "spec": {"policyName": APPROVAL_POLICY, "validationActions": ["Deny"]},
    }
    return [policy, binding]


def render_all() -> dict[str, str]:
    """File name in crds/ -> YAML text."""
    header = "# Generated by `make crds` from operator/modelship/api; do not edit.\n"
    return {
        f"{crd['metadata']['name']}.yaml": header
        + yaml.safe_dump(crd, sort_keys=False, width=100, allow_unicode=True)
        for crd in (model_deployment_crd(), model_promotion_crd())
    } | {
        "modelpromotion-approval-policy.yaml": header
        + yaml.safe_dump_all(approval_policy(), sort_keys=False, width=100, allow_unicode=True)
    }
