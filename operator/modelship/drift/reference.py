"""The reference distribution format (built from training data by ``builder``).

A reference is JSON::

    {"format": "modelship.io/reference/v1", "rows": 4000,
     "features": {
        "amount": {"type": "numeric", "edges": [e1, ..., ek], "counts": [c0, ..., ck],
                   "missing": 12},
        "country": {"type": "categorical", "counts": {"DE": 120, "FR": 80}, "missing": 0}},
     "prediction": {"type": "numeric", ...}}   # optional

Numeric bins follow Prometheus ``le`` buckets: bin 0 is (-inf, e1], bin i is
(e_i, e_{i+1}], the last is (ek, +inf) — so a runtime that uses ``edges`` as its
histogram's buckets reports live counts directly comparable with ``counts``. Edges
are quantiles of the training data, so every bin holds about the same share.

``missing`` counts the rows whose cell was empty; they are in ``rows`` but in no bin,
so ``counts`` plus ``missing`` is ``rows``. References written before it existed have
none and read as 0.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeGuard

import numpy as np

FORMAT = "modelship.io/reference/v1"


class InvalidReferenceError(ValueError):
    """The data or the JSON cannot make a reference; the message names the column/field."""


@dataclass(frozen=True)
class NumericFeature:
    edges: tuple[float, ...]
    counts: tuple[float, ...]  # len(edges) + 1
    missing: int = 0  # rows with an empty cell, in no bin

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "numeric",
            "edges": list(self.edges),
            "counts": list(self.counts),
            "missing": self.missing,
        }


@dataclass(frozen=True)
class CategoricalFeature:
    counts: Mapping[str, float]
    missing: int = 0  # rows with an empty cell, in no category

    def to_json(self) -> dict[str, Any]:
        return {"type": "categorical", "counts": dict(self.counts), "missing": self.missing}


Feature = NumericFeature | CategoricalFeature


@dataclass(frozen=True)
class Reference:
    rows: int
    features: Mapping[str, Feature]
    prediction: NumericFeature | None = None
    # What building it decided on its own (a text column taken as categorical), for the
    # builder to tell its user; not part of the JSON, nor of equality.
    notes: tuple[str, ...] = field(default=(), compare=False, repr=False)

    @cached_property
    def numeric(self) -> tuple[list[str], np.ndarray, np.ndarray, list[int]]:
        """Numeric features as F x B matrices (zero-padded): names, counts, bin values
        (padding repeats the last value, so no mass moves across it), bins per feature.
        Built once."""
        names = [n for n, f in self.features.items() if isinstance(f, NumericFeature)]
        width = max((len(self.features[n].counts) for n in names), default=1)
        counts = np.zeros((len(names), width))
        points = np.zeros((len(names), width))
        for i, name in enumerate(names):
            f = self.features[name]
            assert isinstance(f, NumericFeature)
            k = len(f.counts)
            counts[i, :k] = f.counts
            x = bin_points(np.asarray(f.edges))
            points[i, :k] = x
            points[i, k:] = x[-1]
        return names, counts, points, [len(self.features[n].counts) for n in names]

    @cached_property
    def bin_mask(self) -> np.ndarray:
        """True where the ``numeric`` matrices hold a real bin, False on padding."""
        _, counts, _, bins = self.numeric
        return np.arange(counts.shape[1]) < np.array(bins)[:, None]

    @cached_property
    def bucket_positions(self) -> dict[tuple[str, float], tuple[int, int]]:
        """``(feature, le)`` of every numeric bucket the runtime exposes -> its cell in
        the ``numeric`` matrices (the last bucket is ``+Inf``). Built once."""
        names, _, _, _ = self.numeric
        out: dict[tuple[str, float], tuple[int, int]] = {}
        for row, name in enumerate(names):
            f = self.features[name]
            assert isinstance(f, NumericFeature)
            for col, le in enumerate((*f.edges, math.inf)):
                out[(name, le)] = (row, col)
        return out

    @cached_property
    def label_cells(self) -> dict[tuple[str, ...], int]:
        """``(feature, le)`` exactly as a provider returned it -> its flat index in the
        ``numeric`` matrices: learned on first sight, so a window's hundreds of buckets
        cost one lookup each, not a float parse."""
        return {}

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "format": FORMAT,
            "rows": self.rows,
            "features": {name: f.to_json() for name, f in self.features.items()},
        }
        if self.prediction is not None:
            out["prediction"] = self.prediction.to_json()
        return out

    def dumps(self, indent: int | None = 1) -> str:
        """The JSON; never ``Infinity`` or ``NaN`` (not JSON, and meaningless as an edge):
        ValueError if a value is not finite, which ``numeric_feature`` and ``parse``
        already refuse."""
        return json.dumps(self.to_json(), indent=indent, sort_keys=True, allow_nan=False)


def bin_points(edges: np.ndarray) -> np.ndarray:
    """A representative value per ``le`` bin, open outer bins half a neighbouring width
    beyond the outermost edges. Halved before adding, so edges near the float limit
    (1.8e308) do not overflow; beyond it a point is infinite (``_check_edges``)."""
    edges = np.asarray(edges, dtype=float)
    if len(edges) == 1:
        return np.array([edges[0] - 0.5, edges[0] + 0.5])
    half = edges / 2
    inner = half[:-1] + half[1:]
    with np.errstate(over="ignore"):
        first = edges[0] - (half[1] - half[0])
        last = edges[-1] + (half[-1] - half[-2])
    return np.concatenate([[first], inner, [last]])


def _check_edges(where: str, edges: Sequence[float]) -> None:
    """InvalidReferenceError unless the edges and the bins' representative values are
    finite: an infinite edge is no Prometheus bucket, and infinite values would make
    every score meaningless (Wasserstein near 1e308)."""
    if not all(math.isfinite(e) for e in edges):
        raise InvalidReferenceError(f"{where}: edges must be finite numbers")
    if not _binnable(np.asarray(edges, dtype=float)):
        raise InvalidReferenceError(
            f"{where}: edges too close to the float limit (1.8e308) to bin: "
            f"{edges[0]:g} .. {edges[-1]:g}"
        )


def _binnable(edges: np.ndarray) -> bool:
    with np.errstate(invalid="ignore"):
        return bool(np.isfinite(edges).all() and np.isfinite(bin_points(edges)).all())


def numeric_feature(
    values: np.ndarray, bins: int, *, name: str = "values", missing: int = 0
) -> NumericFeature:
    """Quantile edges (distinct) and the counts per ``le`` bucket (``missing``: the
    empty cells left out of ``values``); InvalidReferenceError naming the feature when
    the values span more than floats can bin (quantiles of values near +-1e308
    overflow to infinity, and so do outer bins beyond them)."""
    with np.errstate(over="ignore", invalid="ignore"):
        qs = np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1])
    edges = np.unique(qs)
    if not _binnable(edges):
        raise InvalidReferenceError(
            f"feature {name!r}: values from {values.min():g} to {values.max():g} span more "
            "than floats can bin (edges past +-1.8e308); rescale the column"
        )
    index = np.searchsorted(edges, values, side="left")  # le: a value equal to an edge is in it
    counts = np.bincount(index, minlength=len(edges) + 1)
    return NumericFeature(tuple(float(e) for e in edges), tuple(float(c) for c in counts), missing)


def bin_counts(feature: NumericFeature, values: np.ndarray) -> np.ndarray:
    """Live values counted into the reference's bins (what the runtime's histogram does)."""
    index = np.searchsorted(np.asarray(feature.edges), values, side="left")
    return np.bincount(index, minlength=len(feature.edges) + 1).astype(float)


def _number(value: object) -> TypeGuard[float]:
    """A finite JSON number (json reads ``Infinity``, ``NaN`` and 1e999 as floats;
    a bool is no number)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _numeric(where: str, body: Mapping[str, Any]) -> NumericFeature:
    edges, counts = body.get("edges"), body.get("counts")
    if not isinstance(edges, list) or not isinstance(counts, list):
        raise InvalidReferenceError(f"{where}: numeric features need lists 'edges' and 'counts'")
    if not all(map(_number, edges)):
        raise InvalidReferenceError(f"{where}: edges must be finite numbers")
    if not all(map(_number, counts)):
        raise InvalidReferenceError(f"{where}: counts must be finite numbers")
    if not edges:
        raise InvalidReferenceError(f"{where}: at least one edge is needed (two bins)")
    if len(counts) != len(edges) + 1:
        raise InvalidReferenceError(
            f"{where}: {len(counts)} counts for {len(edges)} edges (need edges + 1)"
        )
    if any(b <= a for a, b in itertools.pairwise(edges)):
        raise InvalidReferenceError(f"{where}: edges must increase strictly")
    _check_edges(where, edges)
    if any(c < 0 for c in counts) or sum(counts) <= 0:
        raise InvalidReferenceError(f"{where}: counts must be non-negative with a positive total")
    return NumericFeature(
        tuple(float(e) for e in edges), tuple(float(c) for c in counts), _missing(where, body)
    )


def _missing(where: str, body: Mapping[str, Any]) -> int:
    """A feature's empty cells (absent in references older than the field: 0)."""
    missing = body.get("missing", 0)
    if not _whole(missing):
        raise InvalidReferenceError(f"{where}.missing: a non-negative whole number is needed")
    return int(missing)


def _whole(value: object) -> bool:
    return _number(value) and value >= 0 and float(value).is_integer()


def _categorical(where: str, body: Mapping[str, Any]) -> CategoricalFeature:
    counts = body.get("counts")
    if (
        not isinstance(counts, dict)
        or not counts
        or not all(_number(v) and v >= 0 for v in counts.values())
    ):
        raise InvalidReferenceError(
            f"{where}: categorical features need 'counts', finite non-negative numbers"
        )
    return CategoricalFeature({str(k): float(v) for k, v in counts.items()}, _missing(where, body))


def parse(text: str) -> Reference:
    """A reference from its JSON; InvalidReferenceError naming the field on anything wrong
    (the operator reports it as the drift verdict's reason and never retries a parse)."""
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidReferenceError(f"not JSON: {exc}") from None
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        raise InvalidReferenceError(f"format must be {FORMAT!r}")
    raw = body.get("features")
    if not isinstance(raw, dict) or not raw:
        raise InvalidReferenceError("features: a non-empty object is needed")
    rows = body.get("rows", 0)
    if not _whole(rows):
        raise InvalidReferenceError("rows: a non-negative whole number is needed")
    features: dict[str, Feature] = {}
    for name, f in raw.items():
        where = f"features.{name}"
        if not isinstance(f, dict):
            raise InvalidReferenceError(f"{where}: an object is needed")
        if f.get("type") == "numeric":
            features[name] = _numeric(where, f)
        elif f.get("type") == "categorical":
            features[name] = _categorical(where, f)
        else:
            raise InvalidReferenceError(f"{where}.type: numeric or categorical")
    pred = body.get("prediction")
    prediction = _numeric("prediction", pred) if isinstance(pred, dict) else None
    return Reference(int(rows), features, prediction)
