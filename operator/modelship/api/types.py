"""Shared field types: the base model, durations and the CEL rule helper.

Durations are Go-style strings (``30s``, ``1h30m``). The API server checks their
shape with a CEL rule so ``kubectl apply`` fails with the field's path; the
operator parses them with durationpy, the parser the kubernetes client ships.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

import durationpy
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo
from pydantic.alias_generators import to_camel

# Go's time.ParseDuration grammar without the sign: one or more <number><unit>.
DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$"
DNS1123_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"


def cel(rule: str, message: str, field_path: str | None = None) -> dict[str, Any]:
    """One ``x-kubernetes-validations`` entry."""
    entry: dict[str, Any] = {"rule": rule, "message": message}
    if field_path:
        entry["fieldPath"] = field_path
    return entry


def validations(*rules: dict[str, Any]) -> dict[str, Any]:
    return {"x-kubernetes-validations": list(rules)}


def exactly_one(fields: list[str], what: str) -> dict[str, Any]:
    """A CEL rule: exactly one of ``fields`` is set on this object."""
    present = ", ".join(f"has(self.{f})" for f in fields)
    return cel(
        f"[{present}].filter(x, x).size() == 1",
        f"exactly one of {', '.join(fields)} must be set {what}",
    )


class ApiModel(BaseModel):
    """Base of every API object: camelCase on the wire, snake_case in Python.

    Unknown fields are ignored rather than rejected: the API server already
    prunes them, and an operator older than its CRD must keep working.
    """

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True
    )


def parse_duration(value: str) -> float:
    """Seconds in a Go-style duration string; ValueError names the bad value."""
    if not re.fullmatch(DURATION_PATTERN, value):
        raise ValueError(f"{value!r} is not a duration such as 30s, 5m or 1h30m")
    try:
        seconds = float(durationpy.from_str(value).total_seconds())
    except Exception as exc:  # durationpy raises several types
        raise ValueError(f"{value!r} is not a duration such as 30s, 5m or 1h30m") from exc
    return seconds


def _check_duration(value: str) -> str:
    parse_duration(value)
    return value


Duration = Annotated[
    str,
    AfterValidator(_check_duration),
    Field(
        max_length=32,
        json_schema_extra=validations(
            cel(
                f"self.matches(r'{DURATION_PATTERN}')",
                "must be a duration such as 30s, 5m or 1h30m",
            )
        ),
    ),
]


_IS_DURATION = f"self.matches(r'{DURATION_PATTERN}')"
_DURATION_RULE = cel(_IS_DURATION, "must be a duration such as 30s, 5m or 1h30m")


def _within(least: str, most: str | None = None) -> Callable[[str], str]:
    """The model's side of a bounded duration (for objects stored before the CRD said so:
    they become InvalidSpec)."""

    def check(value: str) -> str:
        seconds = parse_duration(value)
        if seconds < parse_duration(least):
            raise ValueError(f"{value!r} is shorter than {least}")
        if most is not None and seconds > parse_duration(most):
            raise ValueError(f"{value!r} is longer than {most}")
        return value

    return check


def _bound(op: str, bound: str, message: str) -> dict[str, Any]:
    """The CRD's side. It skips a value that is not a duration (the Duration rule says
    so); one too long for Go's time.Duration fails in duration() and is refused there,
    with the field's path."""
    return cel(f"!{_IS_DURATION} || duration(self) {op} duration('{bound}')", message)


# The pace of a measuring loop (an analysis round, a drift window) is at least this: 0s
# asked the operator to reconcile again at once, every time, for as long as the object
# lived (found by fuzzing through the API server).
MIN_INTERVAL = "1s"
Interval = Annotated[
    str,
    AfterValidator(_check_duration),
    AfterValidator(_within(MIN_INTERVAL)),
    Field(
        max_length=32,
        json_schema_extra=validations(
            _DURATION_RULE, _bound(">=", MIN_INTERVAL, f"must be at least {MIN_INTERVAL}")
        ),
    ),
]

# Whole seconds a Deployment's progressDeadlineSeconds (an int32 above minReadySeconds,
# 0) can hold: 0s and 9999999h were accepted, then every apply of the Deployment was
# refused (found by fuzzing).
MAX_DEADLINE = "596523h"
Deadline = Annotated[
    str,
    AfterValidator(_check_duration),
    AfterValidator(_within("1s", MAX_DEADLINE)),
    Field(
        max_length=32,
        json_schema_extra=validations(
            _DURATION_RULE,
            _bound(">=", "1s", "must be at least 1s"),
            _bound("<=", MAX_DEADLINE, f"must be at most {MAX_DEADLINE}"),
        ),
    ),
]

Percent = Annotated[int, Field(ge=0, le=100)]
Ratio = Annotated[float, Field(ge=0, le=1)]

# Embedded Kubernetes objects (EnvVar, JobTemplateSpec) are validated by the API
# server when the operator creates the child object, not re-described here.
PRESERVE = {"x-kubernetes-preserve-unknown-fields": True}
EmbeddedObject = Annotated[dict[str, Any], Field(json_schema_extra=PRESERVE)]


# ----- a batch/v1 JobTemplateSpec ---------------------------------------------------------
#
# Kept as written, but for the path render/jobs.py walks to add its labels and env: there
# each level is an object (containers a list of objects), or the API server refuses it
# naming the field. A template whose spec.template.spec was a string was accepted, then
# the renderer raised in every reconcile of the promotion (found by fuzzing).


def _node(description: str, properties: dict[str, Any] | None = None) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "object", "description": description, **PRESERVE}
    if properties:
        node["properties"] = properties
    return node


def _meta(what: str) -> dict[str, Any]:
    labels = {
        "type": "object",
        "description": f"Labels of the {what}; the operator adds its own.",
        "additionalProperties": {"type": "string"},
    }
    return _node(f"metav1.ObjectMeta of the {what}.", {"labels": labels})


_CONTAINER = _node(
    "A core/v1 Container; the operator adds the model to its env.",
    {
        "env": {
            "type": "array",
            "description": "core/v1 EnvVar list.",
            "items": _node("A core/v1 EnvVar."),
        }
    },
)
_JOB_TEMPLATE_SCHEMA = _node(
    "A batch/v1 JobTemplateSpec.",
    {
        "metadata": _meta("Job"),
        "spec": _node(
            "batch/v1 JobSpec.",
            {
                "template": _node(
                    "core/v1 PodTemplateSpec.",
                    {
                        "metadata": _meta("pods"),
                        "spec": _node(
                            "core/v1 PodSpec (restartPolicy Never unless set).",
                            {
                                "containers": {
                                    "type": "array",
                                    "description": "The Job's containers.",
                                    "items": _CONTAINER,
                                }
                            },
                        ),
                    },
                )
            },
        ),
    },
)


def _shape(value: Any, schema: dict[str, Any], where: str) -> None:
    """``value`` against the part of ``schema`` that types it; ValueError names where."""
    kind = schema.get("type")
    if kind == "object" and not isinstance(value, dict):
        raise ValueError(f"{where or 'the template'} must be an object")
    if kind == "array" and not isinstance(value, list):
        raise ValueError(f"{where} must be a list")
    if kind == "string" and not isinstance(value, str):
        raise ValueError(f"{where} must be a string")
    if isinstance(value, dict):
        for key, sub in (schema.get("properties") or {}).items():
            if key in value:
                _shape(value[key], sub, f"{where}.{key}" if where else key)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key, item in value.items():
                _shape(item, extra, f"{where}.{key}")
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            _shape(item, schema["items"], f"{where}[{i}]")


def _check_job_template(value: dict[str, Any]) -> dict[str, Any]:
    _shape(value, _JOB_TEMPLATE_SCHEMA, "")
    return value


# The field's own description is the one kubectl explain shows.
JobTemplate = Annotated[
    dict[str, Any],
    AfterValidator(_check_job_template),
    Field(json_schema_extra={k: v for k, v in _JOB_TEMPLATE_SCHEMA.items() if k != "description"}),
]


# ----- timestamps in status ---------------------------------------------------------------
#
# The CRD declares them date-time, so the API server refuses a garbage write; one stored
# before that (or by another writer) is repaired when read, never trusted. A required
# time that cannot be read becomes the reconcile's ``now`` (clocks restart: a pause or a
# deadline takes longer, never shorter); an optional one becomes absent (no pass, no
# abort is assumed). The repaired fields are listed in the context's "repaired".
DATE_TIME = {"format": "date-time"}


def readable_time(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _repaired(info: ValidationInfo) -> dict[str, Any]:
    context = info.context if isinstance(info.context, dict) else {}
    if isinstance(context.get("repaired"), list):
        context["repaired"].append(info.field_name)
    return context


def _required_time(value: Any, info: ValidationInfo) -> Any:
    if readable_time(value):
        return value
    now = _repaired(info).get("now")
    return now if now is not None else value  # without a clock: let the type check refuse


def _optional_time(value: Any, info: ValidationInfo) -> Any:
    if value is None or readable_time(value):
        return value
    _repaired(info)
    return None


Timestamp = Annotated[str, BeforeValidator(_required_time), Field(json_schema_extra=DATE_TIME)]
OptionalTimestamp = Annotated[
    str | None, BeforeValidator(_optional_time), Field(json_schema_extra=DATE_TIME)
]
