"""The drift method registry: every method is complete everywhere it is read (API model,
CRD, scores, assess, docs), and an unknown name is rejected with the valid ones."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from modelship.api import ModelDeployment, ModelDeploymentSpec
from modelship.crd import model_deployment_crd
from modelship.drift.assess import assess
from modelship.drift.methods import DEFAULT, METHODS, NAMES, DriftMethod
from modelship.drift.reference import CategoricalFeature, Reference, bin_counts, numeric_feature
from modelship.drift.scores import scores
from tests.unit.factories import spec_dict

REPO = Path(__file__).resolve().parents[2]
RNG = np.random.default_rng(5)
NUMERIC = numeric_feature(RNG.standard_normal(20000), 10)
REFERENCE = Reference(
    20000, {"x": NUMERIC, "c": CategoricalFeature({"a": 10000.0, "b": 6000.0, "d": 4000.0})}
)


def _drift_props() -> dict[str, Any]:
    schema = model_deployment_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    props: dict[str, Any] = schema["properties"]["spec"]["properties"]["drift"]["properties"]
    return props


def _window(shift: float, rows: int = 20000) -> dict[str, Any]:
    values = np.random.default_rng(9).standard_normal(rows) + shift
    share = {"a": 0.5, "b": 0.3, "d": 0.2} if shift == 0 else {"a": 0.3, "b": 0.3, "d": 0.4}
    return {"x": list(bin_counts(NUMERIC, values)), "c": {k: v * rows for k, v in share.items()}}


def _drift(method: str) -> dict[str, Any]:
    return {
        "reference": {"configMapRef": {"name": "ref", "key": "reference.json"}},
        "method": method,
    }


def test_the_crd_enum_is_exactly_the_registry_and_the_default_is_one() -> None:
    method = _drift_props()["method"]
    assert method["type"] == "string"
    assert method["enum"] == list(NAMES) == list(METHODS)
    assert method["default"] == DEFAULT in METHODS


@pytest.mark.parametrize("m", METHODS.values(), ids=NAMES)
def test_every_method_is_complete(m: DriftMethod) -> None:
    assert isinstance(m.default_threshold, float) and m.default_threshold > 0
    assert m.description and "\n" not in m.description
    props = _drift_props()
    assert f"{m.name} ({m.description})" in props["method"]["description"]
    assert f"{m.name} {m.default_threshold:g}" in props["threshold"]["description"]
    spec = ModelDeploymentSpec.model_validate(spec_dict(drift=_drift(m.name)))
    assert spec.drift is not None and spec.drift.method == m.name

    # scores: one per row, numeric and categorical; 0 for the same counts, >0 for others.
    ref = np.array([NUMERIC.counts, [5000.0, 3000.0, 2000.0, *[0.0] * 7]])
    points = np.array([np.arange(10.0), [np.nan] * 10])
    same, p_same = scores(m.name, ref, ref, points)
    cur = np.array([np.linspace(100.0, 1000.0, 10), [2000.0, 3000.0, 5000.0, *[0.0] * 7]])
    other, _ = scores(m.name, ref, cur, points)
    assert same.shape == other.shape == p_same.shape == (2,)
    assert np.allclose(same, 0.0) and (other > 0).all() and np.isfinite(other).all()

    # assess: the method's default threshold, a verdict each way.
    quiet = assess(REFERENCE, _window(0.0), m.name)
    drifted = assess(REFERENCE, _window(0.5), m.name)
    assert quiet.threshold == drifted.threshold == m.default_threshold
    assert quiet.verdict == "NotDrifted" and quiet.method == m.name
    assert drifted.verdict == "Drifted", drifted.message
    assert {f.name for f in drifted.features if f.drifted} == {"x", "c"}


def test_docs_list_every_method_with_its_default() -> None:
    text = (REPO / "docs" / "drift.md").read_text()
    rows = dict(re.findall(r"^\| `(\w+)` \|.*\| ([0-9.]+) \|$", text, re.MULTILINE))
    assert rows == {m.name: f"{m.default_threshold:g}" for m in METHODS.values()}


def test_an_unknown_method_is_rejected_naming_the_field_and_the_valid_ones() -> None:
    with pytest.raises(ValidationError) as info:
        ModelDeployment.model_validate({"spec": spec_dict(drift=_drift("kl"))})
    (err,) = info.value.errors()
    assert ".".join(map(str, err["loc"])) == "spec.drift.method"
    assert err["msg"] == (
        "Value error, unknown drift method 'kl'; valid methods: "
        "psi, jensenshannon, wasserstein, ks, chisquare"
    )
    assert "spec.drift.method" in str(info.value)


@pytest.mark.parametrize("call", ["scores", "assess"])
def test_scores_and_assess_reject_an_unknown_method(call: str) -> None:
    ref = np.array([NUMERIC.counts])
    with pytest.raises(ValueError, match=r"unknown drift method 'kl'; valid methods: psi, "):
        if call == "scores":
            scores("kl", ref, ref)
        else:
            assess(REFERENCE, _window(0.0), "kl", threshold=0.1)


def test_the_api_and_the_registry_import_no_numpy() -> None:
    code = (
        "import sys, modelship.api, modelship.drift.methods, modelship.crd; "
        "print(sorted(m for m in ('numpy', 'scipy') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert out.stdout.strip() == "[]"
