"""What one reconcile wants done, as data: the kernel's ``Plan`` (pure).

Every controller is the same four steps (docs/architecture.md): ``observe`` returns one
typed snapshot, ``decide(snapshot, now)`` returns one ``Plan``, the one executor
(kernel/executor.py) carries it out. A plan is a list of typed actions on child
objects, the status the object should have afterwards, the Events to record and when
to look again. Decisions build plans; only the executor turns them into API calls.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Obj = dict[str, Any]
Kind = tuple[str, str]  # (apiVersion, kind)


@dataclass(frozen=True)
class ObjectRef:
    """Which object: apiVersion, kind, namespace, name."""

    api_version: str
    kind: str
    namespace: str
    name: str

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> ObjectRef:
        meta = obj["metadata"]
        return cls(str(obj["apiVersion"]), str(obj["kind"]), str(meta["namespace"]), meta["name"])

    @property
    def type(self) -> Kind:
        return (self.api_version, self.kind)

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


@dataclass(frozen=True)
class Event:
    """A core/v1 Event to record on the reconciled object."""

    type: Literal["Normal", "Warning"]
    reason: str
    message: str


@dataclass(frozen=True)
class Apply:
    """Server-side apply ``obj`` under the operator's field manager. Skipped when the
    observed object already carries the same applied hash (render.with_applied_hash),
    unless ``drifted``: the decision saw the live object differ from what was rendered
    (someone edited it by hand), so the hash on it no longer tells the truth.
    ``field_manager`` applies under another manager: a promotion writes only the fields
    it owns on an object it does not own (the target's spec.model)."""

    obj: Obj
    drifted: bool = False
    field_manager: str | None = None

    @property
    def ref(self) -> ObjectRef:
        return ObjectRef.of(self.obj)


@dataclass(frozen=True)
class CreateOnce:
    """Create ``obj`` unless it exists. An existing object owned by the same owner is
    the same one (a run that stopped between the create and the status write); one
    owned by another object is an error that is retried (it is being garbage collected).
    ``owner_uid``: the owner that makes an existing object the same one, when it is not
    the reconciled object (a promotion's evidence belongs to the target ModelDeployment)."""

    obj: Obj
    owner_uid: str | None = None

    @property
    def ref(self) -> ObjectRef:
        return ObjectRef.of(self.obj)


@dataclass(frozen=True)
class Delete:
    """Delete a child the decision no longer wants (background propagation)."""

    ref: ObjectRef


@dataclass(frozen=True)
class Keep:
    """Leave a child as it is, though the plan renders it no more: not pruned this time
    (a retired canary serving out its requests for spec.rollout.scaleDownDelay)."""

    ref: ObjectRef


class FileEdit(Protocol):
    """What a commit does to the file's text (pure); raises ValueError naming the file
    when it cannot."""

    def __call__(self, text: str) -> str: ...


@dataclass(frozen=True)
class GitRemote:
    """A branch of a Git repository, and the Secret with its credentials if any."""

    url: str
    branch: str
    secret: tuple[str, str] | None = None  # namespace, name

    def __str__(self) -> str:
        return f"{self.url} {self.branch}"


@dataclass(frozen=True)
class Commit:
    """Change one file on a branch and push the commit (a promotion's Git strategy).
    ``marker`` is a line the commit message carries: a branch that already has a commit
    with it gets no second one, so a run that stopped after pushing never commits twice.
    ``about``: the object the change is for (the target ModelDeployment)."""

    remote: GitRemote
    path: str
    edit: FileEdit
    message: str
    marker: str
    author: tuple[str, str]  # name, email
    about: ObjectRef

    @property
    def ref(self) -> ObjectRef:
        return self.about


Action = Apply | CreateOnce | Delete | Keep | Commit


@dataclass(frozen=True)
class Target:
    """The object being reconciled, as observed: where its status goes and what it was."""

    ref: ObjectRef
    uid: str
    generation: int
    status: Mapping[str, Any]  # the status as read, JSON
    obj: Mapping[str, Any] = field(repr=False, default_factory=dict)  # for Events


@dataclass(frozen=True)
class Plan:
    """``actions`` run in order. Children observed of a kind in ``prune`` that no
    Apply/CreateOnce of this plan names are deleted: a renderer says what should exist,
    the executor removes what should not. ``status`` (JSON, by alias) is written when it
    differs from the observed one; None leaves it."""

    actions: tuple[Action, ...] = ()
    status: Mapping[str, Any] | None = None
    events: tuple[Event, ...] = ()
    requeue_after: float | None = None
    prune: frozenset[Kind] = frozenset()

    def pruned(self, children: Mapping[ObjectRef, Obj]) -> list[ObjectRef]:
        """The observed children this plan deletes by pruning, in a stable order: those
        of a pruned kind it neither applies, creates, keeps nor deletes itself."""
        named = {a.ref for a in self.actions}
        return sorted(
            (r for r in children if r.type in self.prune and r not in named),
            key=lambda r: (r.kind, r.name),
        )
