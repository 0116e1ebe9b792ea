"""The generated CRD is structural and crds/ is up to date."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from modelship.crd import model_deployment_crd

REPO = Path(__file__).resolve().parents[2]


def _walk(node: dict[str, Any], path: str) -> list[str]:
    problems = []
    for banned in ("$ref", "anyOf", "oneOf", "allOf", "title", "$defs"):
        if banned in node:
            problems.append(f"{path}: has {banned}")
    typed = (
        "type" in node
        or node.get("x-kubernetes-int-or-string")
        or node.get("x-kubernetes-preserve-unknown-fields")
    )
    if not typed:
        problems.append(f"{path}: no type")
    for bound in ("minimum", "maximum"):
        if bound in node and (
            isinstance(node[bound], bool) or not isinstance(node[bound], int | float)
        ):
            problems.append(f"{path}: {bound} is not a number")
    for key, child in (node.get("properties") or {}).items():
        problems += _walk(child, f"{path}.{key}")
    if isinstance(node.get("items"), dict):
        problems += _walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        problems += _walk(node["additionalProperties"], f"{path}{{}}")
    return problems


def test_schema_is_structural() -> None:
    schema = model_deployment_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert _walk(schema, "") == []


def test_every_spec_field_has_a_description_for_kubectl_explain() -> None:
    spec = model_deployment_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"][
        "spec"
    ]
    missing = []

    def visit(node: dict[str, Any], path: str) -> None:
        for key, child in (node.get("properties") or {}).items():
            if not child.get("description"):
                missing.append(f"{path}.{key}")
            visit(child, f"{path}.{key}")
            if isinstance(child.get("items"), dict):
                visit(child["items"], f"{path}.{key}[]")

    visit(spec, "spec")
    assert missing == []


def test_names_printer_columns_and_status_subresource() -> None:
    crd = model_deployment_crd()
    assert crd["spec"]["names"]["shortNames"] == ["md", "mdep"]
    version = crd["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    assert [c["name"] for c in version["additionalPrinterColumns"]] == [
        "Model",
        "Version",
        "Canary",
        "Ready",
        "Phase",
        "Age",
        "Drift",
        "Retraining",
    ]
    wide_only = [c["name"] for c in version["additionalPrinterColumns"] if c.get("priority")]
    assert wide_only == ["Drift", "Retraining"]


def test_checked_in_crds_are_current() -> None:
    """`make check-crds`: fails when crds/ was not regenerated after a model change."""
    done = subprocess.run(
        ["make", "-s", "check-crds", f"PYTHON={sys.executable}"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
