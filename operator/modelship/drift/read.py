"""Read one track's input-feature histograms through a provider and assess them
against the reference (used by drift monitoring of stable and the canary's drift check)."""

from __future__ import annotations

from collections.abc import Callable

from modelship.analysis.presets import PRESETS, track_labels
from modelship.api import ModelDeploymentSpec
from modelship.drift.assess import DriftAssessment, assess
from modelship.drift.live import live_counts
from modelship.drift.reference import InvalidReferenceError, Reference
from modelship.providers import ProviderError
from modelship.providers.pool import ProviderPool, Targets


def track_drift(
    pool: ProviderPool,
    key: tuple[str, str],
    spec: ModelDeploymentSpec,
    track: str,
    scope: str,
    window: float,
    load_reference: Callable[[], Reference],
    targets: Targets,
    threshold: float | None = None,
) -> DriftAssessment | str:
    """The assessment of ``track``'s inputs over ``window`` seconds, or why there is none.
    ``load_reference`` returns the reference or raises LookupError saying what is
    missing (InvalidReferenceError: what is invalid); ``threshold`` overrides spec.drift's."""
    assert spec.drift is not None
    provider_spec = spec.analysis.provider if spec.analysis else None
    preset = PRESETS[spec.analysis.preset if spec.analysis else "modelship"]
    if preset.features is None or preset.categories is None:
        return f"preset {preset.name} exposes no input-feature metrics to judge drift on"
    try:
        reference = load_reference()
    except LookupError as exc:
        return f"drift reference: {exc}"
    except InvalidReferenceError as exc:
        return f"drift reference is not valid: {exc}"
    prometheus = provider_spec is not None and provider_spec.prometheus is not None
    labels = track_labels(preset, key[0], key[1], track, with_namespace=prometheus)
    provider = pool.get(key, provider_spec, scope, track, targets)
    try:
        buckets = provider.increase_by(
            f"{preset.features}_bucket", labels, window, ("feature", "le")
        )
        cats = provider.increase_by(preset.categories, labels, window, ("feature", "category"))
        live = live_counts(reference, buckets, cats)
    except ProviderError as exc:
        return f"could not read the {track} track's input metrics: {exc}"
    except InvalidReferenceError as exc:
        return str(exc)
    bound = spec.drift.threshold if threshold is None else threshold
    return assess(reference, live, spec.drift.method, bound)
