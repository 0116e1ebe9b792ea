"""The dashboard's view of the cluster: one list-and-watch per kind, shared by every
browser tab, feeding an in-memory cache, the per-object history (views/history.py) and
the live-update subscribers.

The watches run in threads (the Kubernetes client is blocking) and hand each event to
the event loop with call_soon_threadsafe, so the cache, the histories and the
subscriber queues are only ever touched on the loop: no locks. A page render reads the
cache, never the API server, so a fleet of hundreds of ModelDeployments costs one
watch, not one request per row.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from modelship.dashboard.views.history import History, observe
from modelship.kube import Kube
from modelship.kube.watch import list_and_watch

log = logging.getLogger("modelship.dashboard")

Obj = dict[str, Any]
Key = tuple[str, str]  # namespace, name
API_VERSION = "modelship.io/v1alpha1"
KINDS = ("ModelDeployment", "ModelPromotion")
BACKOFF = (1.0, 2.0, 5.0, 10.0, 30.0)


@dataclass(frozen=True)
class Change:
    kind: str
    namespace: str
    name: str


@dataclass
class KindState:
    objects: dict[Key, Obj] = field(default_factory=dict)
    synced: asyncio.Event = field(default_factory=asyncio.Event)
    error: str = ""  # why the watch is not running (Forbidden, CRD missing), shown on pages


class Store:
    def __init__(self, kube: Kube, namespace: str | None) -> None:
        self.kube = kube
        self.namespace = namespace
        self.kinds = {kind: KindState() for kind in KINDS}
        self.histories: dict[Key, History] = {}
        self.subscribers: set[asyncio.Queue[Change | None]] = set()
        self._stop = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    # ----- watching (threads) ------------------------------------------------------------

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        for kind in KINDS:
            threading.Thread(
                target=self._run, args=(kind,), name=f"watch-{kind}", daemon=True
            ).start()

    def stop(self) -> None:
        self._stop.set()

    def _post(self, fn: Callable[..., None], *args: Any) -> None:
        assert self._loop is not None
        with contextlib.suppress(RuntimeError):  # the loop closed: we are exiting
            self._loop.call_soon_threadsafe(fn, *args)

    def _run(self, kind: str) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                list_and_watch(
                    self.kube,
                    API_VERSION,
                    kind,
                    self.namespace,
                    lambda items: self._post(self._listed, kind, items),
                    lambda type_, obj: self._post(self._event, kind, type_, obj),
                    self._stop,
                )
            except Exception as exc:  # forbidden, CRD not installed, connection lost
                why = str(exc)
                if " 404 " in why:
                    why = f"the API server does not serve {kind} (CRD not installed?)"
                elif " 403 " in why:
                    why = "Forbidden: " + why.split(" 403 ", 1)[1]
                self._post(self._failed, kind, why)
                delay = BACKOFF[min(failures, len(BACKOFF) - 1)]
                failures += 1
                log.info("watch %s: %s (again in %gs)", kind, why, delay)
                self._stop.wait(delay)
            else:
                failures = 0

    # ----- on the loop -------------------------------------------------------------------

    def _listed(self, kind: str, items: list[Obj]) -> None:
        state = self.kinds[kind]
        before = set(state.objects)
        state.objects = {}
        for obj in items:
            obj.setdefault("kind", kind)
            self._put(kind, obj)
        state.error = ""
        state.synced.set()
        for key in before | set(state.objects):
            self._notify(Change(kind, *key))

    def _event(self, kind: str, type_: str, obj: Obj) -> None:
        meta = obj.get("metadata") or {}
        key = (str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        if type_ == "DELETED":
            self.kinds[kind].objects.pop(key, None)
        else:
            self._put(kind, obj)
        self._notify(Change(kind, *key))

    def _failed(self, kind: str, why: str) -> None:
        state = self.kinds[kind]
        state.error = why
        state.synced.set()  # pages render (empty, with the reason) rather than hang

    def _put(self, kind: str, obj: Obj) -> None:
        meta = obj["metadata"]
        key = (meta["namespace"], meta["name"])
        self.kinds[kind].objects[key] = obj
        if kind == "ModelDeployment":
            self.histories[key] = observe(self.histories.get(key, History()), obj)

    def _notify(self, change: Change) -> None:
        for queue in list(self.subscribers):
            if queue.qsize() < 1000:  # a stalled tab is refreshed whole when it drains
                queue.put_nowait(change)

    # ----- reading -----------------------------------------------------------------------

    async def ready(self, kind: str, timeout: float = 10.0) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.kinds[kind].synced.wait(), timeout)

    def objects(self, kind: str) -> list[Obj]:
        return list(self.kinds[kind].objects.values())

    def get(self, kind: str, namespace: str, name: str) -> Obj | None:
        return self.kinds[kind].objects.get((namespace, name))

    def history(self, namespace: str, name: str) -> History:
        return self.histories.get((namespace, name), History())

    def subscribe(self) -> asyncio.Queue[Change | None]:
        queue: asyncio.Queue[Change | None] = asyncio.Queue()
        self.subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Change | None]) -> None:
        self.subscribers.discard(queue)
