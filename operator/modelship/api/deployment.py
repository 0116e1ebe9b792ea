"""ModelDeployment spec, v1alpha1 (names fixed by shared/design/api.md)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from modelship.api.analysis import AnalysisSpec
from modelship.api.autoscaling import Autoscaling
from modelship.api.drift import Drift, Retraining
from modelship.api.status import ModelDeploymentStatus
from modelship.api.types import (
    DNS1123_LABEL,
    ApiModel,
    Deadline,
    Duration,
    Percent,
    cel,
    exactly_one,
    validations,
)

GROUP = "modelship.io"
VERSION = "v1alpha1"
KIND = "ModelDeployment"
PLURAL = "modeldeployments"

URI_SCHEMES = ("s3", "gs", "https", "pvc", "hf", "oci", "file")
_SCHEME_RULE = "^(" + "|".join(URI_SCHEMES) + ")://.+"
_RESOURCE_NAME = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
_LABEL_VALUE = r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$"


class ModelRef(ApiModel):
    """The versioned model asset being served."""

    name: str = Field(
        max_length=63, pattern=DNS1123_LABEL, description="Model name, a DNS-1123 label."
    )
    version: str = Field(
        min_length=1, max_length=63, description="Model version, free text (max 63 chars)."
    )
    uri: str = Field(
        max_length=2048,
        description="Where the artifact lives: s3://, gs://, https://, pvc://, hf://, oci:// "
        "or file://. Passed to the runtime as MODELSHIP_MODEL_URI.",
        json_schema_extra=validations(
            cel(
                f"self.matches('{_SCHEME_RULE}')",
                "must start with one of " + ", ".join(f"{s}://" for s in URI_SCHEMES),
            )
        ),
    )
    digest: str | None = Field(
        default=None,
        max_length=71,
        description="Optional sha256:<64 hex> digest pinning the artifact.",
        json_schema_extra=validations(
            cel(
                "self.matches('^sha256:[0-9a-f]{64}$')",
                "must be sha256: followed by 64 lowercase hex digits",
            )
        ),
    )
    format: str | None = Field(
        default=None, max_length=63, description="Optional format hint for the runtime."
    )


class MetricsEndpoint(ApiModel):
    """Where the runtime serves Prometheus metrics."""

    port: int | None = Field(
        default=None, ge=1, le=65535, description="Metrics port; default: runtime.port."
    )
    path: str = Field(
        default="/metrics", max_length=256, pattern=r"^/", description="Metrics HTTP path."
    )


# resource.Quantity's grammar, as the API server states it.
_QUANTITY = r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"


def _check_quantities(values: dict[str, int | str] | None) -> dict[str, int | str] | None:
    for name, value in (values or {}).items():
        if not re.fullmatch(_QUANTITY, str(value)):
            raise ValueError(f"{name}: {value!r} is not a quantity such as 500m, 2 or 4Gi")
    return values


Quantity = Annotated[
    int | str,
    Field(
        json_schema_extra={
            "maxLength": 64,
            **validations(
                cel("isQuantity(string(self))", "must be a quantity such as 500m, 2 or 4Gi")
            ),
        }
    ),
]
Quantities = Annotated[
    dict[str, Quantity] | None, AfterValidator(_check_quantities), Field(max_length=32)
]


class ResourceRequirements(ApiModel):
    """core/v1 ResourceRequirements: quantities by resource name."""

    requests: Quantities = Field(default=None, description="Requested resources.")
    limits: Quantities = Field(default=None, description="Resource limits.")


class GPU(ApiModel):
    """GPUs per runtime pod. MIG resource names work wherever a GPU does."""

    count: int = Field(default=0, ge=0, le=64, description="GPUs per pod; 0 means CPU only.")
    resource_name: str = Field(
        default="nvidia.com/gpu",
        max_length=253,
        pattern=_RESOURCE_NAME,
        description="Extended resource to request, e.g. nvidia.com/gpu or nvidia.com/mig-1g.10gb.",
    )
    product: str | None = Field(
        default=None,
        max_length=63,
        pattern=_LABEL_VALUE,
        description="Schedule only on nodes labelled nvidia.com/gpu.product=<product>.",
    )


# Set by the operator on every runtime container (render/serving.py: model_env).
OPERATOR_ENV = (
    "MODELSHIP_MODEL_NAME",
    "MODELSHIP_MODEL_VERSION",
    "MODELSHIP_MODEL_URI",
    "MODELSHIP_MODEL_DIGEST",
    "MODELSHIP_MODEL_FORMAT",
    "MODELSHIP_TRACK",
    "MODELSHIP_REVISION",
    "MODELSHIP_PORT",
    "MODELSHIP_METRICS_PORT",
    "MODELSHIP_METRICS_PATH",
    "MODELSHIP_REFERENCE_PATH",
)


class KeyRef(ApiModel):
    """A key of a ConfigMap or Secret in the ModelDeployment's namespace."""

    name: str = Field(min_length=1, max_length=253, description="Object name.")
    key: str = Field(min_length=1, max_length=253, description="Key in its data.")
    optional: bool | None = Field(default=None, description="Start without it if absent.")


class FieldRef(ApiModel):
    """A field of the pod (metadata.name, status.podIP, ...)."""

    field_path: str = Field(min_length=1, max_length=256, description="Path of the field.")
    api_version: str | None = Field(default=None, max_length=64, description="Its version.")


class ResourceFieldRef(ApiModel):
    """A resource request or limit of the container (limits.cpu, requests.memory, ...)."""

    resource: str = Field(min_length=1, max_length=253, description="Which resource.")
    container_name: str | None = Field(default=None, max_length=63, description="Container.")
    divisor: Quantity | None = Field(default=None, description="Unit of the value.")


class EnvVarSource(ApiModel):
    """core/v1 EnvVarSource, typed so that a wrong field is refused when applied rather
    than by the Deployment's server-side apply later."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            exactly_one(
                ["configMapKeyRef", "secretKeyRef", "fieldRef", "resourceFieldRef"],
                "in valueFrom",
            )
        )
    }

    config_map_key_ref: KeyRef | None = Field(default=None, description="A ConfigMap key.")
    secret_key_ref: KeyRef | None = Field(default=None, description="A Secret key.")
    field_ref: FieldRef | None = Field(default=None, description="A field of the pod.")
    resource_field_ref: ResourceFieldRef | None = Field(
        default=None, description="A resource of the container."
    )


class EnvVar(ApiModel):
    """A core/v1 EnvVar, passed to the container as written."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel(
                "!(self.name in [" + ", ".join(f"'{n}'" for n in OPERATOR_ENV) + "])",
                "is set by the operator from spec.model and spec.runtime",
                ".name",
            )
        )
    }

    # The API server's own rule for a container's variable names: the Deployment was
    # refused for any other, after the ModelDeployment was accepted (found by fuzzing).
    name: str = Field(
        min_length=1,
        max_length=256,
        pattern=r"^[ -<>-~]+$",
        description="Variable name: printable ASCII characters other than '='.",
    )
    value: str | None = Field(default=None, max_length=32768, description="Literal value.")
    value_from: EnvVarSource | None = Field(default=None, description="core/v1 EnvVarSource.")


class Runtime(ApiModel):
    """The inference container."""

    image: str = Field(min_length=1, max_length=1024, description="Container image.")
    command: list[Annotated[str, Field(max_length=4096)]] | None = Field(
        default=None, max_length=64, description="Entrypoint override."
    )
    args: list[Annotated[str, Field(max_length=4096)]] | None = Field(
        default=None, max_length=256, description="Arguments to the entrypoint."
    )
    env: list[EnvVar] | None = Field(
        default=None,
        max_length=256,
        description="core/v1 EnvVar list added to the container.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    port: int = Field(default=8080, ge=1, le=65535, description="Serving port.")
    metrics: MetricsEndpoint = Field(
        default_factory=MetricsEndpoint, description="Where Prometheus metrics are served."
    )
    resources: ResourceRequirements | None = Field(
        default=None, description="core/v1 ResourceRequirements for the container."
    )
    gpu: GPU | None = Field(
        default=None,
        description="GPUs per pod: nvidia.com/gpu or a MIG resource such as "
        "nvidia.com/mig-1g.10gb; absent means CPU only.",
    )

    @property
    def metrics_port(self) -> int:
        return self.metrics.port or self.port


class Pause(ApiModel):
    """A pause step: timed with duration, indefinite (until promote) without."""

    duration: Duration | None = Field(default=None, description="How long to pause.")


class Step(ApiModel):
    """One canary step: exactly one of setWeight or pause."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(exactly_one(["setWeight", "pause"], "in a step"))
    }

    set_weight: Percent | None = Field(
        default=None, description="Percent of traffic sent to the canary."
    )
    pause: Pause | None = Field(default=None, description="Pause before the next step.")


class ParentRef(ApiModel):
    """A Gateway API parentRef."""

    name: str = Field(max_length=253, min_length=1, description="Gateway name.")
    namespace: str | None = Field(default=None, max_length=63, description="Gateway namespace.")
    section_name: str | None = Field(default=None, max_length=253, description="Listener name.")
    port: int | None = Field(default=None, ge=1, le=65535, description="Listener port.")


class GatewayAPIRouting(ApiModel):
    """Split traffic with an HTTPRoute owned by the operator."""

    parent_refs: list[ParentRef] = Field(min_length=1, max_length=16, description="Gateways.")
    hostnames: list[Annotated[str, Field(max_length=253)]] | None = Field(
        default=None, max_length=16, description="Hostnames the route answers."
    )


class TrafficRouting(ApiModel):
    """How canary traffic is split; absent means replica ratio behind one Service."""

    gateway_api: GatewayAPIRouting | None = Field(
        default=None, alias="gatewayAPI", description="Gateway API HTTPRoute weights."
    )


class Rollout(ApiModel):
    """How a new revision reaches users."""

    steps: list[Step] | None = Field(
        default=None,
        max_length=64,
        description="Canary plan; absent means one step straight to 100 after analysis passes.",
    )
    traffic_routing: TrafficRouting | None = Field(default=None, description="Traffic split.")
    progress_deadline: Deadline = Field(
        default="10m",
        description="A rollout with no progress for this long is aborted (1s to 596523h, "
        "the range of a Deployment's progressDeadlineSeconds).",
    )
    scale_down_delay: Duration = Field(
        default="30s",
        description="How long an aborted canary keeps its pods after its traffic went to "
        "0, so requests in flight through a gateway finish (Argo Rollouts' "
        "scaleDownDelaySeconds); 0s scales it down at once, after the weight.",
    )
    capacity: Literal["surge", "swap", "auto"] = Field(
        default="auto",
        description="How a canary finds GPUs: surge adds pods, swap shrinks stable as the "
        "canary grows, auto surges when the cluster has room and swaps otherwise.",
    )


class ModelDeploymentSpec(ApiModel):
    """Desired state of a served model."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel(
                "!has(self.autoscaling) || self.autoscaling.metrics.all(m, "
                "!has(m.queueLength) && !has(m.kvCacheUsage)) "
                "|| (has(self.analysis) && has(self.analysis.preset) "
                "&& self.analysis.preset == 'vllm')",
                "queueLength and kvCacheUsage are vLLM's signals: they need "
                "spec.analysis.preset: vllm",
                ".autoscaling.metrics",
            )
        )
    }

    model: ModelRef = Field(description="The versioned model asset.")
    runtime: Runtime = Field(description="The inference container.")
    replicas: int = Field(
        default=1,
        ge=0,
        le=1000,
        description="Stable replicas; with autoscaling, the count before the first scale.",
    )
    autoscaling: Autoscaling | None = Field(
        default=None,
        description="HorizontalPodAutoscalers per track (autoscaling/v2); the canary "
        "follows its weight of the stable's count.",
    )
    rollout: Rollout = Field(default_factory=Rollout, description="Canary rollout plan.")
    analysis: AnalysisSpec | None = Field(default=None, description="Canary analysis.")
    drift: Drift | None = Field(default=None, description="Input drift monitoring.")
    retraining: Retraining | None = Field(default=None, description="Automatic retraining.")
    revision_history_limit: int = Field(
        default=10, ge=0, le=100, description="Revisions kept in status.history."
    )


class ModelDeployment(ApiModel):
    """A model served with GPU-aware canaries, analysis, rollback, drift and retraining."""

    spec: ModelDeploymentSpec
    status: ModelDeploymentStatus = Field(default_factory=ModelDeploymentStatus)
