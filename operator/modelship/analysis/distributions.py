"""The three distribution functions the analysis needs, from scipy.special.

scipy.stats would give the same numbers (the unit tests compare them), but importing
it costs the operator ~45 MB of resident memory for three functions; scipy.special,
which the drift scores use already, has what they are built on (product.md: operator
RSS <= 200 MB at 1,000 ModelDeployments).
"""

from __future__ import annotations

import math

from scipy.special import bdtrc, gammaln, ndtr


def binomial_sf(k: int, n: int, p: float) -> float:
    """P(X > k) for X ~ Binomial(n, p) (scipy.stats.binom.sf)."""
    if k < 0:
        return 1.0
    if k >= n:
        return 0.0
    return float(bdtrc(k, n, p))


def binomial_pmf(k: int, n: int, p: float) -> float:
    """P(X = k) for X ~ Binomial(n, p) (scipy.stats.binom.pmf), in log space so tiny
    probabilities keep their relative precision."""
    if k < 0 or k > n:
        return 0.0
    if p <= 0.0 or p >= 1.0:
        return float(k == (0 if p <= 0.0 else n))
    log = gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)
    return math.exp(float(log) + k * math.log(p) + (n - k) * math.log1p(-p))


def normal_sf(z: float) -> float:
    """P(Z > z) for a standard normal Z (scipy.stats.norm.sf)."""
    return float(ndtr(-z))
