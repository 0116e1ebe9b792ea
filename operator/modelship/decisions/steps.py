"""Walking a started canary through ``spec.rollout.steps`` to promotion (pure).

``decide_rollout`` (in ``decisions/rollout.py``) decides whether a canary runs at all
and starts it; ``CanaryPass`` takes it from where it stands: abort, pause, hold for
analysis, pass the steps that are done, wait on the first that is not, promote.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from modelship.api.deployment import Step
from modelship.api.status import CanaryStatus, RevisionRef
from modelship.api.types import parse_duration
from modelship.conditions import Reason, parse_time, rfc3339
from modelship.decisions.replicas import Split, split
from modelship.decisions.rollout_types import Command, RolloutInput, RolloutPlan
from modelship.kernel.plan import Event
from modelship.observed import DeploymentState

# How often to look again while waiting for canary pods (watch events usually come first).
POD_WAIT_REQUEUE_SECONDS = 5.0


def describe(rev: RevisionRef) -> str:
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


def aborted_plan(inp: RolloutInput, canary: CanaryStatus, events: list[Event]) -> RolloutPlan:
    """Traffic back on stable until retry or another revision, and never onto a stable
    that cannot take it: under ``swap`` stable was shrunk while the canary grew, so the
    canary keeps the share of traffic stable's missing pods would serve and hands it over
    as they become available (Argo Rollouts' dynamicStableScale). Once its weight is 0
    (at once under ``surge``; ``abortedAt`` records when), the canary keeps its pods for
    spec.rollout.scaleDownDelay, so requests a gateway had already sent it finish, and
    is then scaled to zero."""
    assert inp.stable is not None
    replicas = inp.spec.replicas
    weight = _uncovered_share(inp, canary) if canary.aborted_at is None else 0
    aborted_at = canary.aborted_at or (None if weight else rfc3339(inp.now))
    requeue: float | None
    if aborted_at is None:
        keep, requeue = canary.canary_replicas, POD_WAIT_REQUEUE_SECONDS
    else:
        delay = timedelta(seconds=parse_duration(inp.spec.rollout.scale_down_delay))
        ends = parse_time(aborted_at) + delay
        keep = canary.canary_replicas if inp.now < ends else 0
        requeue = (ends - inp.now).total_seconds() if keep else None
    held = canary.model_copy(
        update={
            "weight": weight,
            "canary_replicas": keep,
            "stable_replicas": replicas,
            "aborted_at": aborted_at,
        }
    )
    reason = canary.abort_reason or Reason.ABORTED
    return RolloutPlan(
        inp.stable,
        replicas,
        canary.revision,
        keep,
        weight,
        held,
        aborted=(reason, canary.message),
        events=events,
        requeue_after=requeue,
    )


def _uncovered_share(inp: RolloutInput, canary: CanaryStatus) -> int:
    """The canary's weight while stable grows back: the share of ``replicas`` that
    stable does not have available yet, never more than the canary had (0 under surge,
    where stable was never shrunk, and with replica ratio, where pods split the traffic
    by themselves)."""
    if canary.capacity != "swap" or not inp.exact_weights or canary.weight <= 0:
        return 0
    assert inp.stable is not None
    track = inp.stable_track
    ready = track.available_replicas if track and track.revision == inp.stable.name else 0
    replicas = inp.spec.replicas
    missing = max(replicas - ready, 0)
    return min(canary.weight, round(100 * missing / replicas)) if replicas else 0


class CanaryPass:
    """One pass over the steps from where the canary stands; ``run`` returns the plan."""

    def __init__(self, inp: RolloutInput, canary: CanaryStatus, events: list[Event]) -> None:
        self.inp = inp
        self.c = canary
        # As this pass found it: some guards read the phase it came in with, not the
        # one an earlier gate of the same pass has just set.
        self.found = canary
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
        self._update(phase="Aborted", abort_reason=reason, message=message, aborted_at=None)
        self.events.append(Event("Warning", reason, message))
        return aborted_plan(self.inp, self.c, self.events)

    # -- the machine ---------------------------------------------------------------------

    def run(self) -> RolloutPlan:
        """The plan of one pass (``_pass``), and when the progress deadline would run out
        if nothing else brings the canary back before (no polling while it waits)."""
        plan = self._pass()
        c = plan.canary
        in_pause = c is not None and c.step < len(self.steps) and self.steps[c.step].pause
        if c is None or c.phase != "Progressing" or in_pause:
            return plan
        ends = parse_time(c.last_progress_at) + timedelta(
            seconds=parse_duration(self.inp.spec.rollout.progress_deadline)
        )
        left = max(1.0, (ends - self.inp.now).total_seconds() + 1)
        return replace(plan, requeue_after=min(plan.requeue_after or left, left))

    def _pass(self) -> RolloutPlan:
        """Abort, pause or hold if due, else walk the steps and promote.

        Each gate may change the canary before the next one looks (a resume restarts
        the step's clock); the first that answers decides the plan.
        """
        what = f"canary {describe(self.found.revision)}"
        if (stopped := self._abort_if_due(what)) is not None:
            return stopped
        if (paused := self._manual_pause(what)) is not None:
            return paused
        if (held := self._analysis_hold(what)) is not None:
            return held
        self._promote_full(what)
        while self.c.phase != "Promoting" and self.c.step < len(self.steps):
            waiting = self._step()
            if waiting is not None:
                return waiting
        if self.c.phase != "Promoting" and (waiting := self._start_promotion(what)) is not None:
            return waiting
        return self._promoting()

    def _abort_if_due(self, what: str) -> RolloutPlan | None:
        """Abort on a manual command, a failed analysis, or no progress for too long.

        A pause is waiting, not being stuck: the deadline does not run out during one.
        """
        inp, c = self.inp, self.found
        if Command.ABORT in inp.commands:
            return self._abort(Reason.ABORTED, f"{what} aborted by a manual command")
        if inp.analysis.verdict == "Fail":
            return self._abort(Reason.ANALYSIS_FAILED, f"{what}: {inp.analysis.message}")
        deadline = parse_duration(inp.spec.rollout.progress_deadline)
        idle = (inp.now - parse_time(c.last_progress_at)).total_seconds()
        in_pause = c.step < len(self.steps) and self.steps[c.step].pause is not None
        if c.phase != "Paused" and not in_pause and idle > deadline:
            return self._abort(
                Reason.PROGRESS_DEADLINE_EXCEEDED,
                f"{what} made no progress for {inp.spec.rollout.progress_deadline} ({c.message})",
            )
        return None

    def _manual_pause(self, what: str) -> RolloutPlan | None:
        """Hold where the canary stands while paused by hand; on resume, start the step over.

        A promotion under way is not paused: stable is already taking the canary's
        revision. On resume a timed pause starts over, and the deadline counts from now.
        """
        c = self.found
        if self.inp.paused and c.phase != "Promoting":
            if c.pause_reason != "Manual":
                self.events.append(
                    Event("Normal", Reason.CANARY_PAUSED, f"{what} paused by a manual command")
                )
            self._update(
                phase="Paused", pause_reason="Manual", message="paused by a manual command"
            )
            return self._plan(self._reached(), c.weight)
        if c.pause_reason == "Manual":
            self.events.append(Event("Normal", Reason.CANARY_RESUMED, f"{what} resumed"))
            self._update(
                phase="Progressing",
                pause_reason=None,
                step_started_at=self.stamp,
                last_progress_at=self.stamp,
                message="resumed",
            )
        return None

    def _analysis_hold(self, what: str) -> RolloutPlan | None:
        """Pause while analysis is inconclusive or erring; go on once it is not.

        A manual promote overrides the hold, and a promotion under way is not held. The
        phase checked is the one the canary came in with, not the one a resume just set.
        """
        held = self.inp.analysis.verdict in ("Inconclusive", "Error")
        if held and self.found.phase != "Promoting" and not self.promote:
            if self.c.pause_reason != "Analysis":
                self.events.append(
                    Event(
                        "Warning",
                        Reason.ANALYSIS_INCONCLUSIVE,
                        f"{what}: {self.inp.analysis.message}",
                    )
                )
            self._update(
                phase="Paused",
                pause_reason="Analysis",
                message=f"analysis: {self.inp.analysis.message}",
            )
            return self._plan(self._reached(), self.c.weight)
        if self.c.pause_reason == "Analysis":
            self._update(phase="Progressing", pause_reason=None, last_progress_at=self.stamp)
        return None

    def _promote_full(self, what: str) -> None:
        """``promote --full``: skip the remaining steps (told once, not while promoting)."""
        if Command.PROMOTE_FULL in self.inp.commands and self.found.phase != "Promoting":
            self.events.append(
                Event(
                    "Normal",
                    Reason.PROMOTED_FULL,
                    f"{what}: promote --full skips the remaining steps",
                )
            )
            self._update(phase="Promoting", last_progress_at=self.stamp)

    def _start_promotion(self, what: str) -> RolloutPlan | None:
        """Every step passed: start promoting, unless pods or a passing round are missing.

        Without steps nothing has waited for the canary's pods yet, so this does. After
        steps, a canary that never took traffic had nothing measured: analysis holds its
        promotion only when its weight is above zero.
        """
        inp = self.inp
        if not self.steps:
            sp = self._split(0)
            # Measured canaries take their pods' share of traffic, even on a router
            # with exact weights; unmeasured ones need none before promotion.
            pods = sp.stable + sp.canary
            share = round(100 * sp.canary / pods) if pods else 0  # replicas: 0 serves nothing
            weight = share if inp.analysis.required or not inp.exact_weights else 0
            if not _track_ready(inp.canary_track, self.c.revision.name, sp.canary):
                self._update(message=f"waiting for {sp.canary} canary pod(s) to be ready")
                return self._plan(
                    sp, sp.weight if not inp.exact_weights else 0, POD_WAIT_REQUEUE_SECONDS
                )
            if self._awaiting_analysis():
                return self._plan(sp, weight, inp.analysis.retry_in)
        elif self.c.weight > 0 and self._awaiting_analysis():
            return self._plan(self._reached(), self.c.weight, inp.analysis.retry_in)
        self.events.append(
            Event("Normal", Reason.PROMOTING, f"{what} passed every step; promoting")
        )
        self._update(phase="Promoting", last_progress_at=self.stamp)
        return None

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
            return self._weight_step(step.set_weight, n)
        return self._pause_step(step, n)

    def _weight_step(self, percent: int, n: str) -> RolloutPlan | None:
        """Traffic moves only once the canary has the pods for it; until then the old
        weight stays and the canary scales up."""
        sp = self._split(percent)
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
        self._update(message=f"{n}: waiting for {sp.canary} canary pod(s) before {percent}%")
        return self._plan(sp, self.c.weight, POD_WAIT_REQUEUE_SECONDS)

    def _pause_step(self, step: Step, n: str) -> RolloutPlan | None:
        """A timed pause ends on time (and, with analysis, after a passing round); one
        without a duration waits for a manual promote."""
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
                    "Normal", Reason.PROMOTED, f"{describe(c.revision)} promoted: stable serves it"
                )
            )
            return RolloutPlan(
                c.revision, replicas, None, 0, 0, None, promoted=c.revision, events=self.events
            )
        self._update(
            message=f"promoting: stable rolling to {describe(c.revision)}",
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
