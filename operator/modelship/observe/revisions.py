"""The ControllerRevisions a decision may need, read once each.

ControllerRevisions are immutable, so each one found is kept in memory, by (namespace,
name, owner uid): a deleted and recreated ModelDeployment must not inherit its
predecessor's. One that is absent is asked again next time (it may be created by then).
"""

from __future__ import annotations

from collections.abc import Iterable

from modelship.kernel.executor import owned_by
from modelship.kernel.plan import Obj
from modelship.kube import Kube
from modelship.render.controller_revision import controller_revision_name
from modelship.render.labels import Owner


class RevisionStore:
    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        self._kept: dict[tuple[str, str, str], Obj] = {}

    def read(
        self, owner: Owner, revisions: Iterable[str], known_only: bool = False
    ) -> dict[str, Obj]:
        """The stored ControllerRevision of each revision hash that has one.
        ``known_only``: only those already known (the owner's every revision was created
        by this process, and remembered)."""
        out = {}
        for revision in sorted(revisions):
            name = controller_revision_name(owner.name, revision)
            key = (owner.namespace, name, owner.uid)
            if key not in self._kept and known_only:
                continue
            if key not in self._kept:
                found = self.kube.get("apps/v1", "ControllerRevision", owner.namespace, name)
                if found is None or not owned_by(found, owner.uid):
                    continue
                self._kept[key] = found
            out[revision] = self._kept[key]
        return out

    def remember(self, owner: Owner, stored: Obj) -> None:
        """A ControllerRevision this operator just created (it is immutable)."""
        key = (owner.namespace, stored["metadata"]["name"], owner.uid)
        self._kept[key] = stored
