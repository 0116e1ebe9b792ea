"""The drift methods: the one place to add one.

A method is a ``DriftMethod``: its ``spec.drift.method`` name, its default threshold,
a one-line description and its score function. ``METHODS`` maps names to methods in
the order the API lists them. Everything else reads this registry: the API model
validates ``spec.drift.method`` against ``NAMES`` and generates the field's CRD
``enum`` and descriptions from it (``api/drift.py``), ``scores()`` calls the method's
``score`` and ``assess()`` takes its default threshold.

This module is importable without numpy: the API package stays pure (pydantic only),
and the CRD generator and kubectl plugin need the names but never a score. So numpy
is imported only inside the score functions (a dict lookup once loaded), and array
types appear in annotations only. Keep it so when adding a method.

A score function gets a ``Binned``: F x B reference and live counts (one row per
feature, padded with zero-count bins to a common width), their shares, the gap
between their cumulative shares, which rows are ordered (numeric) and, for those,
each bin's representative value. It returns one score per row, 0 for the same
distribution; ``scores()`` adds the p-values (the same for every method) and zeroes
rows without live data.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    Array = NDArray[np.float64]
    Mask = NDArray[np.bool_]


def shares(counts: Array) -> Array:
    """Each row's counts as shares of its total (0 for an empty row)."""
    import numpy as np

    total = counts.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.nan_to_num(counts / total), dtype=float)


@dataclass(frozen=True)
class Binned:
    """One window's rows, as every score function sees them (all F x B but the masks
    and ``js``, which are per row)."""

    reference: Array  # counts
    live: Array
    points: Array | None  # each bin's representative value; NaN rows: unordered
    p: Array  # reference shares
    q: Array  # live shares
    gap: Array  # |F_p - F_q| after each bin
    ordered: Mask  # rows with representative values (numeric features)
    js: Array  # Jensen-Shannon distance per row: the fallback for unordered rows


@dataclass(frozen=True)
class DriftMethod:
    name: str  # spec.drift.method
    default_threshold: float  # makes a 0.25-sigma mean shift count as drift
    description: str  # one line, for the CRD and errors
    score: Callable[[Binned], Array]


def _psi(b: Binned) -> Array:
    """Population stability index, sum (q - p) ln(q / p), half a count added to every
    bin on both sides so empty bins stay finite."""
    import numpy as np

    width = (b.reference + b.live > 0).astype(float)  # padding bins take no pseudo-count
    ps = shares(b.reference + 0.5 * width)
    qs = shares(b.live + 0.5 * width)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.where(width > 0, (qs - ps) * np.log(qs / ps), 0.0).sum(axis=1))


def _jensenshannon(b: Binned) -> Array:
    """Jensen-Shannon *distance* (base 2, 0..1), as scipy's."""
    return b.js


def _wasserstein(b: Binned) -> Array:
    """Earth mover's distance between the binned distributions (each bin at its
    representative value) over the reference's standard deviation: how many reference
    sigmas the mass moved. Needs an order: unordered rows get the JS distance. The ratio
    does not depend on the unit, so each row's values are first divided by their
    largest magnitude: squares of values beyond 1e154 would overflow."""
    import numpy as np

    assert b.points is not None or not b.ordered.any()
    x = np.nan_to_num(b.points if b.points is not None else np.zeros_like(b.p))
    scale = np.abs(x).max(axis=1, keepdims=True)
    x = x / np.where(scale > 0, scale, 1.0)
    step = np.diff(x, axis=1)  # W1 = integral of |F_p - F_q| between points
    w1 = (b.gap[:, :-1] * np.maximum(step, 0.0)).sum(axis=1)
    mean = (b.p * x).sum(axis=1, keepdims=True)
    sd = np.sqrt((b.p * (x - mean) ** 2).sum(axis=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b.ordered, np.nan_to_num(w1 / np.where(sd > 0, sd, 1.0)), b.js)


def _ks(b: Binned) -> Array:
    """The largest gap between the two cumulative distributions at the bin edges
    (Kolmogorov-Smirnov on binned data). Needs an order: unordered rows get the JS
    distance."""
    import numpy as np

    return np.where(b.ordered, b.gap.max(axis=1), b.js)


def _chisquare(b: Binned) -> Array:
    """Cohen's w, sqrt(sum (q - p)^2 / p): the chi-square effect size."""
    import numpy as np

    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.sqrt(np.where(b.p > 0, (b.q - b.p) ** 2 / b.p, 0.0).sum(axis=1)))


_ALL = (
    DriftMethod(
        "psi",
        0.02,
        "population stability index, sum (q-p) ln(q/p), half a count added per bin",
        _psi,
    ),
    DriftMethod(
        "jensenshannon",
        0.05,
        "Jensen-Shannon distance, base 2, from 0 to 1, as scipy's",
        _jensenshannon,
    ),
    DriftMethod(
        "wasserstein",
        0.1,
        "earth mover's distance between the binned distributions in reference standard "
        "deviations; Jensen-Shannon for categorical features",
        _wasserstein,
    ),
    DriftMethod(
        "ks",
        0.05,
        "largest gap between the two CDFs at the bin edges; Jensen-Shannon for "
        "categorical features",
        _ks,
    ),
    DriftMethod("chisquare", 0.1, "Cohen's w, sqrt(sum (q-p)^2 / p)", _chisquare),
)

METHODS: Mapping[str, DriftMethod] = MappingProxyType({m.name: m for m in _ALL})
NAMES: tuple[str, ...] = tuple(METHODS)
DEFAULT = "jensenshannon"  # spec.drift.method when unset


def unknown(name: str) -> str:
    """Why ``name`` is not a method (the API model's and ``lookup``'s message)."""
    return f"unknown drift method {name!r}; valid methods: {', '.join(NAMES)}"


def lookup(name: str) -> DriftMethod:
    """The method called ``name``; ValueError lists the valid names."""
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(unknown(name)) from None
