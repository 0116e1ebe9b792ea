"""The dashboard's buttons: the same commands as the command line, as the user.

Each action calls ctl.py's or promotion_ctl.py's own method, so the checks ("no canary
to promote"), the annotation written and the reply are those of `modelship promote`
and friends; nothing here knows an annotation key. The API server decides what the
user may do: its 403 comes back as "Forbidden: <its message>".
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from modelship.ctl import Ctl
from modelship.decisions.rollout import Command
from modelship.errors import CtlError, ModelshipError, NotFoundError
from modelship.kube import Kube
from modelship.promotion_ctl import ForbiddenError, PromotionCtl

DEPLOYMENT_ACTIONS = ("promote", "promote-full", "abort", "retry", "pause", "resume", "undo")
PROMOTION_ACTIONS = ("approve", "reject")
KINDS = {"ModelDeployment": DEPLOYMENT_ACTIONS, "ModelPromotion": PROMOTION_ACTIONS}

# How the Kube layer words an API server refusal: "PATCH /apis/...: 403 <message>".
_FORBIDDEN = re.compile(r"^\S+ \S+: 403 (.*)$", re.DOTALL)


@dataclass(frozen=True)
class Result:
    status: int  # the HTTP status the action endpoint answers with
    text: str


def _deployment(kube: Kube, namespace: str, name: str, action: str) -> Callable[[], str]:
    ctl = Ctl(kube, namespace)
    if action == "promote":
        return lambda: ctl.command(name, Command.PROMOTE)
    if action == "promote-full":
        return lambda: ctl.command(name, Command.PROMOTE_FULL)
    if action in ("abort", "retry"):
        return lambda: ctl.command(name, Command(action))
    if action in ("pause", "resume"):
        return lambda: ctl.pause(name, action == "pause")
    return lambda: ctl.undo(name, None)


def _promotion(
    kube: Kube, namespace: str, name: str, action: str, message: str
) -> Callable[[], str]:
    ctl = PromotionCtl(kube, namespace)
    if action == "approve":
        return lambda: ctl.approve(name, message)
    return lambda: ctl.reject(name, message or "rejected from the dashboard")


def validate(body: object) -> tuple[str, str, str, str, str] | str:
    """(kind, namespace, name, action, message) from the POSTed JSON, or what is wrong."""
    if not isinstance(body, dict):
        return "expected a JSON object"
    fields = [body.get(k) for k in ("kind", "namespace", "name", "action")]
    message = body.get("message") or ""
    if not all(isinstance(f, str) and f for f in fields) or not isinstance(message, str):
        return "kind, namespace, name and action are required strings"
    kind, namespace, name, action = (str(f) for f in fields)
    if kind not in KINDS:
        return f"unknown kind {kind!r} (ModelDeployment or ModelPromotion)"
    if action not in KINDS[kind]:
        return f"{kind} has no action {action!r} (one of {', '.join(KINDS[kind])})"
    return kind, namespace, name, action, message[:1000]


def perform(kube: Kube, kind: str, namespace: str, name: str, action: str, message: str) -> Result:
    """Run the action (blocking: the server calls it in a thread)."""
    if kind == "ModelDeployment":
        call = _deployment(kube, namespace, name, action)
    else:
        call = _promotion(kube, namespace, name, action, message)
    try:
        return Result(200, call())
    except ForbiddenError as exc:
        return Result(403, f"Forbidden: {exc}")
    except CtlError as exc:
        return Result(409, f"error: {exc}")
    except NotFoundError as exc:
        return Result(404, f"Not found: {exc}")
    except ModelshipError as exc:
        m = _FORBIDDEN.match(str(exc))
        if m:
            return Result(403, f"Forbidden: {m.group(1)}")
        return Result(502, f"error: {exc}")
