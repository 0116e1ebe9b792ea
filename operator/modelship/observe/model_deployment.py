"""Observe one ModelDeployment: the object, its children, revisions, pods, GPU capacity,
retraining Jobs and the metric readings a due analysis round or drift window needs.

Children come from the watch-fed cache when there is one (controller-runtime's
informer cache), else from the API server. What is read depends on what can matter:
the expensive reads (every Node and Pod for free GPUs, the Jobs, metrics) happen only
when the same pure functions the decision uses say they can change the outcome.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from modelship.api import GROUP, KIND, VERSION, ModelDeploymentSpec, ModelDeploymentStatus
from modelship.cache import ChildCache
from modelship.conditions import parse_time, rfc3339
from modelship.decisions.analysis import active, plan_round, window_pending
from modelship.decisions.commands import requested
from modelship.decisions.drift import window_due
from modelship.decisions.gpu_capacity import GpuFree, free_gpus
from modelship.decisions.model_deployment import PRUNED, Snapshot
from modelship.decisions.revisions import choose, needed
from modelship.decisions.shard import Shard
from modelship.drift.live import FeatureResult
from modelship.kernel.executor import owned_by
from modelship.kernel.plan import Obj, ObjectRef, Target
from modelship.kube import Kube
from modelship.metrics.pool import DRIFT_SCOPE
from modelship.metrics.readings import Readings
from modelship.observe.references import References
from modelship.observe.revisions import RevisionStore
from modelship.observe.watched import WatchedBodies
from modelship.observed import JobState, PodState
from modelship.render.labels import (
    MANAGED_BY,
    MANAGER,
    MODEL_DEPLOYMENT,
    REVISION,
    TRACK,
    Owner,
    selector,
)
from modelship.render.retraining import RETRAINING
from modelship.routing import router_for

log = logging.getLogger(__name__)
API_VERSION = f"{GROUP}/{VERSION}"
JOB_NAME = "batch.kubernetes.io/job-name"  # set by the Job controller on its pods
# An object created this long after this replica began to write is one whose children
# it alone can have made: the API server's clock and ours may differ by this much.
CLOCK_SKEW = timedelta(seconds=5)


def describe_validation_error(exc: ValidationError) -> str:
    """`spec.runtime.gpu.count: Input should be ...` for each problem, joined."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in ("spec", *err["loc"]))
        parts.append(f"{where}: {err['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)


def read_status(raw: Mapping[str, Any], now: datetime) -> tuple[ModelDeploymentStatus, list[str]]:
    """Status as read, and what in it had to be repaired to be read at all: unreadable
    times (api/types.py) and, failing that, each top-level field that does not validate,
    dropped (status is a cache of what was observed; the reconcile re-derives it)."""
    repaired: list[str] = []
    data = dict(raw)
    for _ in range(len(data) + 1):
        try:
            context = {"now": rfc3339(now), "repaired": repaired}
            return ModelDeploymentStatus.model_validate(data, context=context), repaired
        except ValidationError as exc:
            bad = {str(e["loc"][0]) for e in exc.errors() if e["loc"]} & set(data)
            if not bad:
                break
            repaired.extend(sorted(bad))
            data = {k: v for k, v in data.items() if k not in bad}
    return ModelDeploymentStatus(), [*repaired, "status"]


def live_revision(children: Mapping[ObjectRef, Obj], owner: Owner) -> str | None:
    """The revision the stable Deployment runs, from its label."""
    ref = ObjectRef("apps/v1", "Deployment", owner.namespace, f"{owner.name}-stable")
    found = children.get(ref)
    labels = (found or {}).get("metadata", {}).get("labels") or {}
    return labels.get(REVISION)


def previous_status(obj: Obj) -> ModelDeploymentStatus:
    try:
        return ModelDeploymentStatus.model_validate(obj.get("status") or {})
    except ValidationError:
        log.warning("ignoring unreadable status of %s", obj["metadata"]["name"])
        return ModelDeploymentStatus()


def termination_message(pods: Sequence[Obj]) -> str:
    for pod in pods:
        for c in (pod.get("status") or {}).get("containerStatuses") or []:
            message = ((c.get("state") or {}).get("terminated") or {}).get("message")
            if message:
                return str(message)
    return ""


class DeploymentObserver:
    def __init__(
        self, kube: Kube, cache: ChildCache | None = None, shard: Shard | None = None
    ) -> None:
        self.kube = kube
        self.cache = cache
        self.shard = shard or Shard()
        self.readings = Readings()
        self.references = References(kube)
        self.revisions = RevisionStore(kube)
        # When this replica began to write (the operator started, or won the lease).
        # Every child it has written since is in the cache and every ControllerRevision
        # in ``revisions``; a previous leader stopped writing before then (the fence).
        self.writing_since: datetime | None = None
        # The object as its watch last delivered it, taken instead of a GET when it
        # includes this process's last write (observe/watched.py).
        self.bodies = WatchedBodies()

    def target(self, namespace: str, name: str) -> Target | None:
        obj = self.bodies.take(namespace, name)
        if obj is None:
            obj = self.kube.get(API_VERSION, KIND, namespace, name)
        outside = obj is not None and not self.shard.admits_object(obj)
        if outside:
            # Relabelled out of this shard (or a stray enqueue): another shard's, so
            # nothing is written; as if it were gone.
            log.info("%s/%s: not in this operator's shard, left to its own", namespace, name)
        if obj is None or outside or obj["metadata"].get("deletionTimestamp"):
            self.readings.forget((namespace, name))
            return None
        status = previous_status(obj).model_dump(mode="json", by_alias=True)
        return Target(
            ref=ObjectRef(API_VERSION, KIND, namespace, name),
            uid=obj["metadata"]["uid"],
            generation=int(obj["metadata"].get("generation", 0)),
            status=status,
            obj=obj,
        )

    def observe(self, target: Target, now: datetime) -> Snapshot:
        obj = dict(target.obj)
        meta = obj["metadata"]
        owner = Owner(name=meta["name"], namespace=meta["namespace"], uid=meta["uid"])
        previous, repaired = read_status(target.status, now)
        asked = requested(meta.get("annotations") or {}, previous.commands)
        try:
            spec = ModelDeploymentSpec.model_validate(obj.get("spec") or {})
        except ValidationError as exc:
            message = describe_validation_error(exc)
            return Snapshot(
                target, owner, None, message, previous, asked, status_repaired=tuple(repaired)
            )
        children = self._children(owner)
        live = live_revision(children, owner)
        names = needed(spec, previous, asked) | ({live} if live is not None else set())
        # A ModelDeployment created since this replica began to write has no child but
        # the ones it wrote: what it does not know of does not exist, so its first
        # reconcile applies the Deployment without two reads answering 404 first. Only
        # while it has no status: once one is written (even by a write whose answer was
        # lost), what it names is read as before.
        ours = (
            previous.observed_generation is None
            and previous.stable_revision is None
            and self._created_while_writing(meta)
        )
        stored = self.revisions.read(owner, names, known_only=ours)
        stable = previous.stable_revision
        if live is None and not ours and (stable is None or stable.name not in stored):
            # The stable revision is to be derived from what runs, and the watch-fed cache
            # may not have seen the stable Deployment yet (an operator just started): ask.
            live = self._live_stable(owner)
            if live is not None and live not in stored:
                stored = self.revisions.read(owner, names | {live})
        revisions = choose(owner, spec, previous, asked, stored, live)
        router = router_for(spec)
        served = all(self.kube.serves(*kind) for kind in router.kinds)
        pod_objs = self._pods(owner)
        # A new or changed spec is acted on first: the drift window (Prometheus queries,
        # up to the provider's timeout when it hangs) is read by the next reconcile.
        acting_on_spec = previous.observed_generation != target.generation
        drift = None if acting_on_spec else self._drift_window(owner, spec, previous, now, pod_objs)
        snapshot = Snapshot(
            status_repaired=tuple(repaired),
            target=target,
            owner=owner,
            spec=spec,
            invalid=None,
            previous=previous,
            asked=asked,
            children=children,
            stored=stored,
            live_stable=live,
            pods=tuple(PodState.from_object(p) for p in pod_objs),
            routes_served=served,
            free_gpus=self._free_gpus(revisions.desired_spec)
            if revisions.starting(previous.canary) or spec.autoscaling is not None
            else None,
            drift=drift,
        )
        snapshot = self._analysis(snapshot, spec, now, pod_objs)
        jobs, results = self._jobs(owner, spec, previous, drift is not None)
        if jobs is None:
            return snapshot
        return replace(snapshot, jobs=tuple(jobs), job_results=results)

    def _created_while_writing(self, meta: Mapping[str, Any]) -> bool:
        since = self.writing_since
        created = meta.get("creationTimestamp")
        if since is None or not created or self.cache is None:
            return False
        try:
            return parse_time(str(created)) >= since + CLOCK_SKEW
        except ValueError:
            return False

    # ----- children -------------------------------------------------------------------

    def _children(self, owner: Owner) -> dict[ObjectRef, Obj]:
        """The objects of the pruned kinds this ModelDeployment owns."""
        if self.cache is not None:
            found = self.cache.children(owner.namespace, owner.name)
        else:
            found = self.read_children(owner.namespace, owner.name, pods=False)
        return {ObjectRef.of(o): o for o in found if o.get("apiVersion") and owned_by(o, owner.uid)}

    def read_children(self, namespace: str, name: str, pods: bool = True) -> list[Obj]:
        """Its children of the pruned kinds (and pods) from the API server: the path
        without a cache, and how a shard fills its cache for a ModelDeployment whose
        children it had not kept (modelship.sharding)."""
        kinds = sorted(PRUNED) + ([("v1", "Pod")] if pods else [])
        found: list[Obj] = []
        for api_version, kind in kinds:
            if not self.kube.serves(api_version, kind):
                continue  # no Gateway API CRDs: nothing of the kind can exist
            for item in self.kube.list(api_version, kind, namespace, selector(name)):
                found.append({"apiVersion": api_version, "kind": kind, **item})
        return found

    def _live_stable(self, owner: Owner) -> str | None:
        found = self.kube.get("apps/v1", "Deployment", owner.namespace, f"{owner.name}-stable")
        if found is None or not owned_by(found, owner.uid):
            return None
        return str((found["metadata"].get("labels") or {}).get(REVISION) or "") or None

    def _pods(self, owner: Owner) -> list[Obj]:
        if self.cache is not None:
            pods = self.cache.pods(owner.namespace, owner.name, selector(owner.name))
        else:
            pods = self.kube.list("v1", "Pod", owner.namespace, selector(owner.name))
        return [p for p in pods if not p["metadata"].get("deletionTimestamp")]

    def _free_gpus(self, desired: ModelDeploymentSpec) -> GpuFree | None:
        """Free GPUs of the desired revision's kind on each node (a canary starts now, or
        autoscaled tracks must not outgrow them)."""
        gpu = desired.runtime.gpu
        if gpu is None or gpu.count == 0:
            return None
        nodes = self.kube.list("v1", "Node", None)
        pods = self.kube.list(
            "v1", "Pod", None, field_selector="status.phase!=Succeeded,status.phase!=Failed"
        )
        return free_gpus(nodes, pods, gpu.resource_name, gpu.product)

    # ----- metrics ----------------------------------------------------------------------

    @staticmethod
    def metrics_urls(pods: Sequence[Obj], track: str) -> list[str]:
        """Where the scrape provider reads a track's running pods (their prometheus.io
        annotations, which the operator sets)."""
        urls = []
        for pod in pods:
            labels = pod["metadata"].get("labels") or {}
            notes = pod["metadata"].get("annotations") or {}
            ip = (pod.get("status") or {}).get("podIP")
            if labels.get(TRACK) != track or not ip or pod["status"].get("phase") != "Running":
                continue
            port, path = notes.get("prometheus.io/port"), notes.get("prometheus.io/path")
            if port and path:
                urls.append(f"http://{ip}:{port}{path}")
        return urls

    def _analysis(
        self, snapshot: Snapshot, spec: ModelDeploymentSpec, now: datetime, pods: list[Obj]
    ) -> Snapshot:
        """Readings for a due round; stable's baseline before a window starts."""
        owner, previous = snapshot.owner, snapshot.previous
        key = (owner.namespace, owner.name)
        canary, analysis = previous.canary, spec.analysis
        if not active(analysis, canary):
            self.readings.forget(key, keep=DRIFT_SCOPE)
            return snapshot
        assert analysis is not None and canary is not None
        targets = lambda track: self.metrics_urls(pods, track)  # noqa: E731
        revision = canary.revision.name
        if window_pending(analysis, canary, previous.analysis):
            self.readings.baseline(key, analysis, revision, targets)
        rnd = plan_round(analysis, canary, previous.analysis, now)
        if not rnd.due:
            return snapshot
        observed = self.readings.analysis(key, analysis, revision, rnd.window, targets)
        features: FeatureResult | None = None
        if spec.drift is not None and any(c.drift for c in analysis.checks or []):
            features = self.readings.features(
                key,
                analysis.provider,
                analysis.preset,
                "canary",
                revision,
                rnd.window,
                self.references.get(owner.namespace, spec.drift),
                targets,
            )
        return replace(snapshot, analysis=observed, canary_features=features)

    def _drift_window(
        self,
        owner: Owner,
        spec: ModelDeploymentSpec,
        previous: ModelDeploymentStatus,
        now: datetime,
        pods: list[Obj],
    ) -> FeatureResult | None:
        if spec.drift is None:
            self.readings.forget((owner.namespace, owner.name), only=DRIFT_SCOPE)
            return None
        due = window_due(spec.drift, previous.drift, now)
        if not due.due:
            return None
        return self.readings.features(
            (owner.namespace, owner.name),
            spec.analysis.provider if spec.analysis else None,
            spec.analysis.preset if spec.analysis else "modelship",
            "stable",
            DRIFT_SCOPE,
            due.window,
            self.references.get(owner.namespace, spec.drift),
            lambda track: self.metrics_urls(pods, track),
        )

    # ----- retraining Jobs ------------------------------------------------------------------

    def _jobs(
        self,
        owner: Owner,
        spec: ModelDeploymentSpec,
        previous: ModelDeploymentStatus,
        window_due_now: bool,
    ) -> tuple[list[JobState] | None, dict[str, str]]:
        """The retraining Jobs, when they can matter: one is recorded as running, or
        drift has lasted (or may reach, with this window) long enough to start one."""
        retraining = spec.retraining
        if retraining is None:
            return None, {}
        drifted = previous.drift.consecutive_drifted if previous.drift else 0
        running = previous.retraining is not None and previous.retraining.active is not None
        if not running and drifted + int(window_due_now) < retraining.trigger.drift_windows:
            return None, {}
        labels = {MANAGED_BY: MANAGER, MODEL_DEPLOYMENT: owner.name}
        jobs = []
        for obj in self.kube.list("batch/v1", "Job", owner.namespace, labels):
            number = (obj["metadata"].get("labels") or {}).get(RETRAINING, "")
            if number.isdigit() and owned_by(obj, owner.uid):
                jobs.append(JobState.from_object(obj, int(number)))
        results = {}
        recorded = (
            previous.retraining.last.name
            if previous.retraining and previous.retraining.last
            else None
        )
        for job in jobs:
            if job.finished and job.succeeded and job.name != recorded:
                pods = self.kube.list("v1", "Pod", owner.namespace, {JOB_NAME: job.name})
                results[job.name] = termination_message(pods)
        return jobs, results
