import asyncio
import itertools

from modelship.workqueue import WorkQueue


async def _drain(delay: float = 0.05) -> None:
    await asyncio.sleep(delay)


def test_adds_coalesce_and_one_key_never_runs_twice_at_once() -> None:
    async def main() -> tuple[list[str], int]:
        running: set[str] = set()
        overlap = 0
        runs: list[str] = []

        async def worker(key: str) -> float | None:
            nonlocal overlap
            if key in running:
                overlap += 1
            running.add(key)
            runs.append(key)
            await asyncio.sleep(0.02)
            running.discard(key)
            return None

        q: WorkQueue[str] = WorkQueue(worker, workers=4, resync_seconds=3600)
        q.start()
        for _ in range(10):
            q.add("a")
        q.add("b")
        await asyncio.sleep(0.005)
        q.add("a")  # while "a" runs: exactly one more run afterwards
        await _drain(0.1)
        await q.stop()
        return runs, overlap

    runs, overlap = asyncio.run(main())
    assert runs.count("a") == 2
    assert runs.count("b") == 1
    assert overlap == 0


def test_failures_back_off_and_requeue_after_is_honoured() -> None:
    async def main() -> list[float]:
        times: list[float] = []
        loop = asyncio.get_running_loop()

        async def worker(key: str) -> float | None:
            times.append(loop.time())
            if len(times) < 3:
                raise RuntimeError("transient")
            return 0.05 if len(times) == 3 else 3600

        q: WorkQueue[str] = WorkQueue(worker, workers=1, base_backoff=0.02, resync_seconds=3600)
        q.start()
        q.add("k")
        await asyncio.sleep(0.3)
        await q.stop()
        return [b - a for a, b in itertools.pairwise(times)]

    gaps = asyncio.run(main())
    assert len(gaps) == 3
    assert gaps[0] >= 0.02 and gaps[1] >= 0.04  # 0.02, then doubled
    assert gaps[2] >= 0.05


def test_forget_cancels_requeue() -> None:
    async def main() -> int:
        runs = 0

        async def worker(key: str) -> float | None:
            nonlocal runs
            runs += 1
            return 0.02

        q: WorkQueue[str] = WorkQueue(worker, workers=1)
        q.start()
        q.add("k")
        await asyncio.sleep(0.01)
        q.forget("k")
        await asyncio.sleep(0.1)
        await q.stop()
        return runs

    assert asyncio.run(main()) == 1


def test_urgent_keys_run_before_waiting_normal_keys() -> None:
    async def main() -> list[str]:
        order: list[str] = []

        async def worker(key: str) -> float | None:
            order.append(key)
            await asyncio.sleep(0.01)
            return None

        q: WorkQueue[str] = WorkQueue(worker, workers=1, resync_seconds=3600)
        for key in ("n1", "n2", "n3"):
            q.add(key)
        q.add("u1", urgent=True)
        q.add("n3", urgent=True)  # promoted from the normal lane
        q.start()
        await asyncio.sleep(0.2)
        await q.stop()
        return order

    assert asyncio.run(main()) == ["u1", "n3", "n1", "n2"]
