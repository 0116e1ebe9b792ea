"""The reference distribution format and ``modelship reference build``.

A reference is JSON::

    {"format": "modelship.io/reference/v1", "rows": 4000,
     "features": {
        "amount": {"type": "numeric", "edges": [e1, ..., ek], "counts": [c0, ..., ck]},
        "country": {"type": "categorical", "counts": {"DE": 120, "FR": 80}}},
     "prediction": {"type": "numeric", ...}}   # optional

Numeric bins follow Prometheus ``le`` buckets: bin 0 is (-inf, e1], bin i is
(e_i, e_{i+1}], the last is (ek, +inf) — so a runtime that uses ``edges`` as its
histogram's buckets reports live counts directly comparable with ``counts``. Edges
are quantiles of the training data, so every bin holds about the same share.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

FORMAT = "modelship.io/reference/v1"


class ReferenceError(ValueError):
    """The data or the JSON cannot make a reference; the message names the column/field."""


@dataclass(frozen=True)
class NumericFeature:
    edges: tuple[float, ...]
    counts: tuple[float, ...]  # len(edges) + 1

    def to_json(self) -> dict[str, Any]:
        return {"type": "numeric", "edges": list(self.edges), "counts": list(self.counts)}


@dataclass(frozen=True)
class CategoricalFeature:
    counts: Mapping[str, float]

    def to_json(self) -> dict[str, Any]:
        return {"type": "categorical", "counts": dict(self.counts)}


Feature = NumericFeature | CategoricalFeature


@dataclass(frozen=True)
class Reference:
    rows: int
    features: Mapping[str, Feature]
    prediction: NumericFeature | None = None

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

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=1, sort_keys=True)


def bin_points(edges: np.ndarray) -> np.ndarray:
    """A representative value per ``le`` bin, open outer bins half a neighbouring width
    beyond the outermost edges."""
    edges = np.asarray(edges, dtype=float)
    if len(edges) == 1:
        return np.array([edges[0] - 0.5, edges[0] + 0.5])
    widths = np.diff(edges)
    inner = (edges[:-1] + edges[1:]) / 2
    return np.concatenate([[edges[0] - widths[0] / 2], inner, [edges[-1] + widths[-1] / 2]])


def numeric_feature(values: np.ndarray, bins: int) -> NumericFeature:
    """Quantile edges (distinct) and the counts per ``le`` bucket."""
    qs = np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1])
    edges = np.unique(qs)
    index = np.searchsorted(edges, values, side="left")  # le: a value equal to an edge is in it
    counts = np.bincount(index, minlength=len(edges) + 1)
    return NumericFeature(tuple(float(e) for e in edges), tuple(float(c) for c in counts))


def bin_counts(feature: NumericFeature, values: np.ndarray) -> np.ndarray:
    """Live values counted into the reference's bins (what the runtime's histogram does)."""
    index = np.searchsorted(np.asarray(feature.edges), values, side="left")
    return np.bincount(index, minlength=len(feature.edges) + 1).astype(float)


def build(
    header: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    bins: int = 10,
    categorical: Sequence[str] = (),
    prediction: str | None = None,
    exclude: Sequence[str] = (),
) -> Reference:
    """A reference from CSV-like rows; numeric unless named in ``categorical``."""
    if bins < 2:
        raise ReferenceError(f"bins must be at least 2, not {bins}")
    unknown = [
        c
        for c in [*categorical, *exclude, *([prediction] if prediction else [])]
        if c not in header
    ]
    if unknown:
        raise ReferenceError(f"no such column: {', '.join(unknown)} (columns: {', '.join(header)})")
    columns: dict[str, list[str]] = {name: [] for name in header}
    n = 0
    for line, row in enumerate(rows, start=2):
        if len(row) != len(header):
            raise ReferenceError(f"line {line}: {len(row)} fields, the header has {len(header)}")
        for name, value in zip(header, row, strict=True):
            columns[name].append(value)
        n += 1
    if n == 0:
        raise ReferenceError("no data rows")
    features: dict[str, Feature] = {}
    pred: NumericFeature | None = None
    for name in header:
        if name in exclude:
            continue
        raw = columns[name]
        present = [v for v in raw if v.strip() != ""]
        if not present:
            raise ReferenceError(f"column {name!r} is empty")
        if name in categorical:
            cats: dict[str, float] = {}
            for v in present:
                cats[v] = cats.get(v, 0.0) + 1
            features[name] = CategoricalFeature(cats)
            continue
        values = np.empty(len(present))
        for i, v in enumerate(present):
            try:
                values[i] = float(v)
            except ValueError:
                raise ReferenceError(
                    f"column {name!r} is not numeric ({v!r} on data row {raw.index(v) + 1}); "
                    f"name it with --categorical or --exclude"
                ) from None
            if not math.isfinite(values[i]):
                raise ReferenceError(f"column {name!r} has a non-finite value {v!r}")
        feature = numeric_feature(values, bins)
        if name == prediction:
            pred = feature
        else:
            features[name] = feature
    if not features:
        raise ReferenceError("no feature columns left")
    return Reference(n, features, pred)


def build_from_csv(path: Path, **options: Any) -> Reference:
    with open(path, newline="") as f:
        reader = csv.reader(f)
        try:
            header = next(reader)
        except StopIteration:
            raise ReferenceError(f"{path} is empty") from None
        return build([h.strip() for h in header], reader, **options)


def _numeric(where: str, body: Mapping[str, Any]) -> NumericFeature:
    edges, counts = body.get("edges"), body.get("counts")
    if not isinstance(edges, list) or not isinstance(counts, list):
        raise ReferenceError(f"{where}: numeric features need lists 'edges' and 'counts'")
    if len(counts) != len(edges) + 1:
        raise ReferenceError(
            f"{where}: {len(counts)} counts for {len(edges)} edges (need edges + 1)"
        )
    if any(b <= a for a, b in itertools.pairwise(edges)):
        raise ReferenceError(f"{where}: edges must increase strictly")
    if any(c < 0 for c in counts) or sum(counts) <= 0:
        raise ReferenceError(f"{where}: counts must be non-negative with a positive total")
    return NumericFeature(tuple(float(e) for e in edges), tuple(float(c) for c in counts))


def parse(text: str) -> Reference:
    """A reference from its JSON; ReferenceError naming the field on anything wrong."""
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReferenceError(f"not JSON: {exc}") from None
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        raise ReferenceError(f"format must be {FORMAT!r}")
    raw = body.get("features")
    if not isinstance(raw, dict) or not raw:
        raise ReferenceError("features: a non-empty object is needed")
    features: dict[str, Feature] = {}
    for name, f in raw.items():
        where = f"features.{name}"
        if not isinstance(f, dict):
            raise ReferenceError(f"{where}: an object is needed")
        if f.get("type") == "numeric":
            features[name] = _numeric(where, f)
        elif f.get("type") == "categorical":
            counts = f.get("counts")
            if not isinstance(counts, dict) or not counts or any(v < 0 for v in counts.values()):
                raise ReferenceError(f"{where}: categorical features need non-negative 'counts'")
            features[name] = CategoricalFeature({str(k): float(v) for k, v in counts.items()})
        else:
            raise ReferenceError(f"{where}.type: numeric or categorical")
    pred = body.get("prediction")
    prediction = _numeric("prediction", pred) if isinstance(pred, dict) else None
    return Reference(int(body.get("rows", 0)), features, prediction)


def live_counts(
    reference: Reference,
    buckets: Mapping[tuple[str, ...], float] | None,
    categories: Mapping[tuple[str, ...], float] | None,
) -> dict[str, list[float] | dict[str, float]]:
    """Per feature, live counts comparable with the reference: numeric ones from
    cumulative ``{(feature, le): count}`` histogram buckets, which must be the
    reference's edges (the runtime uses them when the reference is mounted);
    categorical ones from ``{(feature, category): count}``. ReferenceError names a
    feature whose buckets do not match."""
    names, _, _, bins = reference.numeric
    positions = reference.bucket_positions
    # One matrix of cumulative counts for all features; a bucket not at an exact
    # reference edge sends its feature to the tolerant (slow) comparison below.
    width = max(bins, default=1)
    buckets = buckets or {}
    learned = reference.label_cells
    size = len(buckets)

    def cells_of() -> np.ndarray:
        found = map(learned.get, buckets, itertools.repeat(-1, size))
        return np.fromiter(found, dtype=np.intp, count=size)

    cells = cells_of()
    inexact: dict[str, dict[float, float]] = {}
    if (cells < 0).any():
        new = [key for key, cell in zip(buckets, cells.tolist(), strict=True) if cell < 0]
        inexact = _learn(reference, new, buckets, width)
        cells = cells_of()
    values = np.fromiter(buckets.values(), dtype=float, count=size)
    cumulative = np.full((len(names), width), np.nan)
    cumulative.ravel()[cells[cells >= 0]] = values[cells >= 0]
    seen = ~np.isnan(cumulative)
    complete = (seen | ~reference.bin_mask).all(axis=1)
    for name in inexact:
        if name in reference.features and isinstance(reference.features[name], NumericFeature):
            row = names.index(name)
            exact = {b: cumulative[row, c] for (n, b), (_, c) in positions.items() if n == name}
            got = {b: c for b, c in exact.items() if not math.isnan(c)} | inexact[name]
            cumulative[row, : bins[row]] = _tolerant(reference, name, got)
            seen[row], complete[row] = True, True
    present = seen.any(axis=1)
    if (present & ~complete).any():
        raise _mismatch(reference, names[int(np.argmax(present & ~complete))])
    # fmax skips NaN, so padding takes the last real bucket and adds nothing; the running
    # maximum keeps a bucket that dipped below the one before (series reset apart) at 0.
    steps = np.diff(np.fmax.accumulate(cumulative, axis=1), axis=1, prepend=0.0)
    out: dict[str, list[float] | dict[str, float]] = {
        name: steps[row, : bins[row]].tolist() for row, name in enumerate(names) if present[row]
    }
    by_category: dict[str, dict[str, float]] = {}
    for (feature, category), count in (categories or {}).items():
        by_category.setdefault(feature, {})[category] = count
    for name, f in reference.features.items():
        if isinstance(f, CategoricalFeature) and by_category.get(name):
            out[name] = by_category[name]
    return out


def _learn(
    reference: Reference,
    keys: list[tuple[str, ...]],
    buckets: Mapping[tuple[str, ...], float],
    width: int,
) -> dict[str, dict[float, float]]:
    """Teach ``reference.label_cells`` the buckets at an exact reference edge; return
    the others, by feature and bound."""
    inexact: dict[str, dict[float, float]] = {}
    for key in keys:
        feature, le = key
        try:
            bound = float(le)
        except ValueError:
            bound = math.nan
        position = reference.bucket_positions.get((feature, bound))
        if position is None:
            inexact.setdefault(feature, {})[bound] = buckets[key]
        else:
            reference.label_cells[key] = position[0] * width + position[1]
    return inexact


def _bounds(reference: Reference, name: str) -> tuple[float, ...]:
    f = reference.features[name]
    assert isinstance(f, NumericFeature)
    return (*f.edges, math.inf)


def _tolerant(reference: Reference, name: str, got: dict[float, float]) -> np.ndarray:
    """Cumulative counts of a feature whose ``le`` values are the reference's edges up
    to rounding (a label written with fewer digits)."""
    edges = _bounds(reference, name)[:-1]
    bounds = sorted(got)
    if len(bounds) != len(edges) + 1 or not np.allclose(bounds[:-1], edges, rtol=1e-9):
        raise _mismatch(reference, name)
    return np.array([got[b] for b in bounds])


def _mismatch(reference: Reference, name: str) -> ReferenceError:
    edges = len(_bounds(reference, name)) - 1
    return ReferenceError(
        f"feature {name}: the live histogram's buckets are not the reference's "
        f"{edges} edges (is the reference mounted in the runtime?)"
    )
