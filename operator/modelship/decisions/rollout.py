"""The canary state machine: (spec, revisions, observed tracks, commands, now) -> plan.

Pure: no clock, no I/O. The reconcile observes, calls ``decide_rollout``, applies
the plan (a Deployment per track, router weights, status) and comes back after
``requeue_after``. Every call re-derives the plan from what it is given, so an
interruption anywhere is repaired by the next call.

``status.canary`` is absent when nothing rolls out, else one of: Progressing
(walking the steps), Paused (an indefinite pause step, a manual pause, or
inconclusive analysis), Promoting (stable is taking the canary's revision),
Aborted (traffic back on stable; kept until ``retry`` or another revision).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from typing import Any, Literal

from modelship.api import ModelDeploymentSpec
from modelship.api.deployment import Step
from modelship.api.status import CanaryStatus, RevisionRef
from modelship.api.types import parse_duration
from modelship.conditions import Reason, parse_time, rfc3339
from modelship.decisions.replicas import GpuNeed, Split, choose_capacity, split
from modelship.kernel.plan import Event
from modelship.observed import DeploymentState

# How often to look again while waiting for canary pods (watch events usually come first).
POD_WAIT_REQUEUE_SECONDS = 5.0


class Command(Enum):
    PROMOTE = "promote"
    PROMOTE_FULL = "promote-full"
    ABORT = "abort"
    RETRY = "retry"


Verdict = Literal["Pass", "Fail", "Inconclusive", "Error"]


@dataclass(frozen=True)
class AnalysisGate:
    """The analysis so far. Fail aborts; Inconclusive or Error pauses. With ``required``
    (checks are configured) a timed pause step ends, and the canary promotes, only
    after a round passed (``passed_at``) since the step started; ``retry_in`` is
    when the next round is due."""

    verdict: Verdict = "Pass"
    message: str = ""
    required: bool = False
    passed_at: datetime | None = None
    retry_in: float | None = None


@dataclass(frozen=True)
class RolloutInput:
    spec: ModelDeploymentSpec
    desired: RevisionRef
    stable: RevisionRef | None
    canary: CanaryStatus | None
    stable_track: DeploymentState | None
    canary_track: DeploymentState | None
    now: datetime
    commands: frozenset[Command] = frozenset()
    paused: bool = False
    exact_weights: bool = False
    gpu: GpuNeed | None = None
    analysis: AnalysisGate = AnalysisGate()


@dataclass(frozen=True)
class RolloutPlan:
    stable_revision: RevisionRef
    stable_replicas: int
    canary_revision: RevisionRef | None  # None: no canary Deployment at all
    canary_replicas: int
    weight: int
    canary: CanaryStatus | None
    promoted: RevisionRef | None = None
    aborted: tuple[str, str] | None = None  # (reason, message) while an abort stands
    capacity_problem: str | None = None
    events: list[Event] = field(default_factory=list)
    requeue_after: float | None = None


def _describe(rev: RevisionRef) -> str:
    return f"{rev.model_version} (revision {rev.name})"


def step_text(step: Step) -> str:
    """A step as people read it: ``10%``, ``pause 2m``, ``pause until promote``."""
    if step.set_weight is not None:
        return f"{step.set_weight}%"
    if step.pause is not None and step.pause.duration:
        return f"pause {step.pause.duration}"
    return "pause until promote"


def _track_ready(track: DeploymentState | None, revision: str, replicas: int) -> bool:
    """The track runs ``revision`` at ``replicas`` pods, all available."""
    return (
        track is not None
        and track.revision == revision
        and track.updated
        and track.desired_replicas == replicas
        and track.available_replicas >= replicas
    )


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
                    f"spec is back on stable {_describe(inp.stable)}: canary "
                    f"{_describe(previous.revision)} dropped",
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
                f"new revision {_describe(inp.desired)} replaces canary "
                f"{_describe(previous.revision)}",
            )
        )
    if canary is not None and canary.phase == "Aborted":
        if Command.RETRY not in inp.commands:
            return _aborted(inp, canary, [])
        events.append(
            Event("Normal", Reason.CANARY_RETRIED, f"retrying canary {_describe(inp.desired)}")
        )
        canary = None
    if canary is None:
        canary = _start(inp, events)
    return _Machine(inp, canary, events).run()


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
            f"canary {_describe(inp.desired)} against stable {_describe(inp.stable)}"
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


def _aborted(inp: RolloutInput, canary: CanaryStatus, events: list[Event]) -> RolloutPlan:
    """Traffic stays on stable, the canary at zero, until retry or another revision."""
    assert inp.stable is not None
    held = canary.model_copy(
        update={"weight": 0, "canary_replicas": 0, "stable_replicas": inp.spec.replicas}
    )
    reason = canary.abort_reason or Reason.ABORTED
    return RolloutPlan(
        inp.stable,
        inp.spec.replicas,
        canary.revision,
        0,
        0,
        held,
        aborted=(reason, canary.message),
        events=events,
    )


class _Machine:
    """One pass over the steps from where the canary stands; ``run`` returns the plan."""

    def __init__(self, inp: RolloutInput, canary: CanaryStatus, events: list[Event]) -> None:
        self.inp = inp
        self.c = canary
        self.events = events
        self.stamp = rfc3339(inp.now)
        self.steps = inp.spec.rollout.steps or []
        self.mode = canary.capacity or "surge"
        self.promote = Command.PROMOTE in inp.commands

    # -- helpers ---------------------------------------------------------------------

    def _split(self, weight: int) -> Split:
        return split(self.inp.spec.replicas, weight, self.mode, self.inp.exact_weights)

    def _reached(self) -> Split:
        """Pods per track for the last setWeight step already passed (or the start)."""
        weights = [s.set_weight for s in self.steps[: self.c.step] if s.set_weight is not None]
        return self._split(weights[-1] if weights else 0)

    def _awaiting_analysis(self) -> bool:
        """No analysis round has passed since the current step started (says so)."""
        a = self.inp.analysis
        if not a.required or (a.passed_at and a.passed_at >= parse_time(self.c.step_started_at)):
            return False
        self._update(message="waiting for a passing analysis round", last_progress_at=self.stamp)
        return True

    def _update(self, **changes: Any) -> None:
        self.c = self.c.model_copy(update=changes)

    def _plan(self, sp: Split, weight: int, requeue: float | None = None) -> RolloutPlan:
        self._update(stable_replicas=sp.stable, canary_replicas=sp.canary, weight=weight)
        canary_short = self.c.capacity_note and not _track_ready(
            self.inp.canary_track, self.c.revision.name, sp.canary
        )
        assert self.inp.stable is not None
        return RolloutPlan(
            self.inp.stable,
            sp.stable,
            self.c.revision,
            sp.canary,
            weight,
            self.c,
            capacity_problem=self.c.capacity_note if canary_short else None,
            events=self.events,
            requeue_after=requeue,
        )

    def _advance_step(self) -> None:
        self._update(
            step=self.c.step + 1,
            step_started_at=self.stamp,
            last_progress_at=self.stamp,
            phase="Progressing",
            pause_reason=None,
        )

    def _abort(self, reason: str, message: str) -> RolloutPlan:
        self._update(phase="Aborted", abort_reason=reason, message=message)
        self.events.append(Event("Warning", reason, message))
        return _aborted(self.inp, self.c, self.events)

    # -- the machine ---------------------------------------------------------------------

    def run(self) -> RolloutPlan:
        inp, c = self.inp, self.c
        what = f"canary {_describe(c.revision)}"
        if Command.ABORT in inp.commands:
            return self._abort(Reason.ABORTED, f"{what} aborted by a manual command")
        if inp.analysis.verdict == "Fail":
            return self._abort(Reason.ANALYSIS_FAILED, f"{what}: {inp.analysis.message}")
        deadline = parse_duration(inp.spec.rollout.progress_deadline)
        idle = (inp.now - parse_time(c.last_progress_at)).total_seconds()
        in_pause = c.step < len(self.steps) and self.steps[c.step].pause is not None
        if c.phase != "Paused" and not in_pause and idle > deadline:  # pausing is not stuck
            return self._abort(
                Reason.PROGRESS_DEADLINE_EXCEEDED,
                f"{what} made no progress for {inp.spec.rollout.progress_deadline} ({c.message})",
            )
        if inp.paused and c.phase != "Promoting":
            if c.pause_reason != "Manual":
                self.events.append(
                    Event("Normal", Reason.CANARY_PAUSED, f"{what} paused by a manual command")
                )
            self._update(
                phase="Paused", pause_reason="Manual", message="paused by a manual command"
            )
            return self._plan(self._reached(), c.weight)
        if c.pause_reason == "Manual":
            # Resumed: a timed pause starts over, and the deadline counts from now.
            self.events.append(Event("Normal", Reason.CANARY_RESUMED, f"{what} resumed"))
            self._update(
                phase="Progressing",
                pause_reason=None,
                step_started_at=self.stamp,
                last_progress_at=self.stamp,
                message="resumed",
            )
        held = inp.analysis.verdict in ("Inconclusive", "Error")
        if held and c.phase != "Promoting" and not self.promote:
            if self.c.pause_reason != "Analysis":
                self.events.append(
                    Event(
                        "Warning", Reason.ANALYSIS_INCONCLUSIVE, f"{what}: {inp.analysis.message}"
                    )
                )
            self._update(
                phase="Paused", pause_reason="Analysis", message=f"analysis: {inp.analysis.message}"
            )
            return self._plan(self._reached(), self.c.weight)
        if self.c.pause_reason == "Analysis":
            self._update(phase="Progressing", pause_reason=None, last_progress_at=self.stamp)
        if Command.PROMOTE_FULL in inp.commands and c.phase != "Promoting":
            self.events.append(
                Event(
                    "Normal",
                    Reason.PROMOTED_FULL,
                    f"{what}: promote --full skips the remaining steps",
                )
            )
            self._update(phase="Promoting", last_progress_at=self.stamp)
        while self.c.phase != "Promoting" and self.c.step < len(self.steps):
            waiting = self._step()
            if waiting is not None:
                return waiting
        if self.c.phase != "Promoting":
            if not self.steps:
                sp = self._split(0)
                # Measured canaries take their pods' share of traffic, even on a router
                # with exact weights; unmeasured ones need none before promotion.
                share = round(100 * sp.canary / (sp.stable + sp.canary))
                weight = share if inp.analysis.required or not inp.exact_weights else 0
                if not _track_ready(inp.canary_track, c.revision.name, sp.canary):
                    self._update(message=f"waiting for {sp.canary} canary pod(s) to be ready")
                    return self._plan(
                        sp, sp.weight if not inp.exact_weights else 0, POD_WAIT_REQUEUE_SECONDS
                    )
                if self._awaiting_analysis():
                    return self._plan(sp, weight, self.inp.analysis.retry_in)
            elif self.c.weight > 0 and self._awaiting_analysis():
                return self._plan(self._reached(), self.c.weight, self.inp.analysis.retry_in)
            self.events.append(
                Event("Normal", Reason.PROMOTING, f"{what} passed every step; promoting")
            )
            self._update(phase="Promoting", last_progress_at=self.stamp)
        return self._promoting()

    def _step(self) -> RolloutPlan | None:
        """Pass the current step if it is done; else the plan that waits for it."""
        step = self.steps[self.c.step]
        n = f"step {self.c.step + 1}/{len(self.steps)}"
        if self.promote:
            self.promote = False
            self.events.append(
                Event(
                    "Normal", Reason.PROMOTED, f"{n} ({step_text(step)}) passed by a manual promote"
                )
            )
            if step.set_weight is not None:
                self._update(weight=self._split(step.set_weight).weight)
            self._advance_step()
            return None
        if step.set_weight is not None:
            sp = self._split(step.set_weight)
            if _track_ready(self.inp.canary_track, self.c.revision.name, sp.canary):
                if sp.weight != self.c.weight:
                    self.events.append(
                        Event(
                            "Normal",
                            Reason.CANARY_WEIGHT,
                            f"canary at {sp.weight}% ({n}): {sp.stable} stable, "
                            f"{sp.canary} canary pod(s)",
                        )
                    )
                self._update(weight=sp.weight)
                self._advance_step()
                return None
            self._update(
                message=f"{n}: waiting for {sp.canary} canary pod(s) before {step.set_weight}%"
            )
            return self._plan(sp, self.c.weight, POD_WAIT_REQUEUE_SECONDS)
        assert step.pause is not None
        if step.pause.duration:
            ends = parse_time(self.c.step_started_at) + timedelta(
                seconds=parse_duration(step.pause.duration)
            )
            # Nothing can be measured at weight 0: analysis does not hold such a pause.
            if self.inp.now >= ends and (self.c.weight <= 0 or not self._awaiting_analysis()):
                self._advance_step()
                return None
            if self.inp.now >= ends:
                return self._plan(self._reached(), self.c.weight, self.inp.analysis.retry_in)
            self._update(message=f"{n}: paused until {rfc3339(ends)}", last_progress_at=self.stamp)
            return self._plan(self._reached(), self.c.weight, (ends - self.inp.now).total_seconds())
        if self.c.pause_reason != "Step":
            self.events.append(Event("Normal", Reason.CANARY_PAUSED, f"{n}: paused until promote"))
        self._update(phase="Paused", pause_reason="Step", message=f"{n}: paused until promote")
        return self._plan(self._reached(), self.c.weight)

    def _promoting(self) -> RolloutPlan:
        inp, c = self.inp, self.c
        replicas = inp.spec.replicas
        stable_target = replicas if self.mode == "surge" else max(replicas - c.canary_replicas, 0)
        if _track_ready(inp.stable_track, c.revision.name, stable_target):
            self.events.append(
                Event(
                    "Normal", Reason.PROMOTED, f"{_describe(c.revision)} promoted: stable serves it"
                )
            )
            return RolloutPlan(
                c.revision, replicas, None, 0, 0, None, promoted=c.revision, events=self.events
            )
        self._update(
            message=f"promoting: stable rolling to {_describe(c.revision)}",
            stable_replicas=stable_target,
        )
        return RolloutPlan(
            c.revision,
            stable_target,
            c.revision,
            c.canary_replicas,
            c.weight,
            self.c,
            events=self.events,
            requeue_after=POD_WAIT_REQUEUE_SECONDS,
        )
