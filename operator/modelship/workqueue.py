"""A coalescing work queue for reconciles, in the manner of client-go's workqueue.

A key is never processed by two workers at once; adding a key that is already
queued is a no-op; adding one that is being processed re-queues it once the
current run ends. Failed runs back off exponentially per key; delayed adds
(requeue-after) keep only the earliest timer per key.

A run's own requeue-after is held to at least ``min_requeue`` (1 s): a decision that
asks to look again at once, every time, would otherwise spin a worker for as long as the
object lives (a 0s drift interval did, before the API refused it; found by fuzzing). A
timer due sooner fires up to that much late, which no decision depends on.

Two lanes: keys added as ``urgent`` (a user changed the object) are taken before
the others (a child's status moved, a timer fired), so a burst of child events
never delays acting on a new spec. Taken first is not enough when every worker is busy
with a slow analysis round (a fleet's rounds take ~0.2 s each, mostly waiting on the
API server and Prometheus): ``urgent_workers`` more workers take urgent keys only, so a
new or changed object starts at once instead of waiting for a round to end.

Backoff is per key, but a run of failures across keys (``outage_after`` in a row, no
success between) is a shared cause: the API server down, restarting or throttling. The
first success after such a run wakes every key still backing off, so the fleet resumes
when the cause is gone instead of each key at its own doubled delay (up to a minute).
A key failing alone among succeeding ones never makes such a run, so its backoff holds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Generic, Protocol, TypeVar

log = logging.getLogger(__name__)

K = TypeVar("K")


class Timer(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    """The part of an asyncio event loop the queue's timers use (``time``, ``call_later``).

    The running loop is the default; tests pass a fake one they advance by hand, so
    backoff and requeue-after delays are checked without sleeping.
    """

    def time(self) -> float: ...

    def call_later(self, delay: float, callback: Callable[..., object], *args: Any) -> Timer: ...


class WorkQueue(Generic[K]):
    def __init__(
        self,
        worker: Callable[[K], Awaitable[float | None]],
        workers: int = 8,
        resync_seconds: float = 300.0,
        base_backoff: float = 0.5,
        max_backoff: float = 60.0,
        clock: Clock | None = None,
        min_requeue: float = 1.0,
        outage_after: int = 3,
        on_wait: Callable[[float, bool], None] | None = None,
        urgent_workers: int = 0,
    ) -> None:
        """``clock`` schedules the delayed adds; None (production) means the running loop.
        ``on_wait(seconds, urgent)`` is told, as a worker takes a key, how long it waited
        since it was added (client-go's queue duration)."""
        self._worker = worker
        self._clock = clock
        self._workers = workers
        self._resync = resync_seconds
        self._base_backoff = base_backoff
        self._max_backoff = max_backoff
        self._min_requeue = min_requeue
        self._lanes: tuple[deque[K], deque[K]] = (deque(), deque())  # urgent, normal
        self._urgent: set[K] = set()  # dirty keys that asked for the urgent lane
        self._urgent_workers = urgent_workers
        self._idle: list[tuple[bool, asyncio.Future[None]]] = []  # (urgent only, wake-up)
        self._dirty: set[K] = set()
        self._processing: set[K] = set()
        self._timers: dict[K, tuple[float, Timer]] = {}
        self._failures: dict[K, int] = {}
        self._outage_after = outage_after
        self._failed_in_a_row = 0  # reconciles failed since the last success, any key
        self._forgotten: set[K] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._on_wait = on_wait
        self._added: dict[K, float] = {}  # dirty key -> when it became dirty

    def _now(self) -> float:
        return self._clock.time() if self._clock is not None else time.monotonic()

    def add(self, key: K, urgent: bool = False) -> None:
        self._forgotten.discard(key)
        if urgent and key not in self._urgent:
            self._urgent.add(key)
            if key in self._dirty and key in self._lanes[1]:
                self._lanes[1].remove(key)  # promote a key already waiting
                self._lanes[0].append(key)
                self._wake(urgent=True)
        if key in self._dirty:
            return
        self._dirty.add(key)
        self._added[key] = self._now()
        if key not in self._processing:
            self._push(key)

    def _push(self, key: K) -> None:
        urgent = key in self._urgent
        self._lanes[0 if urgent else 1].append(key)
        self._wake(urgent)

    def _wake(self, urgent: bool) -> None:
        """A key entered a lane (``urgent``: the urgent one)."""
        # Wake every idle worker that may take it (all, for an urgent key); each looks at
        # the lanes again and one that finds nothing waits again. Waking only one can
        # strand a key: woken for it, a general worker may take an urgent key pushed
        # meanwhile, while the urgent-only worker woken for that one finds nothing.
        woken = [e for e in self._idle if urgent or not e[0]]
        self._idle = [e for e in self._idle if e not in woken]
        for _, waiter in woken:
            if not waiter.done():
                waiter.set_result(None)

    async def _get(self, urgent_only: bool = False) -> K:
        while not self._lanes[0] and (urgent_only or not self._lanes[1]):
            waiter = asyncio.get_running_loop().create_future()
            entry = (urgent_only, waiter)
            self._idle.append(entry)
            try:
                await waiter
            finally:
                if entry in self._idle:  # cancelled while idle
                    self._idle.remove(entry)
        lane = self._lanes[0] if self._lanes[0] else self._lanes[1]
        key = lane.popleft()
        urgent = lane is self._lanes[0]
        self._urgent.discard(key)
        added = self._added.pop(key, None)
        if self._on_wait is not None and added is not None:
            self._on_wait(self._now() - added, urgent)
        return key

    def depth(self) -> int:
        """Keys waiting for a worker (client-go's workqueue depth): neither those being
        processed nor timers not yet due."""
        return len(self._lanes[0]) + len(self._lanes[1])

    def add_after(self, key: K, delay: float) -> None:
        clock: Clock = self._clock if self._clock is not None else asyncio.get_running_loop()
        due = clock.time() + delay
        current = self._timers.get(key)
        if current and current[0] <= due:
            return
        if current:
            current[1].cancel()
        self._timers[key] = (due, clock.call_later(delay, self._fire, key))

    def _fire(self, key: K) -> None:
        self._timers.pop(key, None)
        if key not in self._forgotten:
            self.add(key)

    def _wake_backed_off(self, succeeded: K) -> None:
        """The shared cause of a run of failures is gone: retry every key backing off
        now. Their failure counts stay, so a key that fails again backs off further."""
        woken = [k for k in self._failures if k != succeeded and k in self._timers]
        for key in woken:
            _, timer = self._timers.pop(key)
            timer.cancel()
            self.add(key)
        if woken:
            log.info("reconciles succeed again after failures: retrying %d keys now", len(woken))

    def forget(self, key: K) -> None:
        """The object is gone: drop timers and backoff state."""
        self._forgotten.add(key)
        self._failures.pop(key, None)
        timer = self._timers.pop(key, None)
        if timer:
            timer[1].cancel()

    async def _run_one(self, urgent_only: bool = False) -> None:
        while True:
            key = await self._get(urgent_only)
            self._dirty.discard(key)
            self._processing.add(key)
            try:
                requeue = await self._worker(key)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                count = self._failures.get(key, 0) + 1
                self._failures[key] = count
                delay = min(self._max_backoff, self._base_backoff * 2 ** (count - 1))
                log.warning(
                    "reconcile of %s failed (attempt %d, retry in %.1fs): %s",
                    key,
                    count,
                    delay,
                    exc,
                )
                requeue = delay
                self._failed_in_a_row += 1
            else:
                self._failures.pop(key, None)
                if requeue is not None:
                    requeue = max(requeue, self._min_requeue)
                if self._failed_in_a_row >= self._outage_after:
                    self._wake_backed_off(key)
                self._failed_in_a_row = 0
            finally:
                self._processing.discard(key)
            if key in self._dirty:
                self._push(key)
            if key not in self._forgotten:
                self.add_after(key, requeue if requeue is not None else self._resync)

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._run_one()) for _ in range(self._workers)]
        self._tasks += [
            asyncio.create_task(self._run_one(urgent_only=True))
            for _ in range(self._urgent_workers)
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for _, handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
