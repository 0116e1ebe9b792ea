"""The one executor: carries out any controller's Plan against the API server.

Order: the plan's actions as listed (apply, create-once, delete, a Git commit), then pruning (the
observed children of the plan's prune kinds that it no longer holds), then Events
(named after what was observed, so a repeat is a no-op), then the status. Status is
written in a deferred step: when anything before it fails, the object's status as
observed is written back with a ``Reconciled=False`` condition saying what failed and
when (cluster-api patches status in a deferred function for the same reason), and the
error goes on to the work queue's backoff. Decided state is
recorded only once its actions are done, so a half-executed plan is never taken for a
done one; the next reconcile re-derives it from the cluster.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Final, Protocol

from modelship.api.status import Condition
from modelship.cache import ChildCache
from modelship.conditions import rfc3339, set_condition
from modelship.errors import AlreadyExistsError, TransientError
from modelship.kernel.plan import (
    Apply,
    Commit,
    CreateOnce,
    Delete,
    Event,
    Obj,
    ObjectRef,
    Plan,
    Target,
)
from modelship.kube import Kube
from modelship.render.labels import APPLIED_HASH

log = logging.getLogger(__name__)

RECONCILED: Final = "Reconciled"
RECONCILE_FAILED: Final = "ReconcileFailed"
RECONCILE_SUCCEEDED: Final = "ReconcileSucceeded"

# Called before every write the executor makes, with what it is about to do: the chaos
# tests stop the process at the Nth write through it.
WriteHook = Callable[[str], None]


class TargetWrites(Protocol):
    """Told of every write of a reconciled object itself (its status): before it, and
    with the API server's answer (observe/watched.py: when the watched object includes
    this process's last write, a reconcile need not read it again)."""

    def writing(self, ref: ObjectRef) -> None: ...

    def written(self, ref: ObjectRef, answer: Obj) -> None: ...


class NoTargetWrites:
    def writing(self, ref: ObjectRef) -> None:
        pass

    def written(self, ref: ObjectRef, answer: Obj) -> None:
        pass


class GitWriter(Protocol):
    """Makes a plan's Commit (modelship.gitops.GitRepos); returns its SHA."""

    def commit(self, action: Commit) -> str: ...


class NoGit:
    """The writer of an executor given none: a plan that commits is a wiring mistake."""

    def commit(self, action: Commit) -> str:
        raise TransientError(f"this operator cannot commit to {action.remote}: no Git writer")


def _hash(obj: Mapping[str, Any] | None) -> str | None:
    notes = ((obj or {}).get("metadata") or {}).get("annotations") or {}
    value = notes.get(APPLIED_HASH)
    return str(value) if value is not None else None


def owned_by(obj: Mapping[str, Any], uid: str) -> bool:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return any(ref.get("uid") == uid for ref in refs)


class Executor:
    def __init__(
        self,
        kube: Kube,
        cache: ChildCache | None = None,
        before_write: WriteHook | None = None,
        git: GitWriter | None = None,
        target_writes: TargetWrites | None = None,
    ) -> None:
        self.kube = kube
        self.cache = cache
        self.before_write = before_write
        self.git = git or NoGit()
        self.target_writes = target_writes or NoTargetWrites()

    def _write(self, what: str) -> None:
        if self.before_write is not None:
            self.before_write(what)

    # ----- actions ------------------------------------------------------------------------

    def act(self, target: Target, children: Mapping[ObjectRef, Obj], plan: Plan) -> None:
        """The actions, then pruning. Raises what the API server answered."""
        for action in plan.actions:
            if isinstance(action, Apply):
                observed = None if action.drifted else children.get(action.ref)
                if action.drifted:
                    log.info("%s: %s was changed by hand; restoring it", target.ref, action.ref)
                self._apply(action.obj, observed, action.field_manager)
            elif isinstance(action, CreateOnce):
                self._create_once(action.owner_uid or target.uid, action.obj)
            elif isinstance(action, Delete):
                self._delete(action.ref)
            elif isinstance(action, Commit):
                self._write(f"commit {action.path} for {action.about} to {action.remote}")
                self.git.commit(action)
            # Keep: nothing to do; it only spares the child from pruning below.
        for ref in plan.pruned(children):
            if owned_by(children[ref], target.uid):
                log.info("%s: deleting %s, which the plan no longer holds", target.ref, ref)
                self._delete(ref)

    def _apply(self, obj: Obj, observed: Obj | None, manager: str | None) -> None:
        if observed is not None and _hash(observed) is not None and _hash(observed) == _hash(obj):
            return  # the live object is what we rendered: the apply could change nothing
        self._write(f"apply {ObjectRef.of(obj)}")
        live = self.kube.apply(obj, manager) if manager else self.kube.apply(obj)
        if manager:
            return  # not a child: nothing of it is cached
        if self.cache is not None:
            self.cache.put(live)

    def _create_once(self, owner_uid: str, obj: Obj) -> None:
        ref = ObjectRef.of(obj)
        self._write(f"create {ref}")
        try:
            live = self.kube.create(obj)
        except AlreadyExistsError:
            found = self.kube.get(ref.api_version, ref.kind, ref.namespace, ref.name)
            if found is not None and owned_by(found, owner_uid):
                return  # created by a run that stopped before recording it: the same one
            raise TransientError(f"{ref} exists and belongs to another object") from None
        if self.cache is not None:
            self.cache.put(live)

    def _delete(self, ref: ObjectRef) -> None:
        self._write(f"delete {ref}")
        self.kube.delete(ref.api_version, ref.kind, ref.namespace, ref.name)
        if self.cache is not None:
            self.cache.delete(
                {"kind": ref.kind, "metadata": {"namespace": ref.namespace, "name": ref.name}}
            )

    # ----- status and Events --------------------------------------------------------------

    def finish(self, target: Target, plan: Plan, now: datetime) -> bool:
        """Write the plan's Events, then its status (when it changed); True if written.

        Events first: a run stopped between the two writes leaves the status as observed,
        so the next run decides the same transition and tells it again, under the same
        Event name (derived from what was observed), which is then a no-op. Written in the
        other order a stop lost the Event for good: the next run saw no transition."""
        for event in plan.events:
            self._write(f"event {event.reason} on {target.ref}")
            self.kube.record_event(
                dict(target.obj),
                event.type,
                event.reason,
                event.message,
                now,
                name=event_name(target, event),
            )
        written = False
        if plan.status is not None:
            status = _recovered(target, plan.status, now)
            if status != dict(target.status):
                body = merge_body(status, target.status)
                self._patch_status(target, body, f"status of {target.ref}")
                written = True
        return written

    def _patch_status(self, target: Target, status: Mapping[str, Any], what: str) -> None:
        ref = target.ref
        self.target_writes.writing(ref)
        self._write(what)
        answer = self.kube.patch_status(
            ref.api_version, ref.kind, ref.namespace, ref.name, dict(status)
        )
        self.target_writes.written(ref, answer)

    def report_error(self, target: Target, error: Exception, now: datetime) -> None:
        """The deferred status write after a failure: the observed status, plus
        ``Reconciled=False`` with the error and the time. Never raises: the caller
        re-raises the original error for the backoff."""
        message = f"{type(error).__name__} at {rfc3339(now)}: {error}"[:2000]
        conditions = _conditions(target.status)
        conditions = set_condition(
            conditions, RECONCILED, "False", RECONCILE_FAILED, message, target.generation, now
        )
        status = {**dict(target.status), "conditions": _dump(conditions)}
        try:
            self._patch_status(target, status, f"error status of {target.ref}")
        except Exception as exc:  # the API server may be what failed
            log.warning("%s: could not record the error in status: %s", target.ref, exc)


def merge_body(new: Mapping[str, Any], old: Mapping[str, Any]) -> dict[str, Any]:
    """``new`` as a JSON merge patch over ``old``: a key ``old`` has and ``new`` lacks is
    sent as null, at any depth, so the stored status is the plan's and nothing of the old
    one lingers (a merge patch keeps what it does not name: a soak's remaining time on a
    finished promotion, or the last run's finish time in the next run's evidence). Lists
    are replaced whole by a merge patch and need nothing."""
    body: dict[str, Any] = dict(new)
    for key, value in old.items():
        if key not in new:
            body[key] = None
        elif isinstance(value, Mapping) and isinstance(new[key], Mapping):
            body[key] = merge_body(new[key], value)
    return body


def event_name(target: Target, event: Event) -> str:
    """The same for the same Event decided from the same observed object (its uid and
    resourceVersion): a repeat after a stop is the same Event, a later one another."""
    version = (target.obj.get("metadata") or {}).get("resourceVersion", "")
    key = "\0".join((target.uid, str(version), event.type, event.reason, event.message))
    return f"{target.ref.name}.{hashlib.sha256(key.encode()).hexdigest()[:16]}"


def _conditions(status: Mapping[str, Any]) -> list[Condition]:
    out = []
    for raw in status.get("conditions") or []:
        try:
            out.append(Condition.model_validate(raw))
        except ValueError:
            continue  # unreadable: dropped rather than failing every reconcile
    return out


def _dump(conditions: list[Condition]) -> list[dict[str, Any]]:
    return [c.model_dump(mode="json", by_alias=True, exclude_none=True) for c in conditions]


def _recovered(target: Target, status: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """``status`` with a Reconciled=False left by an earlier failure turned True (a
    plan that does not manage conditions itself keeps the observed ones)."""
    out = dict(status)
    conditions = _conditions(out if "conditions" in out else target.status)
    failed = next((c for c in conditions if c.type == RECONCILED and c.status == "False"), None)
    if failed is None:
        return out
    message = f"reconciled again after: {failed.message}"[:2000]
    conditions = set_condition(
        conditions, RECONCILED, "True", RECONCILE_SUCCEEDED, message, target.generation, now
    )
    out["conditions"] = _dump(conditions)
    return out
