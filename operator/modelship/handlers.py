"""kopf wiring: the only module that imports kopf.

Watch events only *enqueue* a key; the work queue runs the one reconcile path (the
ModelDeployment controller on the kernel, modelship.kernel) in a thread pool. Events of
the ModelDeployment itself enqueue only when something other than status changed, so
the operator's own status writes do not loop; events of its children (Deployments,
Services, HTTPRoutes, HPAs, Pods) refresh the cache and enqueue their owner, which is how
readiness and scheduling failures, and hand edits, reach the reconcile quickly.

With leader election (modelship.leader) every replica watches and caches, but only the
leader's queues run; /healthz and /readyz (modelship.health) say which one leads.

A shard (``-n``, ``-l``: modelship.decisions.shard) watches its ModelDeployments and
ModelPromotions through the API server's label selector, sorts child events by owner
(modelship.sharding), and its reconciles leave anything outside it alone.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import kopf
from aiohttp import web

from modelship import fence, health, telemetry
from modelship.api import GROUP, PLURAL, VERSION
from modelship.api.promotion import PROMOTION_PLURAL
from modelship.cache import ChildCache
from modelship.controllers.model_deployment import ModelDeploymentController
from modelship.controllers.model_promotion import model_promotion_reconcile
from modelship.decisions.leadership import Timing
from modelship.decisions.promotion_gates import CHECK_INTERVAL
from modelship.decisions.shard import Shard
from modelship.kernel.executor import Executor
from modelship.kernel.loop import Reconcile
from modelship.kube import connect
from modelship.leader import LeaderElector
from modelship.render.labels import MANAGED_BY, MANAGER, MODEL_DEPLOYMENT
from modelship.render.promotion import PROMOTION
from modelship.sharding import ChildKeeper, Membership
from modelship.workqueue import WorkQueue

log = logging.getLogger("modelship")

Key = tuple[str, str]
WATCH_RETRY_BACKOFFS = (0.5, 1.0, 1.0, 2.0, 2.0, *([3.0] * 15))


@dataclass(frozen=True)
class LeaderElection:
    """``modelship operator --leader-elect``: the Lease, and its durations."""

    namespace: str
    lease_name: str
    timing: Timing


@dataclass
class Options:
    """What `modelship operator` asked for, set before kopf starts (cli._operator)."""

    leader_election: LeaderElection | None = None
    health_address: str | None = None
    shard: Shard = field(default_factory=Shard)
    workers: int = 8  # ModelDeployment reconciles at once, besides the urgent-only ones
    stop: asyncio.Event | None = None  # set to stop kopf (leadership lost)


options = Options()


class _Runtime:
    """State shared by the handlers for the life of the operator process."""

    def __init__(
        self, shard: Shard, workers: int = 8, urgent_workers: int = 2, promoters: int = 2
    ) -> None:
        # A thread for every worker of both queues, so none waits for another's thread.
        threads = workers + urgent_workers + promoters
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="reconcile")
        self.cache = ChildCache()
        self.kube = kube = connect(pool_size=threads + 4, on_request=telemetry.kube_request)
        self.shard = shard
        self.members = Membership(sharded=shard.selector is not None)
        self.controller = controller = ModelDeploymentController(kube, self.cache, shard)
        self.reconcile = Reconcile(
            controller, Executor(kube, self.cache, target_writes=controller.observer.bodies)
        )
        self.queue: WorkQueue[Key] = WorkQueue(
            self._reconcile,
            workers=workers,
            urgent_workers=urgent_workers,
            on_wait=telemetry.queue_waited("ModelDeployment"),
        )
        self.keeper = ChildKeeper(
            self.members, self.cache, controller, self.executor, self.queue.add
        )
        self.seen: dict[Key, tuple[Any, ...]] = {}
        # ModelPromotions: their own queue (a key is a promotion's), and which promotions
        # read or write each ModelDeployment, so its changes reach them at once.
        self.promote = model_promotion_reconcile(kube, shard=shard)
        self.promotions: WorkQueue[Key] = WorkQueue(
            self._promote, workers=promoters, on_wait=telemetry.queue_waited("ModelPromotion")
        )
        telemetry.watch_queue("ModelDeployment", self.queue.depth)
        telemetry.watch_queue("ModelPromotion", self.promotions.depth)
        self.promotions_seen: dict[Key, tuple[Any, ...]] = {}
        self.watchers: dict[Key, set[Key]] = {}  # ModelDeployment -> promotions
        self.reads: dict[Key, set[Key]] = {}  # promotion -> its ModelDeployments
        self.sweeper: asyncio.Task[None] | None = None
        self.elector: LeaderElector | None = None
        self.election: asyncio.Task[None] | None = None
        self.health: web.AppRunner | None = None
        self.working = False

    def start_work(self) -> None:
        """Run the queues (this replica leads). Keys kopf enqueued while it was a
        standby are waiting in them: every object is reconciled at once."""
        if not self.members.sharded:
            # A shard's ModelDeployment may have moved in from another shard, with the
            # children that one wrote: a shard reads them as before.
            self.controller.observer.writing_since = datetime.now(UTC)
        self.queue.start()
        self.promotions.start()
        self.working = True
        telemetry.LEADER.set(1)

    def report(self) -> health.Report:
        failed = ""
        task = self.election
        if task is not None and task.done() and not task.cancelled() and task.exception():
            failed = repr(task.exception())
        leader = self.elector.may_write() if self.elector is not None else self.working
        return health.Report(started=True, leader=leader, election_failed=failed)

    async def _reconcile(self, key: Key) -> float | None:
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(self.executor, self.reconcile, *key)
        return result.requeue_after

    async def _promote(self, key: Key) -> float | None:
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(self.executor, self.promote, *key)
        if key not in self.promotions_seen:
            # Deleted, or relabelled out of this shard: that was its last reconcile.
            self.promotions.forget(key)
            return None
        if any(self._unwatched(md) for md in self.reads.get(key, ())):
            # A ModelDeployment outside this shard (a source in another environment's
            # shard) sends this operator no events: look at it every check interval.
            return min(result.requeue_after or CHECK_INTERVAL, CHECK_INTERVAL)
        return result.requeue_after

    def _unwatched(self, md: Key) -> bool:
        return not self.shard.holds_namespace(md[0]) or not self.members.serves(md)

    def watch(self, promotion: Key, deployments: set[Key]) -> None:
        for watched in self.watchers.values():
            watched.discard(promotion)
        for md in deployments:
            self.watchers.setdefault(md, set()).add(promotion)
        if deployments:
            self.reads[promotion] = deployments
        else:
            self.reads.pop(promotion, None)

    def deployment_changed(self, md: Key) -> None:
        for promotion in self.watchers.get(md, ()):
            self.promotions.add(promotion)


_state: _Runtime | None = None


def _runtime() -> _Runtime:
    if _state is None:
        raise RuntimeError("operator not started")
    return _state


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, **_: Any) -> None:
    global _state
    settings.posting.level = logging.WARNING
    settings.watching.server_timeout = 300
    settings.networking.request_timeout = 60
    # A restarting API server answers 429 for a while: kopf's default retries wait up
    # to 13-21 s each, so watches (and manual commands) lagged ~30 s behind /readyz.
    # Retry at most 3 s apart, for about as long in total (~50 s) before giving up.
    settings.networking.error_backoffs = WATCH_RETRY_BACKOFFS
    # The operator writes its own Events; kopf must not write anything (a standby
    # writes nothing at all).
    settings.posting.enabled = False
    shard = options.shard
    if shard.selector is not None:
        # The API server filters these two watches: another shard's objects never arrive,
        # and one whose labels stop matching arrives as DELETED.
        for plural in (PLURAL, PROMOTION_PLURAL):
            settings.watching.label_selectors[GROUP, VERSION, plural] = str(shard.selector)
    _state = state = _Runtime(shard, workers=options.workers)
    if state.members.sharded:
        state.sweeper = asyncio.create_task(state.keeper.sweep())
    telemetry.LEADER.set(0)
    election = options.leader_election
    if election is None:
        state.start_work()
    else:
        identity = f"{state.kube.instance}_{uuid.uuid4().hex[:10]}"
        state.elector = LeaderElector(
            state.kube,
            election.namespace,
            election.lease_name,
            identity,
            election.timing,
            scope=shard.key(),
        )
        fence.install(state.elector.may_write)
        state.election = asyncio.create_task(
            state.elector.run(on_started=state.start_work, on_lost=_lost)
        )
        state.election.add_done_callback(_election_ended)
    if options.health_address:
        state.health = await health.serve(options.health_address, state.report)
    lease = f"; lease {election.namespace}/{election.lease_name}" if election else ""
    log.info("modelship operator started: serving %s%s", shard.describe(), lease)


def _election_ended(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        # /healthz now fails, so the kubelet restarts this replica.
        log.error("leader election stopped: %r", task.exception())


def _lost() -> None:
    telemetry.LEADER.set(0)
    if options.stop is not None:
        options.stop.set()


def leadership_lost() -> bool:
    return _state is not None and _state.elector is not None and _state.elector.lost


@kopf.on.cleanup()
async def cleanup(**_: Any) -> None:
    state = _state
    if state is None:
        return
    if state.elector is not None:
        # Stop writing and hand the lease over before anything else: the standby
        # takes over while this process is still winding down.
        await state.elector.release()
        telemetry.LEADER.set(0)
    if state.election is not None:
        state.election.cancel()
    if state.sweeper is not None:
        state.sweeper.cancel()
    if state.working:
        await state.queue.stop()
        await state.promotions.stop()
    state.executor.shutdown(wait=False, cancel_futures=True)
    if state.health is not None:
        await state.health.cleanup()


def _essence(body: kopf.Body) -> tuple[Any, ...]:
    """What, when changed, needs a reconcile: not status, not resourceVersion."""
    meta = body.get("metadata", {})
    annotations = {
        k: v
        for k, v in (meta.get("annotations") or {}).items()
        if not k.startswith("kopf.zalando.org/")
    }
    return (
        meta.get("generation"),
        tuple(sorted(annotations.items())),
        meta.get("deletionTimestamp"),
    )


@kopf.on.event(GROUP, VERSION, PLURAL)
async def model_deployment_event(type: str | None, body: kopf.Body, **_: Any) -> None:
    state = _runtime()
    key = (body["metadata"]["namespace"], body["metadata"]["name"])
    # Promotions read its status (stable revision, conditions, drift) and its spec.
    state.deployment_changed(key)
    observer = state.controller.observer
    if type == "DELETED":
        observer.bodies.gone(*key)
        state.seen.pop(key, None)
        state.queue.forget(key)
        state.members.leave(key)
        if state.members.sharded:
            await state.keeper.left(key)
        return
    observer.bodies.seen(body)
    if state.members.serve(key):
        state.seen[key] = _essence(body)
        await state.keeper.prime(key)  # then reconciled
        return
    essence = _essence(body)
    if state.seen.get(key) != essence:
        state.seen[key] = essence
        state.queue.add(key, urgent=True)


@kopf.on.event(GROUP, VERSION, PROMOTION_PLURAL)
async def model_promotion_event(type: str | None, body: kopf.Body, **_: Any) -> None:
    """Spec and annotations (approvals) changed: reconcile it; remember which
    ModelDeployments it reads and writes."""
    state = _runtime()
    meta = body["metadata"]
    key = (meta["namespace"], meta["name"])
    if type == "DELETED":
        state.promotions_seen.pop(key, None)
        state.watch(key, set())
        state.promotions.add(key)  # one last reconcile drops its metrics and histories
        return
    spec = body.get("spec") or {}
    refs = {
        (str(ref.get("namespace") or key[0]), str(ref.get("name")))
        for ref in (spec.get("from") or {}, spec.get("to") or {})
    }
    state.watch(key, refs)
    essence = _essence(body)
    if state.promotions_seen.get(key) != essence:
        state.promotions_seen[key] = essence
        state.promotions.add(key, urgent=True)


_CHILD_LABELS: dict[str, Any] = {
    MANAGED_BY: MANAGER,
    MODEL_DEPLOYMENT: kopf.PRESENT,
}


def _child_changed(type_: str | None, body: kopf.Body) -> None:
    """Refresh the cache, then enqueue the owner so it sees the refreshed entry; a
    child of another shard's ModelDeployment is neither (modelship.sharding)."""
    state = _runtime()
    meta = body["metadata"]
    owner = (meta.get("labels") or {}).get(MODEL_DEPLOYMENT)
    verdict = state.members.child((meta["namespace"], owner or ""), time.monotonic())
    if not verdict.cache:
        return
    if type_ == "DELETED":
        state.cache.delete(dict(body))
    else:
        state.cache.put(dict(body))
    if owner and verdict.enqueue:
        state.queue.add((meta["namespace"], owner))


@kopf.on.event("apps", "v1", "deployments", labels=_CHILD_LABELS)
async def child_deployment_event(type: str | None, body: kopf.Body, **_: Any) -> None:
    _child_changed(type, body)


@kopf.on.event("", "v1", "services", labels=_CHILD_LABELS)
async def child_service_event(type: str | None, body: kopf.Body, **_: Any) -> None:
    _child_changed(type, body)


@kopf.on.event("autoscaling", "v2", "horizontalpodautoscalers", labels=_CHILD_LABELS)
async def child_hpa_event(type: str | None, body: kopf.Body, **_: Any) -> None:
    """An HPA's counts (status.autoscaling) and a scale it made reach the owner."""
    _child_changed(type, body)


@kopf.on.event("batch", "v1", "jobs", labels=_CHILD_LABELS)
async def retraining_job_event(type: str | None, body: kopf.Body, **_: Any) -> None:
    """A retraining Job started, finished or went: its owner records it (not cached)."""
    meta = body["metadata"]
    owner = (meta.get("labels") or {}).get(MODEL_DEPLOYMENT)
    state = _runtime()
    if owner and state.members.serves((meta["namespace"], owner)):
        state.queue.add((meta["namespace"], owner))


@kopf.on.event("batch", "v1", "jobs", labels={MANAGED_BY: MANAGER, PROMOTION: kopf.PRESENT})
async def evaluation_job_event(type: str | None, body: kopf.Body, **_: Any) -> None:
    """A promotion's evaluation Job started, finished or went."""
    meta = body["metadata"]
    owner = (meta.get("labels") or {}).get(PROMOTION)
    state = _runtime()
    key = (meta["namespace"], owner or "")
    if owner and (not state.members.sharded or key in state.promotions_seen):
        state.promotions.add(key)


@kopf.on.event("gateway.networking.k8s.io", "v1", "httproutes", labels=_CHILD_LABELS)
async def child_route_event(type: str | None, body: kopf.Body, **_: Any) -> None:
    """Routes are cached for their weights (read back into status) and for pruning.
    Without the Gateway API CRDs kopf serves nothing here until they appear."""
    _child_changed(type, body)


@kopf.on.event("", "v1", "pods", labels=_CHILD_LABELS)
async def runtime_pod_event(type: str | None, body: kopf.Body, **_: Any) -> None:
    _child_changed(type, body)
