"""Verdicts, not booleans: every measurement says what it saw and against what."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Verdict = Literal["Pass", "Fail", "Inconclusive", "Error"]


@dataclass(frozen=True)
class Measurement:
    """One check's result in one analysis round."""

    check: str
    verdict: Verdict
    value: float | None
    threshold: float | None
    message: str
