"""Live counts from the runtime's histograms, comparable with a reference: numeric
features' cumulative ``le`` buckets (at the reference's own edges, which the runtime
uses when the reference is mounted) turned into counts per bin, categorical features'
counters grouped by category."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from modelship.drift.reference import (
    CategoricalFeature,
    InvalidReferenceError,
    NumericFeature,
    Reference,
)


@dataclass(frozen=True)
class FeatureReading:
    """One track's input-feature increases over a window, with the reference to bin
    them in: histogram buckets by (feature, le) and category counts by (feature,
    category); None where the series are absent."""

    reference: Reference
    buckets: Mapping[tuple[str, ...], float] | None
    categories: Mapping[tuple[str, ...], float] | None


# A reading, or why there is none (the drift verdict becomes Error with this message).
FeatureResult = FeatureReading | str


def live_counts(
    reference: Reference,
    buckets: Mapping[tuple[str, ...], float] | None,
    categories: Mapping[tuple[str, ...], float] | None,
) -> dict[str, list[float] | dict[str, float]]:
    """Per feature, live counts comparable with the reference: numeric ones from
    cumulative ``{(feature, le): count}`` histogram buckets, which must be the
    reference's edges (the runtime uses them when the reference is mounted);
    categorical ones from ``{(feature, category): count}``. InvalidReferenceError names a
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


def _mismatch(reference: Reference, name: str) -> InvalidReferenceError:
    edges = len(_bounds(reference, name)) - 1
    return InvalidReferenceError(
        f"feature {name}: the live histogram's buckets are not the reference's "
        f"{edges} edges (is the reference mounted in the runtime?)"
    )
