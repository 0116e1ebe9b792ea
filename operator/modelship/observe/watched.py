"""The ModelDeployments as their watch last delivered them: what a reconcile may take
instead of reading its object again.

A reconcile must never act on a status older than this process's own last write of
it (a merge patch against an older status would undo that write). The watch delivers
one object's changes in order, so once the event carrying the resourceVersion this
process last wrote has arrived, the latest event is at least as new as that write and
stands for a GET. Until it has (the write's event still on its way, a write whose
answer was lost, an object this process has not written), the reconcile reads the
object as before.

What another client wrote after that (a new spec, a command annotation) is on its way
as an event, and that event enqueues the object again: a decision on the body is the
one a GET a moment earlier would have made. controller-runtime reads every object
from its informer cache the same way, without this guarantee about its own writes.
And a watch that stalls unnoticed costs one such reconcile at most: the next status
write's event does not arrive, and the reconcile after it reads again.

An object without status, never looked at by this process, is taken from its event
for its first reconcile: it has no status to be stale.

Events are recorded on the event loop; reconciles take and write on worker threads
(a lock, held for dict operations only).
"""

from __future__ import annotations

import copy
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from modelship.kernel.plan import Obj, ObjectRef

Key = tuple[str, str]
# Versions remembered per object: enough for the events that can arrive between a
# status write and its answer being recorded; a write whose version has already left
# them is read again (never wrongly trusted).
RECENT = 8


def _version(obj: Mapping[str, Any]) -> str | None:
    value = (obj.get("metadata") or {}).get("resourceVersion")
    return str(value) if value else None


@dataclass
class _Entry:
    body: Obj | None = None
    recent: deque[str] = field(default_factory=lambda: deque(maxlen=RECENT))
    written: str | None = None  # the version of this process's last write
    writing: bool = False  # a write whose answer has not been recorded (or was lost)


class WatchedBodies:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[Key, _Entry] = {}
        self._looked_at: set[Key] = set()

    def _entry(self, key: Key) -> _Entry:
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = _Entry()
        return entry

    # ----- the watch (event loop) ------------------------------------------------------

    def seen(self, obj: Mapping[str, Any]) -> None:
        """A watch event of the object (not DELETED)."""
        meta = obj["metadata"]
        body = copy.deepcopy(dict(obj))  # the event's dict stays kopf's
        version = _version(obj)
        with self._lock:
            entry = self._entry((meta["namespace"], meta["name"]))
            entry.body = body
            if version is not None:
                entry.recent.append(version)

    def gone(self, namespace: str, name: str) -> None:
        with self._lock:
            self._entries.pop((namespace, name), None)
            self._looked_at.discard((namespace, name))

    # ----- the executor's writes of the object (worker threads) ------------------------

    def writing(self, ref: ObjectRef) -> None:
        """A write of the object is about to be made: until its answer is recorded,
        nothing watched is known to include it."""
        with self._lock:
            self._entry((ref.namespace, ref.name)).writing = True

    def written(self, ref: ObjectRef, answer: Mapping[str, Any]) -> None:
        """The API server's answer to that write: its version is the one to wait for."""
        with self._lock:
            entry = self._entry((ref.namespace, ref.name))
            entry.written = _version(answer)
            entry.writing = False

    # ----- a reconcile (worker threads) ------------------------------------------------

    def take(self, namespace: str, name: str) -> Obj | None:
        """A copy of the object as last watched, when it may stand for a GET; else None
        (read it)."""
        key = (namespace, name)
        with self._lock:
            first = key not in self._looked_at
            self._looked_at.add(key)
            entry = self._entries.get(key)
            if entry is None or entry.body is None or entry.writing:
                return None
            if entry.written is not None:
                usable = entry.written in entry.recent
            else:
                usable = (
                    first and (entry.body.get("status") or {}).get("observedGeneration") is None
                )
            body = entry.body if usable else None
        return copy.deepcopy(body) if body is not None else None
