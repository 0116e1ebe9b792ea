"""One reconcile of any controller: target → observe → decide → execute.

A controller supplies four things (the ``Controller`` Protocol): ``target`` reads the
object (None: gone), ``observe`` reads everything the decision may use into one typed
snapshot, ``decide`` (pure) turns snapshot and ``now`` into a Plan, and ``rejected``
is the plan for a child the API server refused (a spec problem, not retried in a loop).
``now`` is read once per reconcile. Anything raised after the target was read reaches
its status through the executor's deferred write, then goes on to the queue's backoff.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, Protocol, TypeVar

from modelship import telemetry
from modelship.errors import InvalidObjectError, NotFoundError
from modelship.kernel.executor import Executor
from modelship.kernel.plan import Obj, ObjectRef, Plan, Target

log = logging.getLogger(__name__)


class Snapshot(Protocol):
    """What every controller's snapshot carries for the executor."""

    @property
    def target(self) -> Target: ...

    @property
    def children(self) -> Mapping[ObjectRef, Obj]: ...


S = TypeVar("S", bound=Snapshot)


class Controller(Protocol[S]):
    kind: str

    def target(self, namespace: str, name: str) -> Target | None:
        """The object, or None when it is gone or being deleted (caches dropped)."""
        ...

    def observe(self, target: Target, now: datetime) -> S: ...

    def decide(self, snapshot: S, now: datetime) -> Plan: ...

    def rejected(self, snapshot: S, message: str, now: datetime) -> Plan: ...

    def done(self, snapshot: S, plan: Plan) -> None:
        """After a plan was carried out: the operator's own metrics."""
        ...


@dataclass(frozen=True)
class Result:
    requeue_after: float | None = None


def utcnow() -> datetime:
    return datetime.now(UTC)


class Reconcile(Generic[S]):
    """Runs one controller on the executor; called by the work queue per key."""

    def __init__(
        self,
        controller: Controller[S],
        executor: Executor,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.controller = controller
        self.executor = executor
        self.clock = clock

    def __call__(self, namespace: str, name: str) -> Result:
        started = time.perf_counter()
        kind = self.controller.kind
        try:
            result = self._run(namespace, name)
        except Exception:
            telemetry.RECONCILES.labels(kind, "error").inc()
            raise
        finally:
            telemetry.RECONCILE_SECONDS.labels(kind).observe(time.perf_counter() - started)
        telemetry.RECONCILES.labels(kind, "ok").inc()
        return result

    def _run(self, namespace: str, name: str) -> Result:
        now = self.clock()
        target = self.controller.target(namespace, name)
        if target is None:
            return Result()
        try:
            snapshot = self.controller.observe(target, now)
            plan = self.controller.decide(snapshot, now)
            try:
                self.executor.act(snapshot.target, snapshot.children, plan)
            except InvalidObjectError as exc:
                message = f"the API server rejected a child object: {exc}"
                plan = self.controller.rejected(snapshot, message, now)
            self.executor.finish(snapshot.target, plan, now)
        except NotFoundError:
            return Result()  # deleted, or its namespace is terminating, while we worked
        except Exception as exc:
            self.executor.report_error(target, exc, now)
            raise
        self.controller.done(snapshot, plan)
        return Result(plan.requeue_after)
