"""Which features drifted, holding false alarms at every window size.

A feature drifted when both hold:

1. its two count rows differ beyond sampling noise: the chi-square homogeneity
   p-value is significant after Holm's correction over all of the model's features
   (family-wise error ``ALPHA`` = 1 %), so an undrifted window raises ``Drifted`` at
   most 1 % of the time whether it has 200 rows or 200,000 and 5 features or 500;
2. the method's score reaches the threshold, so tiny differences that only a huge
   window can resolve are not called drift.

A fixed threshold alone is biased at small windows (an undrifted 200-row window has a
Jensen-Shannon distance near 0.1 from sampling noise alone) and uncorrected per-feature
tests fire on most undrifted windows with 50 features; requiring both avoids both.
Too few live rows is Inconclusive.

A reference feature without live data (no series: the runtime does not receive or
export it) is named in every verdict's message, and the window cannot be NotDrifted
while more than ``MAX_UNOBSERVED`` of the features (by default: any) are unobserved:
the operator does not know which features matter most, so "no drift" over the
features it happens to see is no answer for the model. Drift in the features it does
see is evidence enough, so Drifted stands.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from modelship.drift.methods import lookup
from modelship.drift.reference import CategoricalFeature, Reference
from modelship.drift.scores import Array, scores

ALPHA = 0.01
MIN_ROWS = 50
# Share of the reference's features that may lack live data in a NotDrifted window.
MAX_UNOBSERVED = 0.0

LiveCounts = Mapping[str, "list[float] | Mapping[str, float]"]


@dataclass(frozen=True)
class FeatureDrift:
    name: str
    score: float
    p_value: float
    rows: float
    drifted: bool


@dataclass(frozen=True)
class DriftAssessment:
    verdict: Literal["Drifted", "NotDrifted", "Inconclusive"]
    method: str
    threshold: float
    features: list[FeatureDrift]
    message: str
    unobserved: tuple[str, ...] = ()  # reference features without live data


def holm(p_values: Array, alpha: float) -> NDArray[np.bool_]:
    """Holm-Bonferroni: which hypotheses are rejected at family-wise error alpha."""
    order = np.argsort(p_values)
    m = len(p_values)
    passes = p_values[order] <= alpha / (m - np.arange(m))
    stop = m if passes.all() else int(np.argmin(passes))  # the first one that fails
    rejected = np.zeros(m, dtype=bool)
    rejected[order[:stop]] = True
    return rejected


def _numeric_rows(names: list[str], got: list[Any], bins: list[int], reference: Array) -> Array:
    """Live counts of numeric features as a matrix as wide as the reference's, zero
    padded; ValueError names a feature whose counts are not its bins."""
    width = reference.shape[1]
    if all(k == width for k in bins):
        try:
            block = np.array(got, dtype=float)  # one call when every row is full width
        except (TypeError, ValueError):
            block = None
        if block is not None and block.shape == (len(got), width):
            return block
    out = np.zeros((len(got), width))
    for row, (name, counts, k) in enumerate(zip(names, got, bins, strict=True)):
        if isinstance(counts, Mapping) or len(counts) != k:
            raise ValueError(f"feature {name}: live counts must be {k} bins")
        out[row, :k] = counts
    return out


def _rows(reference: Reference, live: LiveCounts) -> tuple[list[str], Array, Array, Array]:
    """Reference and live counts as F x B matrices (numeric rows first), bin values."""
    numeric, ref_n, pts_n, bins = reference.numeric
    present = [i for i, n in enumerate(numeric) if n in live]
    names = [numeric[i] for i in present]
    liv_n = _numeric_rows(names, [live[n] for n in names], [bins[i] for i in present], ref_n)
    cats = [
        n for n, f in reference.features.items() if isinstance(f, CategoricalFeature) and n in live
    ]
    if not cats:
        return names, ref_n[present], liv_n, pts_n[present]
    width = max(
        ref_n.shape[1],
        *(len(set(reference.features[n].counts) | set(live[n])) for n in cats),
    )
    ref = np.zeros((len(names) + len(cats), width))
    liv = np.zeros_like(ref)
    pts = np.full_like(ref, np.nan)
    ref[: len(names), : ref_n.shape[1]] = ref_n[present]
    liv[: len(names), : ref_n.shape[1]] = liv_n
    pts[: len(names), : ref_n.shape[1]] = pts_n[present]
    pts[: len(names), ref_n.shape[1] :] = pts_n[present][:, -1:]
    for row, name in enumerate(cats, start=len(names)):
        f, got = reference.features[name], live[name]
        assert isinstance(f, CategoricalFeature) and isinstance(got, Mapping)
        keys = sorted(set(f.counts) | set(got))
        ref[row, : len(keys)] = [f.counts.get(c, 0.0) for c in keys]
        liv[row, : len(keys)] = [got.get(c, 0.0) for c in keys]
    return [*names, *cats], ref, liv, pts


def _unobserved(reference: Reference, names: list[str]) -> tuple[tuple[str, ...], str]:
    """The reference's features without live data, and a clause naming them ("" if none)."""
    seen = set(names)
    missing = tuple(n for n in reference.features if n not in seen)
    if not missing:
        return missing, ""
    shown = ", ".join(missing[:10]) + (
        f" and {len(missing) - 10} more" if len(missing) > 10 else ""
    )
    return (
        missing,
        f"no live data for {len(missing)} of {len(reference.features)} features: {shown}",
    )


def assess(
    reference: Reference,
    live: LiveCounts,
    method: str,
    threshold: float | None = None,
    alpha: float = ALPHA,
    max_unobserved: float = MAX_UNOBSERVED,
) -> DriftAssessment:
    """Live counts per feature (numeric: counts in the reference's bins; categorical:
    counts per category) against the reference, by the method called ``method``
    (ValueError names the valid ones) at ``threshold``, by default the method's.
    ``max_unobserved``: the share of features that may lack live data in a NotDrifted
    window (more is Inconclusive)."""
    default = lookup(method).default_threshold
    bound = default if threshold is None else threshold
    names, ref, liv, pts = _rows(reference, live)
    unobserved, note = _unobserved(reference, names)

    def verdict(
        name: Literal["Drifted", "NotDrifted", "Inconclusive"],
        message: str,
        features: list[FeatureDrift],
    ) -> DriftAssessment:
        return DriftAssessment(name, method, bound, features, message, unobserved)

    if not names:
        return verdict("Inconclusive", "no live data for any reference feature", [])
    rows = liv.sum(axis=1)
    if float(rows.min()) < MIN_ROWS:
        few = f"too few live rows: {rows.min():.0f} (need {MIN_ROWS})"
        return verdict("Inconclusive", f"{few}; {note}" if note else few, [])
    values, p_values = scores(method, ref, liv, pts)
    significant = holm(p_values, alpha)
    drifted = significant & (values >= bound)
    features = [
        FeatureDrift(n, float(v), float(p), float(r), bool(d))
        for n, v, p, r, d in zip(
            names, values.tolist(), p_values.tolist(), rows.tolist(), drifted.tolist(), strict=True
        )
    ]
    hits = sorted((f for f in features if f.drifted), key=lambda f: -f.score)
    if hits:
        top = ", ".join(f"{f.name} {f.score:.3g}" for f in hits[:5])
        message = (
            f"{len(hits)} of {len(features)} features drifted ({method} >= {bound:g} and "
            f"significant, {len(hits) / len(features):.0%} of features): {top}"
        )
        return verdict("Drifted", f"{message}; {note}" if note else message, features)
    worst = max(features, key=lambda f: f.score)
    calm = (
        f"no feature drifted; highest {method} {worst.score:.3g} "
        f"({worst.name}, p={worst.p_value:.2g})"
    )
    if len(unobserved) > max_unobserved * len(reference.features):
        return verdict(
            "Inconclusive",
            f"{note}; without them no all-clear (does the runtime receive and export them? "
            f"--exclude from the reference what the model does not take); "
            f"the {len(features)} observed: {calm}",
            features,
        )
    return verdict("NotDrifted", f"{calm}; {note}" if note else calm, features)
