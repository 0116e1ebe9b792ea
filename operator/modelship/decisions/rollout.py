"""The canary state machine: (spec, revisions, observed tracks, commands, now) -> plan.

Pure: no clock, no I/O. The reconcile observes, calls ``decide_rollout``, applies
the plan (a Deployment per track, router weights, status) and comes back after
``requeue_after``. Every call re-derives the plan from what it is given, so an
interruption anywhere is repaired by the next call.

``status.canary`` is absent when nothing rolls out, else one of: Progressing
(walking the steps), Paused (an indefinite pause step, a manual pause, or
inconclusive analysis), Promoting (stable is taking the canary's revision),
Aborted (traffic back on stable; kept until ``retry`` or another revision).

Here: whether a canary runs at all, and starting one. Walking it through its steps is
``decisions/steps.py``; the types both share are ``decisions/rollout_types.py``. Import
them all from here.
"""

from __future__ import annotations

from dataclasses import replace

from modelship.api.status import CanaryStatus
from modelship.conditions import Reason, rfc3339
from modelship.decisions.replicas import choose_capacity, split
from modelship.decisions.rollout_types import (
    AnalysisGate,
    Command,
    RolloutInput,
    RolloutPlan,
    Verdict,
)
from modelship.decisions.steps import (
    POD_WAIT_REQUEUE_SECONDS,
    CanaryPass,
    aborted_plan,
    describe,
    step_text,
)
from modelship.kernel.plan import Event

# The names callers import from here, wherever they are defined.
__all__ = [
    "POD_WAIT_REQUEUE_SECONDS",
    "AnalysisGate",
    "Command",
    "RolloutInput",
    "RolloutPlan",
    "Verdict",
    "decide_rollout",
    "step_text",
]


def decide_rollout(inp: RolloutInput) -> RolloutPlan:
    replicas = inp.spec.replicas
    if inp.stable is None:  # first deployment: nothing to compare against
        return RolloutPlan(inp.desired, replicas, None, 0, 0, None)
    previous = inp.canary
    if inp.desired.name == inp.stable.name:
        events = []
        if previous is not None and previous.phase != "Aborted":
            events.append(
                Event(
                    "Normal",
                    Reason.CANARY_DROPPED,
                    f"spec is back on stable {describe(inp.stable)}: canary "
                    f"{describe(previous.revision)} dropped",
                )
            )
        return RolloutPlan(inp.stable, replicas, None, 0, 0, None, events=events)

    events = []
    canary = (
        previous if previous is not None and previous.revision.name == inp.desired.name else None
    )
    if previous is not None and canary is None and previous.phase != "Aborted":
        events.append(
            Event(
                "Normal",
                Reason.CANARY_RESTARTED,
                f"new revision {describe(inp.desired)} replaces canary "
                f"{describe(previous.revision)}",
            )
        )
    if canary is not None and canary.phase == "Aborted":
        if Command.RETRY not in inp.commands:
            return aborted_plan(inp, canary, [])
        events.append(
            Event("Normal", Reason.CANARY_RETRIED, f"retrying canary {describe(inp.desired)}")
        )
        canary = None
    repaired = None
    steps = len(inp.spec.rollout.steps or [])
    if canary is not None and canary.step > steps:
        # Past the plan's last step would promote a canary no step has walked.
        repaired = (
            f"status.canary.step {canary.step} is past the plan's {steps} steps: canary "
            f"{describe(canary.revision)} starts again from its first step"
        )
        canary = None
    if canary is None:
        canary = _start(inp, events)
    elif canary.weight_approximate == inp.exact_weights:
        # The router changed under a running canary (gatewayAPI added or removed): its
        # weight is now honoured exactly, or only by pod counts.
        canary = canary.model_copy(update={"weight_approximate": not inp.exact_weights})
    plan = CanaryPass(inp, canary, events).run()
    return replace(plan, repaired=repaired) if repaired else plan


def _start(inp: RolloutInput, events: list[Event]) -> CanaryStatus:
    spec = inp.spec
    weights = [s.set_weight for s in spec.rollout.steps or [] if s.set_weight is not None]
    peak = split(spec.replicas, max(weights, default=0), "surge", inp.exact_weights).canary
    choice = choose_capacity(spec.rollout.capacity, peak, inp.gpu)
    stamp = rfc3339(inp.now)
    plan = ", ".join(step_text(s) for s in spec.rollout.steps or []) or "promote when ready"
    assert inp.stable is not None
    events.append(
        Event(
            "Normal",
            Reason.CANARY_STARTED,
            f"canary {describe(inp.desired)} against stable {describe(inp.stable)}"
            f" ({choice.mode}): {plan}",
        )
    )
    if not choice.fits:
        events.append(
            Event("Warning", Reason.INSUFFICIENT_GPU, f"canary cannot be placed: {choice.message}")
        )
    return CanaryStatus(
        revision=inp.desired,
        phase="Progressing",
        step=0,
        weight=0,
        weight_approximate=not inp.exact_weights,
        capacity=choice.mode,
        started_at=stamp,
        step_started_at=stamp,
        last_progress_at=stamp,
        message="starting",
        capacity_note="" if choice.fits else choice.message,
    )
