"""The reference model format: a standardised linear model in one JSON file.

Small on purpose, so the whole loop (train, serve, measure, retrain) runs on any
machine with numpy: ``examples/train.py`` writes it, the runtime serves it. Any
other artifact format is served by another runtime; this one exists so that every
decision the operator makes runs on real requests and real metrics.

    {"format": "modelship-linear/v1", "task": "classification" | "regression",
     "features": [names], "weights": [w], "bias": b,
     "mean": [per-feature mean], "scale": [per-feature std]}
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

FORMAT = "modelship-linear/v1"


class ModelError(Exception):
    """The artifact cannot be loaded; the message says why."""


class InputError(ValueError):
    """A request's inputs do not fit the model; the message is returned to the client."""


@dataclass(frozen=True)
class LinearModel:
    features: list[str]
    weights: np.ndarray
    bias: float
    mean: np.ndarray
    scale: np.ndarray
    task: str = "classification"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LinearModel:
        if data.get("format") != FORMAT:
            raise ModelError(f"unsupported model format {data.get('format')!r}; want {FORMAT!r}")
        try:
            features = [str(f) for f in data["features"]]
            n = len(features)
            weights = np.asarray(data["weights"], dtype=float)
            mean = np.asarray(data.get("mean", [0.0] * n), dtype=float)
            scale = np.asarray(data.get("scale", [1.0] * n), dtype=float)
            bias = float(data.get("bias", 0.0))
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"malformed model: {exc}") from exc
        if not (weights.shape == mean.shape == scale.shape == (n,)) or n == 0:
            raise ModelError(f"features, weights, mean and scale must have the same length {n}")
        if np.any(scale <= 0):
            raise ModelError("scale must be positive")
        task = str(data.get("task", "classification"))
        if task not in ("classification", "regression"):
            raise ModelError(f"task must be classification or regression, not {task!r}")
        return cls(features, weights, bias, mean, scale, task)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "task": self.task,
            "features": self.features,
            "weights": self.weights.tolist(),
            "bias": self.bias,
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
        }

    def rows(self, instances: Any) -> np.ndarray:
        """Validate a batch: lists of numbers in feature order, or objects by feature name."""
        if not isinstance(instances, list) or not instances:
            raise InputError("instances must be a non-empty list")
        n = len(self.features)
        out = np.empty((len(instances), n), dtype=float)
        for i, row in enumerate(instances):
            if isinstance(row, dict):
                missing = [f for f in self.features if f not in row]
                if missing:
                    raise InputError(f"instance {i}: missing features {missing}")
                row = [row[f] for f in self.features]
            if not isinstance(row, list) or len(row) != n:
                raise InputError(f"instance {i}: expected {n} features {self.features}")
            for j, value in enumerate(row):
                if (
                    isinstance(value, bool)
                    or not isinstance(value, int | float)
                    or not math.isfinite(value)
                ):
                    raise InputError(
                        f"instance {i}: feature {self.features[j]!r} must be a "
                        f"finite number, got {value!r}"
                    )
                out[i, j] = value
        return out

    def predict(self, x: np.ndarray) -> np.ndarray:
        z = ((x - self.mean) / self.scale) @ self.weights + self.bias
        if self.task == "classification":
            return np.asarray(1.0 / (1.0 + np.exp(-z)))
        return np.asarray(z)


def load(uri: str) -> LinearModel:
    """Load from a local path or a file:// URI (a directory holds model.json)."""
    parsed = urlparse(uri)
    if parsed.scheme not in ("", "file"):
        raise ModelError(
            f"the reference runtime loads local files only (path or file://), "
            f"not {parsed.scheme}://; mount the artifact into the pod"
        )
    path = Path(parsed.path if parsed.scheme == "file" else uri)
    if path.is_dir():
        path = path / "model.json"
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise ModelError(f"cannot read {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise ModelError(f"{path} is not JSON: {exc}") from exc
    return LinearModel.from_dict(data)
