"""Drift scores from reference and live bin counts, for many features at once.

Inputs are F x B arrays: one row per feature, its bins' counts (rows padded with
zero-count bins to a common width), and for ordered (numeric) features each bin's
representative value. Every feature gets a score by the chosen method (0 = the same
distribution) and a p-value, which ``assess`` uses to tell real drift from sampling
noise at any window size: the two-sample Kolmogorov-Smirnov test for numeric features
(sensitive to shifts, robust to one noisy bin) and the chi-square test of homogeneity
for categorical ones. (Pearson's chi-square on 10 bins of a 200-row window calls one
bin's Poisson spike far rarer than it is; over 50 features that alone raised false
alarms to 2-3 % of undrifted windows.)
Vectorised with numpy so a cycle over 1,000 ModelDeployments x 50 features is cheap.

The scores themselves are ``methods.METHODS``' (one registry: names, default
thresholds, score functions); this module computes what they share and the p-values.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

# The distributions' survival functions as plain ufuncs (what scipy.stats' chi2.sf and
# kstwobign.sf compute, without their per-call argument handling, ~0.1 ms each).
from scipy.special import chdtrc, kolmogorov

from modelship.drift.methods import Binned, lookup, shares

Array = NDArray[np.float64]


def homogeneity(reference: Array, live: Array) -> tuple[Array, Array]:
    """Per row: X^2 and the p-value of the 2 x k chi-square test of homogeneity; bins
    empty on both sides do not count (nor towards the degrees of freedom)."""
    n_ref = reference.sum(axis=1, keepdims=True)
    n_live = live.sum(axis=1, keepdims=True)
    total = n_ref + n_live
    column = reference + live
    with np.errstate(divide="ignore", invalid="ignore"):
        e_ref = column * n_ref / total
        e_live = column * n_live / total
        terms = np.where(
            column > 0, (reference - e_ref) ** 2 / e_ref + (live - e_live) ** 2 / e_live, 0.0
        )
    x2 = np.nan_to_num(terms.sum(axis=1))
    df = (column > 0).sum(axis=1) - 1
    p = np.where(
        (df > 0) & (n_live[:, 0] > 0) & (n_ref[:, 0] > 0), chdtrc(np.maximum(df, 1), x2), 1.0
    )
    return x2, p


def ks_p(distance: Array, n_reference: Array, n_live: Array) -> Array:
    """Two-sample Kolmogorov-Smirnov p-value (asymptotic, with Stephens' small-sample
    correction). On binned data the largest gap can only be smaller than on the raw
    values, so the test errs on the side of no drift."""
    with np.errstate(divide="ignore", invalid="ignore"):
        n = np.where(n_live > 0, n_reference * n_live / (n_reference + n_live), 0.0)
        root = np.sqrt(n)
        lam = (root + 0.12 + 0.11 / np.where(root > 0, root, 1.0)) * distance
    return np.asarray(np.where(n > 0, kolmogorov(lam), 1.0), dtype=float)


def _js(p: Array, q: Array) -> Array:
    m = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where(p > 0, p * np.log2(p / m), 0.0).sum(axis=1)
        kl_q = np.where(q > 0, q * np.log2(q / m), 0.0).sum(axis=1)
    return np.asarray(np.sqrt(np.maximum((kl_p + kl_q) / 2, 0.0)))


def scores(
    method: str, reference: Array, live: Array, points: Array | None = None
) -> tuple[Array, Array]:
    """(score, p-value) per row by the method called ``method`` (ValueError names the
    valid ones). ``points``: each bin's representative value (NaN for padding; a row of
    NaN = unordered/categorical)."""
    score = lookup(method).score
    reference = np.asarray(reference, dtype=float)
    live = np.asarray(live, dtype=float)
    p, q = shares(reference), shares(live)
    js = _js(p, q)
    ordered = (
        np.zeros(len(reference), dtype=bool)
        if points is None
        else ~np.all(np.isnan(points), axis=1)
    )
    gap = np.abs(np.cumsum(p, axis=1) - np.cumsum(q, axis=1))
    p_value = ks_p(gap.max(axis=1), reference.sum(axis=1), live.sum(axis=1))
    if not ordered.all():  # categorical rows: the chi-square test of homogeneity
        p_value = np.where(ordered, p_value, homogeneity(reference, live)[1])
    value = score(Binned(reference, live, points, p, q, gap, ordered, js))
    no_live = live.sum(axis=1) <= 0
    return np.where(no_live, 0.0, value), np.where(no_live, 1.0, p_value)
