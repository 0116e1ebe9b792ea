"""The work queue, driven without sleeping.

Every wait is on a condition the workers or the fake clock signal; the timeouts only
bound a failure. Timers go through ``FakeClock``, so delays are checked as the due
times the queue asked for, and they fire only when a test advances the clock.

Where a test must show that something did *not* happen (an extra run, a run of a
forgotten key), it adds a sentinel key afterwards and waits for it: keys in a lane are
taken in order, so anything wrongly queued before the sentinel would run first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from modelship.workqueue import WorkQueue

TIMEOUT = 2.0  # bounds a wait that fails; never what a test checks


class Signal:
    """A condition variable for one event loop: ``notify`` may be called from plain code."""

    def __init__(self) -> None:
        self._waiters: list[asyncio.Future[None]] = []

    def notify(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()

    async def wait_until(self, what: str, predicate: Callable[[], object]) -> None:
        async def until() -> None:
            while not predicate():
                waiter = asyncio.get_running_loop().create_future()
                self._waiters.append(waiter)
                await waiter

        try:
            await asyncio.wait_for(until(), TIMEOUT)
        except TimeoutError:
            raise AssertionError(f"timed out after {TIMEOUT}s waiting for {what}") from None


class _FakeTimer:
    def __init__(self, due: float, callback: Callable[..., object], args: tuple[Any, ...]):
        self.due = due
        self.callback = callback
        self.args = args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeClock:
    """A ``modelship.workqueue.Clock`` whose time moves only by ``advance``."""

    def __init__(self, changed: Signal) -> None:
        self.now = 0.0
        self._changed = changed
        self._timers: list[_FakeTimer] = []

    def time(self) -> float:
        return self.now

    def call_later(self, delay: float, callback: Callable[..., object], *args: Any) -> _FakeTimer:
        timer = _FakeTimer(self.now + delay, callback, args)
        self._timers.append(timer)
        self._changed.notify()
        return timer

    def pending(self) -> list[tuple[float, Any]]:
        """(due time, key) of each timer neither fired nor cancelled."""
        return sorted((t.due, t.args[0]) for t in self._timers if not t.cancelled)

    def advance(self, seconds: float) -> None:
        """Move time on and run the timers now due, earliest first."""
        self.now += seconds
        due = sorted(
            (t for t in self._timers if not t.cancelled and t.due <= self.now),
            key=lambda t: t.due,
        )
        for timer in due:
            self._timers.remove(timer)
            timer.callback(*timer.args)


def run(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(main())


def test_adds_coalesce_and_one_key_never_runs_twice_at_once() -> None:
    async def main() -> None:
        changed = Signal()
        running: set[str] = set()
        overlaps: list[str] = []
        started: list[str] = []
        finished: list[str] = []
        first_a_may_end = asyncio.Event()

        async def worker(key: str) -> float | None:
            if key in running:
                overlaps.append(key)
            running.add(key)
            started.append(key)
            changed.notify()
            if key == "a" and started.count("a") == 1:
                await first_a_may_end.wait()
            running.discard(key)
            finished.append(key)
            changed.notify()
            return None

        q: WorkQueue[str] = WorkQueue(worker, workers=4, clock=FakeClock(changed))
        q.start()
        for _ in range(10):
            q.add("a")
        q.add("b")
        await changed.wait_until("a to start and b to finish", lambda: "a" in started and finished)
        for _ in range(3):
            q.add("a")  # while "a" runs: exactly one more run, after this one
        # Idle workers would take a wrongly queued "a" before this sentinel.
        q.add("s1")
        await changed.wait_until("the first sentinel", lambda: "s1" in finished)
        assert overlaps == [], "a key ran in two workers at once"
        assert started.count("a") == 1, "a key being processed was started again"

        first_a_may_end.set()
        await changed.wait_until("the second run of a", lambda: finished.count("a") == 2)
        q.add("s2")
        await changed.wait_until("the second sentinel", lambda: "s2" in finished)
        await q.stop()
        assert started.count("a") == 2, started
        assert started.count("b") == 1, started
        assert overlaps == []

    run(main)


def test_failures_back_off_and_requeue_after_is_honoured() -> None:
    async def main() -> None:
        changed = Signal()
        clock = FakeClock(changed)
        runs: list[float] = []

        async def worker(key: str) -> float | None:
            runs.append(clock.now)
            if len(runs) <= 2:
                raise RuntimeError("transient")
            return 5.0 if len(runs) == 3 else None  # then the resync period

        q: WorkQueue[str] = WorkQueue(
            worker, workers=1, base_backoff=0.5, resync_seconds=300, clock=clock
        )
        q.start()
        q.add("k")
        for step, (advance, due) in enumerate(
            [(0.0, 0.5), (0.5, 1.5), (1.0, 6.5), (5.0, 306.5)], start=1
        ):
            clock.advance(advance)

            def settled(n: int = step) -> bool:
                return len(runs) == n and bool(clock.pending())

            await changed.wait_until(f"run {step} and its next timer", settled)
            assert clock.pending() == [(due, "k")], f"after run {step}"
        await q.stop()
        # Failed at 0 and 0.5 (backoff 0.5, then doubled), asked for 5 s at 1.5.
        assert runs == [0.0, 0.5, 1.5, 6.5]

    run(main)


def test_backoff_is_capped_and_reset_by_a_success() -> None:
    async def main() -> None:
        changed = Signal()
        clock = FakeClock(changed)
        outcomes = iter(["fail", "fail", "fail", "ok", "fail"])
        runs = 0

        async def worker(key: str) -> float | None:
            nonlocal runs
            runs += 1
            if next(outcomes) == "fail":
                raise RuntimeError("transient")
            return 10.0

        q: WorkQueue[str] = WorkQueue(
            worker, workers=1, base_backoff=1.0, max_backoff=3.0, clock=clock
        )
        q.start()
        q.add("k")
        delays: list[float] = []
        for step in range(1, 6):
            if step > 1:
                clock.advance(delays[-1])

            def settled(n: int = step) -> bool:
                return runs == n and bool(clock.pending())

            await changed.wait_until(f"run {step} and its next timer", settled)
            [(due, _)] = clock.pending()
            delays.append(due - clock.now)
        await q.stop()
        # 1, 2, then 4 capped to 3; the success asks for 10; the next failure starts at 1 again.
        assert delays == [1.0, 2.0, 3.0, 10.0, 1.0]

    run(main)


def test_a_run_asking_to_come_back_at_once_waits_the_floor() -> None:
    """A decision asking for 0 s (a 0s drift interval did) would spin a worker: the queue
    holds a run's requeue to min_requeue; backoff after a failure is its own."""

    async def main() -> None:
        changed = Signal()
        clock = FakeClock(changed)
        asked = iter([0.0, 0.2, 7.0])
        runs: list[float] = []

        async def worker(key: str) -> float | None:
            runs.append(clock.now)
            return next(asked)

        q: WorkQueue[str] = WorkQueue(worker, workers=1, min_requeue=1.0, clock=clock)
        q.start()
        q.add("k")
        for step, due in enumerate([1.0, 2.0, 9.0], start=1):

            def settled(n: int = step) -> bool:
                return len(runs) == n and bool(clock.pending())

            await changed.wait_until(f"run {step} and its timer", settled)
            assert clock.pending() == [(due, "k")], f"after run {step}"
            if step < 3:
                clock.advance(due - clock.now)
        await q.stop()

    run(main)


def test_add_after_keeps_only_the_earliest_timer() -> None:
    async def main() -> None:
        changed = Signal()
        clock = FakeClock(changed)
        runs: list[float] = []

        async def worker(key: str) -> float | None:
            runs.append(clock.now)
            changed.notify()
            return None

        q: WorkQueue[str] = WorkQueue(worker, workers=1, resync_seconds=300, clock=clock)
        q.start()
        q.add_after("k", 10)
        q.add_after("k", 5)  # earlier: replaces the 10 s timer
        q.add_after("k", 20)  # later: ignored
        assert clock.pending() == [(5.0, "k")]
        clock.advance(5)
        await changed.wait_until("the run at 5 s", lambda: runs)
        assert runs == [5.0]
        assert clock.pending() == [(305.0, "k")], "only the resync after the run is left"
        await q.stop()

    run(main)


def test_forget_cancels_requeue() -> None:
    async def main() -> None:
        changed = Signal()
        clock = FakeClock(changed)
        runs: list[str] = []

        async def worker(key: str) -> float | None:
            runs.append(key)
            changed.notify()
            return 2.5 if key == "k" else None

        q: WorkQueue[str] = WorkQueue(worker, workers=1, resync_seconds=300, clock=clock)
        q.start()
        q.add("k")
        await changed.wait_until("k's requeue timer", lambda: clock.pending() == [(2.5, "k")])
        q.forget("k")
        assert clock.pending() == [], "forget must cancel the requeue timer"
        clock.advance(3.0)
        q.add("sentinel")
        await changed.wait_until("the sentinel", lambda: "sentinel" in runs)
        await q.stop()
        assert runs == ["k", "sentinel"]

    run(main)


def test_forget_during_a_run_schedules_no_requeue() -> None:
    async def main() -> None:
        changed = Signal()
        clock = FakeClock(changed)
        runs: list[str] = []
        may_end = asyncio.Event()

        async def worker(key: str) -> float | None:
            runs.append(key)
            changed.notify()
            if key == "k":
                await may_end.wait()
                return 2.5
            return None

        q: WorkQueue[str] = WorkQueue(worker, workers=1, resync_seconds=300, clock=clock)
        q.start()
        q.add("k")
        await changed.wait_until("k to start", lambda: runs == ["k"])
        q.forget("k")  # the object was deleted while it was being reconciled
        may_end.set()
        q.add("sentinel")  # one worker: it starts only once k's run is over
        await changed.wait_until(
            "the sentinel's resync timer", lambda: (300.0, "sentinel") in clock.pending()
        )
        assert clock.pending() == [(300.0, "sentinel")], "no timer may be left for k"
        await q.stop()

    run(main)


def test_urgent_keys_run_before_waiting_normal_keys() -> None:
    async def main() -> None:
        changed = Signal()
        order: list[str] = []

        async def worker(key: str) -> float | None:
            order.append(key)
            changed.notify()
            return None

        q: WorkQueue[str] = WorkQueue(worker, workers=1, clock=FakeClock(changed))
        for key in ("n1", "n2", "n3"):
            q.add(key)
        q.add("u1", urgent=True)
        q.add("n3", urgent=True)  # promoted from the normal lane
        q.start()
        await changed.wait_until("four runs", lambda: len(order) == 4)
        # A stale copy of n3 left in the normal lane would run before this.
        q.add("last")
        await changed.wait_until("five runs", lambda: len(order) == 5)
        await q.stop()
        assert order == ["u1", "n3", "n1", "n2", "last"]

    run(main)


def test_the_first_success_after_a_run_of_failures_wakes_every_key_backing_off() -> None:
    # The API server throttled or down: every reconcile fails and each key backs off on
    # its own timer. The first success afterwards (here a new key) retries them all at
    # once, without waiting for their timers.
    async def main() -> None:
        changed = Signal()
        clock = FakeClock(changed)
        ran: list[str] = []
        failing = True

        async def worker(key: str) -> float | None:
            ran.append(key)
            changed.notify()
            if failing and key != "new":
                raise RuntimeError("429 Too Many Requests")
            return None

        q: WorkQueue[str] = WorkQueue(worker, workers=1, clock=clock, outage_after=3)
        q.start()
        for key in ("a", "b", "c"):
            q.add(key)
        await changed.wait_until("three failures", lambda: len(ran) == 3)
        await changed.wait_until("three backoff timers", lambda: len(clock.pending()) == 3)
        failing = False
        q.add("new")
        await changed.wait_until("the backed-off keys retried", lambda: len(ran) == 7)
        assert sorted(ran[4:]) == ["a", "b", "c"]
        assert clock.now == 0.0  # no timer had to fire
        await q.stop()

    run(main)


def test_a_key_failing_alone_among_successes_keeps_its_backoff() -> None:
    async def main() -> None:
        changed = Signal()
        clock = FakeClock(changed)
        ran: list[str] = []

        async def worker(key: str) -> float | None:
            ran.append(key)
            changed.notify()
            if key == "bad":
                raise RuntimeError("admission webhook refused")
            return None

        q: WorkQueue[str] = WorkQueue(worker, workers=1, clock=clock, outage_after=3)
        q.start()
        q.add("bad")
        await changed.wait_until("its failure", lambda: ran == ["bad"])
        await changed.wait_until("its backoff timer", lambda: len(clock.pending()) == 1)
        for key in ("ok1", "ok2", "ok3"):
            q.add(key)
        # A sentinel: keys run in order, so a wrongly woken "bad" would run before it.
        q.add("last")
        await changed.wait_until("the others and the sentinel", lambda: len(ran) == 5)
        assert ran == ["bad", "ok1", "ok2", "ok3", "last"]
        assert [k for _, k in clock.pending()].count("bad") == 1
        await q.stop()

    run(main)


def test_each_key_taken_reports_how_long_it_waited_and_its_lane() -> None:
    async def main() -> None:
        changed = Signal()
        clock = FakeClock(changed)
        waits: list[tuple[float, bool]] = []
        ran: list[str] = []

        async def worker(key: str) -> float | None:
            ran.append(key)
            changed.notify()
            return None

        q: WorkQueue[str] = WorkQueue(
            worker, workers=1, clock=clock, on_wait=lambda s, u: waits.append((s, u))
        )
        q.add("n")
        clock.advance(1.5)
        q.add("u", urgent=True)
        q.add("n")  # already waiting: its wait still counts from the first add
        clock.advance(0.5)
        q.start()
        await changed.wait_until("both runs", lambda: len(ran) == 2)
        await q.stop()
        assert ran == ["u", "n"]
        assert waits == [(0.5, True), (2.0, False)]

    run(main)


def slow_rounds(
    changed: Signal, release: asyncio.Event, started: list[str]
) -> Callable[[str], Coroutine[Any, Any, float | None]]:
    """A worker recording each key it starts; keys named slow* hold it until ``release``."""

    async def worker(key: str) -> float | None:
        started.append(key)
        changed.notify()
        if key.startswith("slow"):
            await release.wait()
        return None

    return worker


def test_urgent_workers_take_an_urgent_key_while_every_other_worker_is_busy() -> None:
    # Two general workers stuck in slow rounds: a new object (urgent) still runs at once
    # on the urgent-only worker; a normal key waits for a general one.
    async def main() -> None:
        changed = Signal()
        release = asyncio.Event()
        started: list[str] = []
        worker = slow_rounds(changed, release, started)

        q: WorkQueue[str] = WorkQueue(worker, workers=2, urgent_workers=1, clock=FakeClock(changed))
        q.start()
        q.add("slow1")
        q.add("slow2")
        await changed.wait_until("both slow rounds", lambda: len(started) == 2)
        q.add("normal")
        q.add("new", urgent=True)
        await changed.wait_until("the urgent key", lambda: "new" in started)
        # A sentinel urgent key: the reserved worker takes it too, and never the normal
        # key, which would have started before it had the reserved worker taken it.
        q.add("new2", urgent=True)
        await changed.wait_until("the second urgent key", lambda: "new2" in started)
        assert "normal" not in started
        release.set()
        await changed.wait_until("the normal key", lambda: "normal" in started)
        await q.stop()

    run(main)


def test_a_waiting_key_made_urgent_wakes_an_urgent_worker() -> None:
    async def main() -> None:
        changed = Signal()
        release = asyncio.Event()
        started: list[str] = []
        worker = slow_rounds(changed, release, started)

        q: WorkQueue[str] = WorkQueue(worker, workers=1, urgent_workers=1, clock=FakeClock(changed))
        q.start()
        q.add("slow")
        await changed.wait_until("the slow round", lambda: started == ["slow"])
        q.add("k")  # normal: waits for the general worker
        q.add("k", urgent=True)  # the user changed it meanwhile
        await changed.wait_until("k on the urgent worker", lambda: "k" in started)
        release.set()
        await q.stop()

    run(main)
