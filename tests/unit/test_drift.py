"""Drift: quantile bins, live counts, each score against an independent computation, the
decision's false-alarm control and features without live data. Building and reading
references: test_drift_reference.py."""

from __future__ import annotations

import numpy as np
import pytest
from prometheus_client.utils import floatToGoString
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2_contingency, ks_2samp, wasserstein_distance

from modelship.drift.assess import assess, holm
from modelship.drift.builder import build
from modelship.drift.live import live_counts
from modelship.drift.reference import (
    InvalidReferenceError,
    NumericFeature,
    Reference,
    bin_counts,
    bin_points,
    numeric_feature,
)
from modelship.drift.scores import homogeneity, scores

RNG = np.random.default_rng(7)
TRAIN = RNG.standard_normal(5000)
FEATURE = numeric_feature(TRAIN, 10)
REF = np.array([FEATURE.counts])
EDGES = np.array(FEATURE.edges)
POINTS = np.array([bin_points(EDGES)])


def live(shift: float = 0.0, n: int = 2000, seed: int = 1) -> np.ndarray:
    values = np.random.default_rng(seed).standard_normal(n) + shift
    return np.array([bin_counts(FEATURE, values)])


# -- reference ---------------------------------------------------------------------------


def test_quantile_bins_hold_equal_shares_and_follow_le() -> None:
    assert len(FEATURE.edges) == 9 and len(FEATURE.counts) == 10
    assert all(abs(c - 500) <= 1 for c in FEATURE.counts)
    f = numeric_feature(np.array([1.0, 2.0, 2.0, 3.0]), 2)
    assert f.edges == (2.0,) and f.counts == (3.0, 1.0)  # 2.0 is "le 2"


# -- live counts from the runtime's histograms -------------------------------------------


def le(bound: float) -> str:
    """``le`` as the runtime writes it (prometheus_client's own formatting)."""
    return str(floatToGoString(bound))  # type: ignore[no-untyped-call]


def exposed(
    feature: str, edges: tuple[float, ...], per_bin: np.ndarray
) -> dict[tuple[str, ...], float]:
    """Cumulative buckets as the runtime exposes them, le written by prometheus_client."""
    cumulative = np.cumsum(per_bin)
    bounds = [*map(le, edges), "+Inf"]
    return {(feature, bound): float(c) for bound, c in zip(bounds, cumulative, strict=True)}


def test_live_counts_turn_cumulative_buckets_into_counts_per_reference_bin() -> None:
    ref = build(
        ["amount", "big", "country"],
        [[str(i / 7), str(i * 1e5), "DE" if i % 3 else "FR"] for i in range(300)],
        bins=6,
        categorical=["country"],
    )
    want = {
        name: RNG.integers(0, 50, len(f.counts)).astype(float)
        for name, f in ref.features.items()
        if isinstance(f, NumericFeature)
    }
    buckets: dict[tuple[str, ...], float] = {}
    for name, per_bin in want.items():
        f = ref.features[name]
        assert isinstance(f, NumericFeature)
        buckets |= exposed(name, f.edges, per_bin)
    cats: dict[tuple[str, ...], float] = {
        ("country", "DE"): 7.0,
        ("country", "FR"): 2.0,
        ("other", "x"): 1.0,
    }
    got = live_counts(ref, buckets, cats)
    assert got.keys() == {"amount", "big", "country"}
    for name, per_bin in want.items():
        assert got[name] == pytest.approx(per_bin.tolist())
    assert got["country"] == {"DE": 7.0, "FR": 2.0}
    # A feature without series yet is left out, not counted as zero.
    assert live_counts(ref, {k: v for k, v in buckets.items() if k[0] != "big"}, None).keys() == {
        "amount"
    }


def test_live_counts_accept_edges_written_with_12_digits_and_a_counter_reset() -> None:
    ref = Reference(100, {"x": FEATURE})
    per_bin = np.arange(1.0, 11.0)
    buckets = exposed("x", tuple(float(f"{e:.12g}") for e in FEATURE.edges), per_bin)
    assert live_counts(ref, buckets, None)["x"] == pytest.approx(per_bin.tolist(), rel=1e-9)
    # Increases of separately reset series can dip below the bucket before: never negative.
    dipped = exposed("x", FEATURE.edges, per_bin)
    le_3 = le(FEATURE.edges[3])
    dipped[("x", le_3)] -= 5
    counts = live_counts(ref, dipped, None)["x"]
    assert isinstance(counts, list) and min(counts) >= 0


@pytest.mark.parametrize("change", ["other edges", "missing bucket"])
def test_live_buckets_that_are_not_the_references_name_the_feature(change: str) -> None:
    ref = Reference(100, {"x": FEATURE})
    buckets = exposed("x", FEATURE.edges, np.ones(10))
    if change == "other edges":
        buckets = exposed("x", tuple(e + 0.1 for e in FEATURE.edges), np.ones(10))
    else:
        del buckets[("x", le(FEATURE.edges[4]))]
    with pytest.raises(
        InvalidReferenceError,
        match="feature x: the live histogram's buckets are not the reference's 9 edges",
    ):
        live_counts(ref, buckets, None)


# -- scores against independent computations ----------------------------------------------


def shares(counts: np.ndarray) -> np.ndarray:
    return np.asarray(counts[0] / counts[0].sum())


def test_jensenshannon_is_scipys() -> None:
    value, _ = scores("jensenshannon", REF, live(0.3), POINTS)
    assert value[0] == pytest.approx(jensenshannon(shares(REF), shares(live(0.3)), base=2))


def test_homogeneity_p_is_scipys_chi2_contingency() -> None:
    _, p = homogeneity(REF, live(0.1, n=500))
    expected = chi2_contingency(np.vstack([REF[0], live(0.1, n=500)[0]]), correction=False)[1]
    assert p[0] == pytest.approx(expected)


def test_binned_ks_is_scipys_ks_on_the_binned_samples() -> None:
    # Replacing every value by its bin index leaves the empirical CDFs at the bin edges.
    raw_ref = np.random.default_rng(3).standard_normal(4000)
    raw_live = np.random.default_rng(4).standard_normal(1500) + 0.2
    idx_ref = np.searchsorted(EDGES, raw_ref, side="left")
    idx_live = np.searchsorted(EDGES, raw_live, side="left")
    counts_ref = np.array([np.bincount(idx_ref, minlength=10)], dtype=float)
    counts_live = np.array([np.bincount(idx_live, minlength=10)], dtype=float)
    value, _ = scores("ks", counts_ref, counts_live, POINTS)
    assert value[0] == pytest.approx(ks_2samp(idx_ref, idx_live).statistic)


def test_wasserstein_is_scipys_over_the_reference_sd() -> None:
    p, q = shares(REF), shares(live(0.5))
    x = POINTS[0]
    sd = np.sqrt(np.sum(p * (x - np.sum(p * x)) ** 2))
    value, _ = scores("wasserstein", REF, live(0.5), POINTS)
    assert value[0] == pytest.approx(wasserstein_distance(x, x, p, q) / sd)


@pytest.mark.parametrize("unit", [1e150, 1e300, 1e-300])
def test_wasserstein_does_not_depend_on_the_unit_up_to_the_float_limit(unit: float) -> None:
    """Scores are in reference sigmas; squaring values past 1e154 used to overflow."""
    scaled = numeric_feature(TRAIN * unit, 10)
    points = np.array([bin_points(np.array(scaled.edges))])
    assert np.isfinite(points).all()
    moved = np.array(
        [bin_counts(scaled, (np.random.default_rng(1).standard_normal(2000) + 0.5) * unit)]
    )
    value, _ = scores("wasserstein", np.array([scaled.counts]), moved, points)
    expected, _ = scores("wasserstein", REF, live(0.5), POINTS)
    assert value[0] == pytest.approx(expected[0], rel=1e-9)


def test_psi_matches_the_published_formula_on_a_worked_example() -> None:
    # PSI = sum (actual% - expected%) * ln(actual% / expected%), here with +0.5 per bin.
    ref = np.array([[100.0, 200.0, 700.0]])
    cur = np.array([[150.0, 250.0, 600.0]])
    e = (ref[0] + 0.5) / (ref[0] + 0.5).sum()
    a = (cur[0] + 0.5) / (cur[0] + 0.5).sum()
    value, _ = scores("psi", ref, cur)
    assert value[0] == pytest.approx(float(np.sum((a - e) * np.log(a / e))))
    # By hand, unsmoothed: .05 ln 1.5 + .05 ln 1.25 - .1 ln(.6/.7) = .0203 + .0112 + .0154
    assert value[0] == pytest.approx(0.0469, abs=5e-4)


def test_cohens_w_and_categorical_fallback() -> None:
    ref = np.array([[50.0, 50.0]])
    cur = np.array([[60.0, 40.0]])
    w, _ = scores("chisquare", ref, cur)
    assert w[0] == pytest.approx(0.2)  # sqrt(2 * 0.1^2 / 0.5)
    unordered = np.full((1, 2), np.nan)
    ks, _ = scores("ks", ref, cur, unordered)
    js, _ = scores("jensenshannon", ref, cur)
    assert ks[0] == js[0]  # categories have no order: JS distance instead


def test_scores_grow_with_the_shift() -> None:
    for method in ("psi", "jensenshannon", "wasserstein", "ks", "chisquare"):
        small, _ = scores(method, REF, live(0.1, n=20000), POINTS)
        large, _ = scores(method, REF, live(0.5, n=20000), POINTS)
        assert large[0] > small[0] > 0


# -- the decision ---------------------------------------------------------------------------


def test_holm_rejects_in_order_and_stops() -> None:
    got = holm(np.array([0.001, 0.04, 0.012, 0.5]), 0.05)
    assert got.tolist() == [True, False, True, False]  # 0.001<0.0125, 0.012<0.0167, 0.04>0.025


def reference_50() -> Reference:
    rng = np.random.default_rng(11)
    return Reference(
        20000, {f"f{i}": numeric_feature(rng.standard_normal(20000), 10) for i in range(50)}
    )


def windows(
    ref: Reference, rows: int, shift: float, count: int, seed: int
) -> list[dict[str, list[float]]]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        w = {}
        for i, (name, f) in enumerate(ref.features.items()):
            assert isinstance(f, NumericFeature)
            w[name] = list(bin_counts(f, rng.standard_normal(rows) + (shift if i < 5 else 0.0)))
        out.append(w)
    return out


def test_false_alarms_on_undrifted_windows_stay_near_one_percent() -> None:
    ref = reference_50()
    for rows in (200, 2000):
        alarms = sum(
            assess(ref, w, "jensenshannon").verdict == "Drifted"
            for w in windows(ref, rows, 0.0, 150, rows)
        )
        assert alarms <= 4, (rows, alarms)  # 1 % of 150 is 1.5; 4 or more has p < 0.07


def test_a_quarter_sigma_shift_in_five_features_is_caught_at_2000_rows() -> None:
    ref = reference_50()
    got = [assess(ref, w, "psi") for w in windows(ref, 2000, 0.25, 40, 5)]
    assert sum(a.verdict == "Drifted" for a in got) >= 38
    assert {f.name for f in got[0].features if f.drifted} <= {f"f{i}" for i in range(5)}
    assert "features drifted (psi >= 0.02 and significant, 10% of features)" in got[0].message


def test_too_few_rows_is_inconclusive_and_a_fixed_threshold_is_honoured() -> None:
    ref = Reference(5000, {"x": FEATURE})
    few = assess(ref, {"x": list(live(1.0, n=20)[0])}, "ks")
    assert few.verdict == "Inconclusive" and "too few live rows" in few.message
    # Significant, but below a threshold of 0.5: not drift.
    high = assess(ref, {"x": list(live(0.25, n=20000)[0])}, "ks", threshold=0.5)
    assert high.verdict == "NotDrifted"


def four_features() -> Reference:
    return Reference(5000, {name: FEATURE for name in ("amount", "age", "income", "score")})


@pytest.mark.parametrize(
    ("shift", "seen", "verdict", "message"),
    [
        (
            0.0,
            ("amount", "age", "income", "score"),
            "NotDrifted",
            "no feature drifted; highest ks",
        ),
        (
            0.0,
            ("amount", "age", "income"),
            "Inconclusive",
            "no live data for 1 of 4 features: score; without them no all-clear",
        ),
        (
            0.0,
            ("amount",),
            "Inconclusive",
            "no live data for 3 of 4 features: age, income, score; without them no all-clear",
        ),
        (
            1.0,
            ("amount", "age"),
            "Drifted",
            "2 of 2 features drifted (ks >= 0.05",
        ),
    ],
    ids=["all observed", "one unobserved", "most unobserved", "drift in what is seen"],
)
def test_features_without_live_data_are_named_and_withhold_not_drifted(
    shift: float, seen: tuple[str, ...], verdict: str, message: str
) -> None:
    """A reference feature without live series was skipped silently, so a window could
    say NotDrifted while the model's most important input went unobserved."""
    window = {name: list(live(shift, seed=i)[0]) for i, name in enumerate(seen)}
    got = assess(four_features(), window, "ks")
    assert got.verdict == verdict and message in got.message, got.message
    assert got.unobserved == tuple(n for n in four_features().features if n not in seen)
    assert {f.name for f in got.features} == set(seen)  # the observed scores are kept
    if got.unobserved:
        named = ", ".join(got.unobserved)
        assert f"no live data for {len(got.unobserved)} of 4 features: {named}" in got.message


def test_the_share_of_unobserved_features_allowed_is_a_parameter() -> None:
    window = {name: list(live(0.0, seed=i)[0]) for i, name in enumerate(("amount", "age"))}
    half = assess(four_features(), window, "ks", max_unobserved=0.5)
    assert half.verdict == "NotDrifted"
    assert half.message.endswith("; no live data for 2 of 4 features: income, score")
    assert assess(four_features(), window, "ks", max_unobserved=0.25).verdict == "Inconclusive"


def test_an_unobserved_feature_makes_the_drifted_condition_unknown_naming_it() -> None:
    from datetime import UTC, datetime

    from modelship.api.drift import Drift
    from modelship.decisions.drift import assess_reading, drifted_condition, record
    from modelship.drift.live import FeatureReading

    ref = four_features()
    buckets: dict[tuple[str, ...], float] = {}
    for i, name in enumerate(("amount", "age", "income")):
        buckets |= exposed(name, FEATURE.edges, live(0.0, seed=i)[0])
    result = assess_reading(FeatureReading(ref, buckets, None), "ks", None)
    spec = Drift.model_validate(
        {"reference": {"configMapRef": {"name": "ref", "key": "reference.json"}}, "method": "ks"}
    )
    status, events = record(spec, None, result, datetime(2025, 1, 1, tzinfo=UTC))
    assert status.verdict == "Inconclusive" and len(status.features) == 3
    condition, reason, text = drifted_condition(status)
    assert (condition, reason) == ("Unknown", "DriftUnknown")
    assert "no live data for 1 of 4 features: score" in text
    assert [(e.type, e.reason) for e in events] == [("Warning", "DriftUnknown")]


@pytest.mark.parametrize("counts", [[1.0] * 9, {"a": 1.0}], ids=["9 bins", "categories"])
def test_live_counts_that_are_not_the_features_bins_name_it(counts: object) -> None:
    ref = Reference(5000, {"x": FEATURE, "y": FEATURE})
    good = list(live(0.0)[0])
    with pytest.raises(ValueError, match="feature y: live counts must be 10 bins"):
        assess(ref, {"x": good, "y": counts}, "ks")  # type: ignore[dict-item]
