"""Which ModelDeployments a selector shard serves, learned from its own watch.

With a label selector the API server filters the ModelDeployment watch (only this
shard's objects arrive, and one that stops matching arrives as DELETED), but the
children's watches (Deployments, Services, Pods, ...) carry every shard's children:
children have no shard label, and giving them one would restart pods whenever a
ModelDeployment moves. So each child event is sorted by its owner:

- served (its ModelDeployment arrived on this shard's watch): cached and enqueued;
- foreign (known not to be this shard's): neither cached nor enqueued, so a shard's
  memory holds only its own children and it never reconciles, or writes, another's;
- unknown (no event of the owner yet): cached, not enqueued. At start the child
  watches may deliver before the ModelDeployment watch; an owner still unknown
  ``settle`` seconds after its first child is another shard's, and its children are
  dropped from the cache.

An owner that turns out to be served after all (relabelled into this shard, or its
event later than ``settle``) has no children cached: it is *primed* (its children
listed once) before its first reconcile. Without a selector every owner is served,
as before sharding existed.

Not thread-safe: used on the event loop only.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, Protocol

from modelship import telemetry
from modelship.cache import ChildCache

log = logging.getLogger(__name__)

Key = tuple[str, str]  # namespace, ModelDeployment name

SETTLE_SECONDS = 20.0


@dataclass(frozen=True)
class ChildVerdict:
    cache: bool
    enqueue: bool


SERVED = ChildVerdict(cache=True, enqueue=True)
FOREIGN = ChildVerdict(cache=False, enqueue=False)
UNKNOWN = ChildVerdict(cache=True, enqueue=False)


class Membership:
    def __init__(self, sharded: bool, settle: float = SETTLE_SECONDS) -> None:
        self.sharded = sharded
        self.settle = settle
        self.served: set[Key] = set()
        self.foreign: set[Key] = set()
        self.unknown: dict[Key, float] = {}  # owner -> when its first child arrived

    def serve(self, key: Key) -> bool:
        """An event of the ModelDeployment on this shard's watch. True: its children
        are not cached (it was foreign) and must be primed before it is reconciled."""
        self.served.add(key)
        self.unknown.pop(key, None)
        if key in self.foreign:
            self.foreign.discard(key)
            return True
        return False

    def leave(self, key: Key) -> None:
        """DELETED on this shard's watch: deleted, or its labels no longer match."""
        self.served.discard(key)
        self.unknown.pop(key, None)
        if self.sharded:
            self.foreign.add(key)

    def child(self, owner: Key, now: float) -> ChildVerdict:
        if not self.sharded or owner in self.served:
            return SERVED
        if owner in self.foreign:
            return FOREIGN
        self.unknown.setdefault(owner, now)
        return UNKNOWN

    def serves(self, key: Key) -> bool:
        return not self.sharded or key in self.served

    def settled(self, now: float) -> list[Key]:
        """Owners unknown for ``settle`` seconds become foreign; the caller drops their
        children from the cache."""
        gone = [k for k, since in self.unknown.items() if now - since >= self.settle]
        for key in gone:
            del self.unknown[key]
            self.foreign.add(key)
        return gone


class _Controller(Protocol):
    """The ModelDeployment controller, as far as the keeper uses it."""

    @property
    def observer(self) -> Any: ...

    def target(self, namespace: str, name: str) -> Any: ...


class ChildKeeper:
    """The runtime half: drops another shard's children from the cache, primes an owner
    that joined, and sweeps the unknown owners (on the event loop; I/O on ``executor``)."""

    def __init__(
        self,
        members: Membership,
        cache: ChildCache,
        controller: _Controller,
        executor: Executor,
        enqueue: Callable[..., None],
    ) -> None:
        self.members = members
        self.cache = cache
        self.controller = controller
        self.executor = executor
        self.enqueue = enqueue
        self.unprimed: set[Key] = set()

    async def prime(self, md: Key) -> None:
        """``md`` joined this shard with no children cached: list them, then enqueue it.
        Failing, the sweep tries again (a reconcile on an empty cache would report its
        pods missing)."""
        loop = asyncio.get_running_loop()
        log.info("%s/%s: joined this shard; reading its children", *md)
        try:
            found = await loop.run_in_executor(
                self.executor, self.controller.observer.read_children, *md
            )
        except Exception as exc:
            log.warning("%s/%s: could not read its children (%s); retrying", *md, exc)
            self.unprimed.add(md)
            return
        for obj in found:
            self.cache.put(obj)
        self.enqueue(md, urgent=True)

    async def left(self, md: Key) -> None:
        """Deleted, or relabelled away: drop its children, then one last look (a GET)
        through the controller, which drops its metrics series and readings once the
        object is gone or outside the shard."""
        self.unprimed.discard(md)
        self.cache.drop_owner(*md)
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self.executor, self.controller.target, *md)
        except Exception as exc:  # its series stay until the next restart
            log.debug("%s/%s: %s", *md, exc)

    async def sweep(self) -> None:
        """Every quarter of ``settle``: owners unknown for long enough are another
        shard's, and their children leave the cache; failed primes are tried again."""
        while True:
            await asyncio.sleep(self.members.settle / 4)
            for md in self.members.settled(time.monotonic()):
                self.cache.drop_owner(*md)
            telemetry.SHARD_DEPLOYMENTS.labels("served").set(len(self.members.served))
            telemetry.SHARD_DEPLOYMENTS.labels("foreign").set(len(self.members.foreign))
            for md in list(self.unprimed):
                self.unprimed.discard(md)
                if self.members.serves(md):
                    await self.prime(md)
