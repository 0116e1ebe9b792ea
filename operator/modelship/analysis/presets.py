"""Which metric names and labels a runtime exposes: ``modelship`` (the reference
runtime's contract in product.md) and ``vllm`` (vLLM's own names)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    name: str
    latency: dict[str, str]  # latency check's metric -> histogram name (without _bucket)
    requests: str | None  # counter of all requests
    errors: dict[str, str] | None  # extra labels selecting failed requests on ``requests``
    track_by_label: bool  # True: a ``track`` label; False: the pod name tells the track
    features: str | None = None  # histogram of numeric input values, label ``feature``
    categories: str | None = None  # counter of categorical inputs, labels feature, category

    def histogram(self, metric: str) -> str | None:
        return self.latency.get(metric)


PRESETS = {
    "modelship": Preset(
        "modelship",
        {"request": "modelship_request_duration_seconds"},
        "modelship_requests_total",
        {"code": "~5.."},
        track_by_label=True,
        features="modelship_feature_value",
        categories="modelship_feature_category_total",
    ),
    "vllm": Preset(
        "vllm",
        {
            "request": "vllm:e2e_request_latency_seconds",
            "timeToFirstToken": "vllm:time_to_first_token_seconds",
            "timePerOutputToken": "vllm:time_per_output_token_seconds",
        },
        "vllm:e2e_request_latency_seconds_count",
        None,  # vLLM counts finished requests, not failed ones: use a query check
        track_by_label=False,
    ),
}


def track_labels(
    preset: Preset, namespace: str, deployment: str, track: str, *, with_namespace: bool
) -> dict[str, str]:
    """Series of one track of one ModelDeployment (``~`` marks a regex). In Prometheus the
    namespace and the pod name (the track's Deployment's pods: NAME-TRACK-<hash>-<id>)
    tell ModelDeployments apart; the scrape provider reads only the track's own pods."""
    labels = {"track": track} if preset.track_by_label else {}
    if with_namespace:
        labels["namespace"] = namespace
        labels["pod"] = f"~{deployment}-{track}-[a-z0-9]+-[a-z0-9]+"
    return labels
