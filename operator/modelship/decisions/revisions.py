"""Which revision each track serves (pure): the spec's, an undo target's, or an
autoDeployed retrained model's, and the stable one, from the stored revisions.

Revisions are stored as ControllerRevisions (render/controller_revision.py), by hash;
observe reads the ones ``needed`` names, this module chooses among them and says which new one
to store. A revision is stored once and keeps the number it was given (create, never
apply), so a restart between storing and recording it gives the same number.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from modelship.api import ModelDeploymentSpec, ModelDeploymentStatus
from modelship.api.status import CanaryStatus, RetrainingStatus, RevisionRef, UndoTarget
from modelship.conditions import Reason
from modelship.decisions.commands import Requested
from modelship.decisions.history import find
from modelship.decisions.retraining import current_deploy
from modelship.kernel.plan import Event
from modelship.render.controller_revision import controller_revision, served_spec
from modelship.render.labels import Owner
from modelship.revision_hash import revision_ref

Obj = dict[str, Any]
Stored = Mapping[str, Obj]  # revision hash -> its ControllerRevision (owned by this object)


@dataclass(frozen=True)
class Revisions:
    desired_spec: ModelDeploymentSpec  # what the newest revision serves
    desired: RevisionRef  # numbered
    undo: UndoTarget | None  # the manual rollback in force
    stable_spec: ModelDeploymentSpec | None
    stable: RevisionRef | None  # None: nothing rolled out yet (or its revision was lost)
    store: Obj | None = None  # a ControllerRevision to create now
    events: list[Event] = field(default_factory=list)
    repaired: str | None = None  # what status said that was not true, and what is used
    derived: bool = False  # the stable revision came from the live stable Deployment

    def starting(self, canary: CanaryStatus | None) -> bool:
        """A canary starts now: desired differs from stable and no canary of it runs."""
        return (
            self.stable is not None
            and self.desired.name != self.stable.name
            and (canary is None or canary.revision.name != self.desired.name)
        )

    def specs(self) -> dict[str, ModelDeploymentSpec]:
        """Served spec per revision hash."""
        out = {self.desired.name: self.desired_spec}
        if self.stable is not None and self.stable_spec is not None:
            out[self.stable.name] = self.stable_spec
        return out


def retrained_spec(
    spec: ModelDeploymentSpec, status: RetrainingStatus | None, spec_revision: str
) -> ModelDeploymentSpec | None:
    """The spec serving an autoDeployed retrained model, while the spec's own revision is
    the one it was deployed against (GitOps wins at its next change)."""
    deployed = current_deploy(status, spec_revision) if status else None
    if deployed is None:
        return None
    model = spec.model.model_copy(
        update={"version": deployed.model_version, "uri": deployed.model_uri, "digest": None}
    )
    return spec.model_copy(update={"model": model})


def needed(
    spec: ModelDeploymentSpec, previous: ModelDeploymentStatus, asked: Requested
) -> set[str]:
    """The revision hashes ``choose`` may look up: observe reads these."""
    spec_revision = revision_ref(spec).name
    names = {spec_revision}
    if previous.stable_revision is not None:
        names.add(previous.stable_revision.name)
    if previous.undo is not None:
        names.add(previous.undo.revision.name)
    if asked.undo is not None and (entry := find(previous.history, asked.undo)) is not None:
        names.add(entry.revision)
    retrained = retrained_spec(spec, previous.retraining, spec_revision)
    if retrained is not None:
        names.add(revision_ref(retrained).name)
    return names


def _undo(
    spec: ModelDeploymentSpec,
    previous: ModelDeploymentStatus,
    asked: Requested,
    stored: Stored,
    spec_ref: RevisionRef,
    events: list[Event],
) -> UndoTarget | None:
    """The undo in force after this reconcile's commands (an Event for each new one)."""
    undo = previous.undo
    if asked.undo is not None:
        entry = find(previous.history, asked.undo)
        kept = stored.get(entry.revision) if entry else None
        if entry is None or kept is None:
            text = f"revision {asked.undo} is not in status.history"
            events.append(Event("Warning", Reason.UNDO_FAILED, text))
        else:
            ref = revision_ref(served_spec(spec, kept)).model_copy(update={"number": entry.number})
            undo = UndoTarget(revision=ref, number=entry.number, spec_revision=spec_ref.name)
            text = f"rolling back to revision {entry.number} ({entry.model_version})"
            events.append(Event("Normal", Reason.UNDO, text))
    if asked.undo_invalid is not None:
        text = f"modelship.io/undo={asked.undo_invalid!r}: expected a revision number"
        events.append(Event("Warning", Reason.UNDO_FAILED, text))
    return undo


def choose(
    owner: Owner,
    spec: ModelDeploymentSpec,
    previous: ModelDeploymentStatus,
    asked: Requested,
    stored: Stored,
    live_stable: str | None = None,
) -> Revisions:
    """``live_stable``: the revision the stable Deployment runs (its label), the truth
    when status has no readable stable revision (status is a cache of what we saw)."""
    events: list[Event] = []
    spec_ref = revision_ref(spec)
    undo = _undo(spec, previous, asked, stored, spec_ref, events)
    desired_spec, desired = spec, spec_ref
    if undo is not None and undo.spec_revision == spec_ref.name and undo.revision.name in stored:
        desired_spec, desired = served_spec(spec, stored[undo.revision.name]), undo.revision
    else:
        undo = None  # none asked for, or the spec changed since: the spec wins
        retrained = retrained_spec(spec, previous.retraining, spec_ref.name)
        if retrained is not None:
            desired_spec, desired = retrained, revision_ref(retrained)
    store = None
    kept = stored.get(desired.name)
    if kept is None:
        number = previous.revision_count + 1
        store = controller_revision(owner, desired_spec, desired.name, number)
    else:
        number = int(kept.get("revision", 0))
    desired = desired.model_copy(update={"number": number})
    stable_spec, stable, repaired = _stable(
        spec, previous, stored, desired, desired_spec, live_stable, events
    )
    derived = stable is not None and stable is not previous.stable_revision
    if repaired and previous.stable_revision is None and not _lost(previous):
        # The spec changed before the first rollout was recorded: the revision already
        # serving is the stable one (the new one goes through a canary), nothing was lost.
        repaired = None
    return Revisions(
        desired_spec, desired, undo, stable_spec, stable, store, events, repaired, derived
    )


def _lost(status: ModelDeploymentStatus) -> bool:
    """Status that has lost what every reconcile writes (emptied, or never written)."""
    return status.observed_generation is None and status.revision_count == 0


def _stable(
    spec: ModelDeploymentSpec,
    previous: ModelDeploymentStatus,
    stored: Stored,
    desired: RevisionRef,
    desired_spec: ModelDeploymentSpec,
    live_stable: str | None,
    events: list[Event],
) -> tuple[ModelDeploymentSpec | None, RevisionRef | None, str | None]:
    """The stable revision: status's, when it names one we know; else what the stable
    Deployment runs (status lost, or naming a revision never stored): a status that lost
    its canary must not turn the canary's revision into the stable one untested."""
    stable = previous.stable_revision
    if stable is not None and stable.name == desired.name:
        return desired_spec, stable, None
    if stable is not None and stable.name in stored:
        return served_spec(spec, stored[stable.name]), stable, None
    said = f"status.stableRevision {stable.name}" if stable else "status without a stable revision"
    if live_stable is not None and live_stable in stored:
        kept = stored[live_stable]
        found = served_spec(spec, kept)
        ref = revision_ref(found).model_copy(update={"number": int(kept.get("revision", 0))})
        why = (
            f"{said}, but the stable Deployment runs revision {ref.number} "
            f"({ref.model_version}, {ref.name}): that is the stable revision"
        )
        if live_stable != desired.name:
            why += f"; {desired.model_version} goes through a canary from its first step"
        return found, ref, why
    if live_stable is not None and live_stable == desired.name:
        if stable is None:
            return None, None, None  # the first rollout, under way: nothing to repair
        return desired_spec, desired, f"{said}; the stable Deployment runs the spec's revision"
    if live_stable is not None:
        # The stable Deployment runs a revision whose stored spec is gone (deleted, or
        # never stored): it is kept as it runs, untouched, and the spec's revision goes
        # through a canary next to it.
        ours = stable is not None and stable.name == live_stable
        ref = stable if stable and ours else RevisionRef(name=live_stable, model_version="?")
        why = (
            f"{said}; no stored spec for revision {live_stable}, which the stable "
            f"Deployment runs: it is kept as it runs, and {desired.model_version} goes "
            "through a canary"
        )
        events.append(Event("Warning", Reason.STABLE_REVISION_MISSING, why))
        return None, ref, why
    if stable is None:
        return None, None, None  # nothing rolled out yet: the first deployment
    # written by an older operator, or deleted, and nothing runs: start over from spec
    text = (
        f"no stored spec for stable revision {stable.name}; deploying the spec's revision directly"
    )
    events.append(Event("Warning", Reason.STABLE_REVISION_MISSING, text))
    return None, None, None
