import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelship.runtime.faults import FaultConfigError, Faults
from modelship.runtime.model import InputError, LinearModel, ModelError, load

MODEL = {
    "format": "modelship-linear/v1",
    "task": "classification",
    "features": ["a", "b"],
    "weights": [2.0, -1.0],
    "bias": 0.5,
    "mean": [1.0, 0.0],
    "scale": [2.0, 1.0],
}


def test_prediction_is_the_logistic_of_the_standardised_score() -> None:
    model = LinearModel.from_dict(MODEL)
    x = np.array([[3.0, 1.0]])
    z = ((3 - 1) / 2) * 2 - 1 * 1 + 0.5
    assert model.predict(x)[0] == pytest.approx(1 / (1 + np.exp(-z)))
    assert LinearModel.from_dict(model.to_dict()).to_dict() == model.to_dict()


@pytest.mark.parametrize(
    ("name", "change", "words"),
    [
        ("wrong format", {"format": "onnx"}, "unsupported model format"),
        ("length mismatch", {"weights": [1.0]}, "same length"),
        ("zero scale", {"scale": [0.0, 1.0]}, "positive"),
        ("unknown task", {"task": "ranking"}, "classification or regression"),
        ("missing features", {"features": None}, "malformed"),
    ],
)
def test_bad_models_are_refused(name: str, change: dict[str, Any], words: str) -> None:
    with pytest.raises(ModelError, match=words):
        LinearModel.from_dict({**MODEL, **change})


@pytest.mark.parametrize(
    ("instances", "words"),
    [
        ([], "non-empty"),
        ("x", "non-empty"),
        ([[1.0]], "expected 2 features"),
        ([[1.0, float("nan")]], "finite number"),
        ([[1.0, True]], "finite number"),
        ([{"a": 1.0}], "missing features"),
    ],
)
def test_bad_inputs_are_refused(instances: Any, words: str) -> None:
    with pytest.raises(InputError, match=words):
        LinearModel.from_dict(MODEL).rows(instances)


def test_load_from_path_dir_and_file_uri(tmp_path: Path) -> None:
    (tmp_path / "model.json").write_text(json.dumps(MODEL))
    for where in (str(tmp_path), f"file://{tmp_path}", str(tmp_path / "model.json")):
        assert load(where).features == ["a", "b"]
    with pytest.raises(ModelError, match="local files only"):
        load("s3://bucket/model/")
    with pytest.raises(ModelError, match="cannot read"):
        load(str(tmp_path / "missing.json"))


def test_faults_from_env() -> None:
    faults = Faults.from_env(
        {
            "MODELSHIP_FAULT_LATENCY": "100ms",
            "MODELSHIP_FAULT_INPUT_SHIFT": "a=2,b=-1",
            "MODELSHIP_FAULT_ERROR_RATE": "0.05",
        }
    )
    assert faults.latency == pytest.approx(0.1)
    assert (faults.shift_for("a"), faults.shift_for("b"), faults.shift_for("c")) == (2, -1, 0)
    assert Faults.from_env({"MODELSHIP_FAULT_INPUT_SHIFT": "0.5"}).shift_for("z") == 0.5
    for bad in (
        {"MODELSHIP_FAULT_ERROR_RATE": "2"},
        {"MODELSHIP_FAULT_LATENCY": "soon"},
        {"MODELSHIP_FAULT_INPUT_SHIFT": "a=x"},
    ):
        with pytest.raises(FaultConfigError):
            Faults.from_env(bad)
