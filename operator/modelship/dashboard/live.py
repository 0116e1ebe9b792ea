"""Live feature counts for the drift page, read the way the operator reads them.

The operator's drift window is the stable track's feature histograms increased over
spec.drift.window, through spec.analysis.provider (metrics/readings.py); the dashboard
asks the same Readings for the same window, so the live bars are what the last verdict
was computed on (give or take the time since). With provider.prometheus this is one
query pair to that Prometheus from this machine; the scrape provider reads pods
directly, which a laptop outside the cluster network cannot, so there the page shows
the reference alone and says why.
"""

from __future__ import annotations

from typing import Any

from modelship.api.deployment import ModelDeploymentSpec
from modelship.api.types import parse_duration
from modelship.drift.live import FeatureReading, live_counts
from modelship.drift.reference import CategoricalFeature, InvalidReferenceError, Reference
from modelship.metrics.readings import Readings

Obj = dict[str, Any]
SCOPE = "dashboard"  # the provider pool's key part: never shared with the operator's


class LiveFeatures:
    def __init__(self) -> None:
        self.readings = Readings()

    def read(self, obj: Obj, reference: Reference) -> tuple[dict[str, list[float]] | None, str]:
        """(feature -> counts in reference_bins order, or None; why not, or "")."""
        try:
            spec = ModelDeploymentSpec.model_validate(obj.get("spec") or {})
        except ValueError as exc:
            return None, f"spec unreadable: {exc}"
        if spec.drift is None:
            return None, "no spec.drift"
        provider = spec.analysis.provider if spec.analysis else None
        if provider is None or provider.prometheus is None:
            return None, "read only through spec.analysis.provider.prometheus"
        meta = obj["metadata"]
        result = self.readings.features(
            (meta["namespace"], meta["name"]),
            provider,
            spec.analysis.preset if spec.analysis else "modelship",
            "stable",
            SCOPE,
            parse_duration(spec.drift.window),
            reference,
            lambda track: [],
        )
        if not isinstance(result, FeatureReading):
            return None, result
        try:
            counts = live_counts(reference, result.buckets, result.categories)
        except InvalidReferenceError as exc:
            return None, str(exc)
        out: dict[str, list[float]] = {}
        for name, feature in reference.features.items():
            got = counts.get(name)
            if isinstance(feature, CategoricalFeature) and isinstance(got, dict):
                out[name] = [float(got.get(c, 0.0)) for c in sorted(feature.counts)]
            elif isinstance(got, list):
                out[name] = [float(x) for x in got]
        return out, f"stable track over the last {spec.drift.window}"
