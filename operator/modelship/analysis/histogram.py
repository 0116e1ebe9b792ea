"""Cumulative ``le`` buckets as Prometheus exposes them, and what can be read from them."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Histogram:
    """Bucket upper bounds (ascending, ending with +Inf) and cumulative counts."""

    bounds: tuple[float, ...]
    cumulative: tuple[float, ...]

    @classmethod
    def from_buckets(cls, buckets: Mapping[float, float] | None) -> Histogram:
        """From ``{le: cumulative count}``; counts are made monotone (Prometheus's
        ``increase`` over separate series can leave a bucket a hair below the one before)."""
        items = sorted((buckets or {}).items())
        if items and not math.isinf(items[-1][0]):
            items.append((math.inf, items[-1][1]))
        bounds, cumulative, running = [], [], 0.0
        for bound, count in items:
            running = max(running, float(count))
            bounds.append(float(bound))
            cumulative.append(running)
        return cls(tuple(bounds), tuple(cumulative))

    @property
    def count(self) -> float:
        return self.cumulative[-1] if self.cumulative else 0.0

    def counts(self) -> list[float]:
        """Observations per bucket (not cumulative)."""
        return [c - p for c, p in zip(self.cumulative, (0.0, *self.cumulative[:-1]), strict=True)]

    def quantile(self, q: float) -> float | None:
        """Like PromQL's histogram_quantile: linear inside the bucket holding rank q·count;
        the lowest bucket starts at 0; a rank in the +Inf bucket gives the highest finite
        bound. None without observations."""
        total = self.count
        if total <= 0:
            return None
        rank = q * total
        lower_bound, lower_count = 0.0, 0.0
        for bound, cum in zip(self.bounds, self.cumulative, strict=True):
            if cum >= rank:
                if math.isinf(bound):
                    finite = [b for b in self.bounds if not math.isinf(b)]
                    return finite[-1] if finite else None
                if cum == lower_count:
                    return bound
                return lower_bound + (bound - lower_bound) * (rank - lower_count) / (
                    cum - lower_count
                )
            lower_bound, lower_count = bound, cum
        return None

    def share_below(self, x: float) -> float:
        """Share of observations at or below x, linear inside a bucket (as ``quantile``)."""
        total = self.count
        if total <= 0:
            return 0.0
        lower_bound, lower_count = 0.0, 0.0
        for bound, cum in zip(self.bounds, self.cumulative, strict=True):
            if x <= bound:
                if math.isinf(bound) or x <= lower_bound:
                    return lower_count / total
                inside = (x - lower_bound) / (bound - lower_bound)
                return (lower_count + (cum - lower_count) * inside) / total
            lower_bound, lower_count = bound, cum
        return 1.0

    def share_above(self, x: float) -> float:
        """Share of observations above x, for tails: inside a bucket the survival function
        is interpolated log-linearly in log x (a power law between the bucket's bounds),
        which follows a falling tail where linear interpolation of the CDF, across a
        bucket as wide as a factor of 2, can overstate it a hundredfold. Nothing above the
        bucket counts as half an observation there (the tail is not known to end); linear
        in the first bucket (from 0) and where the bucket is empty."""
        total = self.count
        if total <= 0:
            return 0.0
        lower_bound, lower_count = 0.0, 0.0
        for bound, cum in zip(self.bounds, self.cumulative, strict=True):
            if x <= bound:
                s_lower = 1 - lower_count / total
                s_upper = max(1 - cum / total, 0.5 / total)
                if x <= lower_bound or math.isinf(bound):
                    return s_lower
                if lower_bound <= 0 or s_lower <= s_upper:
                    return 1.0 - self.share_below(x)
                slope = math.log(s_lower / s_upper) / math.log(bound / lower_bound)
                return float(s_upper * (bound / x) ** slope)
            lower_bound, lower_count = bound, cum
        return 0.0

    def above(self, bound: float) -> float:
        """Observations greater than the bucket bound ``bound`` (which must be a bound)."""
        index = self.bounds.index(bound)
        return self.count - self.cumulative[index]

    def bound_at(self, q: float) -> float | None:
        """The smallest finite bucket bound holding at least a share q of the observations."""
        total = self.count
        for bound, cum in zip(self.bounds, self.cumulative, strict=True):
            if not math.isinf(bound) and total > 0 and cum >= q * total:
                return bound
        return None
