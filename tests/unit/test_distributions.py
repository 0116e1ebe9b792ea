"""The analysis's distribution functions equal scipy.stats' on a grid of cases."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binom, norm

from modelship.analysis.distributions import binomial_pmf, binomial_sf, normal_sf


def cases() -> list[tuple[int, int, float]]:
    rng = np.random.default_rng(7)
    out = [(-1, 10, 0.3), (0, 0, 0.5), (10, 10, 0.3), (11, 10, 0.3), (0, 5000, 1e-4)]
    out += [(3, 7, 0.0), (3, 7, 1.0), (0, 7, 0.0), (7, 7, 1.0)]
    for _ in range(3000):
        n = int(rng.integers(0, 20000))
        out.append((int(rng.integers(-1, n + 2)), n, float(rng.uniform(1e-5, 1 - 1e-5))))
    return out


@pytest.mark.parametrize("k, n, p", cases()[:9])
def test_edges(k: int, n: int, p: float) -> None:
    assert binomial_sf(k, n, p) == pytest.approx(float(binom.sf(k, n, p)), abs=1e-15)
    assert binomial_pmf(k, n, p) == pytest.approx(float(binom.pmf(k, n, p)), abs=1e-15)


def test_binomial_matches_scipy_stats() -> None:
    for k, n, p in cases():
        want_sf, want_pmf = float(binom.sf(k, n, p)), float(binom.pmf(k, n, p))
        assert binomial_sf(k, n, p) == pytest.approx(want_sf, rel=1e-9, abs=1e-250), (k, n, p)
        assert binomial_pmf(k, n, p) == pytest.approx(want_pmf, rel=1e-8, abs=1e-250), (k, n, p)


def test_normal_sf_matches_scipy_stats() -> None:
    z = np.linspace(-12, 12, 2401)
    assert [normal_sf(float(v)) for v in z] == pytest.approx(norm.sf(z), rel=1e-12, abs=1e-300)
