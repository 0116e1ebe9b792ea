"""Fault knobs: make a bad version on purpose (env, read once at start).

- ``MODELSHIP_FAULT_LATENCY``: a duration (``100ms``) added to every request.
- ``MODELSHIP_FAULT_TAIL_FRACTION`` and ``MODELSHIP_FAULT_TAIL_LATENCY``: that share of
  requests (0-1) is slower by that duration; a tail regression, median unchanged.
- ``MODELSHIP_FAULT_ERROR_RATE``: that share of predict requests (0-1) answers 500.
- ``MODELSHIP_FAULT_INPUT_SHIFT``: added to every input feature before it is recorded
  and scored; a number for all features, or ``name=delta,name=delta``.
- ``MODELSHIP_SERVICE_TIME``: a baseline service time (median of a lognormal with
  sigma 0.25), so latency looks like a real model's.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field

from modelship.api.types import parse_duration


class FaultConfigError(ValueError):
    pass


def _ratio(env: Mapping[str, str], key: str) -> float:
    raw = env.get(key, "0")
    try:
        value = float(raw)
    except ValueError as exc:
        raise FaultConfigError(f"{key}={raw!r}: expected a number between 0 and 1") from exc
    if not 0 <= value <= 1:
        raise FaultConfigError(f"{key}={raw!r}: expected a number between 0 and 1")
    return value


def _duration(env: Mapping[str, str], key: str) -> float:
    raw = env.get(key)
    if not raw:
        return 0.0
    try:
        return parse_duration(raw)
    except ValueError as exc:
        raise FaultConfigError(f"{key}: {exc}") from exc


@dataclass(frozen=True)
class Faults:
    latency: float = 0.0
    tail_fraction: float = 0.0
    tail_latency: float = 0.0
    error_rate: float = 0.0
    shift_all: float = 0.0
    shift: dict[str, float] = field(default_factory=dict)
    service_time: float = 0.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Faults:
        shift_all, shift = 0.0, {}
        raw = env.get("MODELSHIP_FAULT_INPUT_SHIFT", "").strip()
        try:
            if raw and "=" in raw:
                for part in raw.split(","):
                    name, _, delta = part.partition("=")
                    shift[name.strip()] = float(delta)
            elif raw:
                shift_all = float(raw)
        except ValueError as exc:
            raise FaultConfigError(
                f"MODELSHIP_FAULT_INPUT_SHIFT={raw!r}: a number, or name=delta,name=delta"
            ) from exc
        return cls(
            latency=_duration(env, "MODELSHIP_FAULT_LATENCY"),
            tail_fraction=_ratio(env, "MODELSHIP_FAULT_TAIL_FRACTION"),
            tail_latency=_duration(env, "MODELSHIP_FAULT_TAIL_LATENCY"),
            error_rate=_ratio(env, "MODELSHIP_FAULT_ERROR_RATE"),
            shift_all=shift_all,
            shift=shift,
            service_time=_duration(env, "MODELSHIP_SERVICE_TIME"),
        )

    def delay(self, rng: random.Random) -> float:
        """Seconds to sleep for this request."""
        base = self.service_time * rng.lognormvariate(0.0, 0.25) if self.service_time else 0.0
        tail = self.tail_latency if rng.random() < self.tail_fraction else 0.0
        return base + self.latency + tail

    def fails(self, rng: random.Random) -> bool:
        return rng.random() < self.error_rate

    def shift_for(self, feature: str) -> float:
        return self.shift.get(feature, self.shift_all)
