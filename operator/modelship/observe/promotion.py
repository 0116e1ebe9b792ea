"""Observe for the ModelPromotion controller: the promotion, its source and target
ModelDeployments (the source's stable model from its ControllerRevision), the votes on
the current run, its evaluation Job, and the checks' readings when they are due."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from modelship.analysis.checks import Observed
from modelship.api.analysis import AnalysisSpec
from modelship.api.approvals import APPROVE_PREFIX, REJECT_PREFIX, votes
from modelship.api.deployment import ModelDeploymentSpec
from modelship.api.promotion import PROMOTION_KIND, GitStrategy, ModelPromotionSpec
from modelship.api.promotion_status import Evidence, ModelPromotionStatus, PromotedModel
from modelship.api.status import ModelDeploymentStatus
from modelship.conditions import rfc3339
from modelship.decisions import promotion_gates as gates
from modelship.decisions import promotion_git
from modelship.decisions.promotion_types import (
    DeploymentView,
    EvaluationJob,
    SeenCommit,
    Snapshot,
)
from modelship.decisions.shard import Shard
from modelship.gitops import GitError, GitRepos
from modelship.kernel.executor import owned_by
from modelship.kernel.plan import ObjectRef, Target
from modelship.kube import Kube
from modelship.metrics.readings import Readings
from modelship.observe.model_deployment import DeploymentObserver, termination_message
from modelship.observe.revisions import RevisionStore
from modelship.observed import JobState
from modelship.render.labels import MODEL_DEPLOYMENT, TRACK, Owner
from modelship.render.promotion import evaluation_job_name, evidence_name

log = logging.getLogger(__name__)
API_VERSION = "modelship.io/v1alpha1"
MD_KIND = "ModelDeployment"
JOB_NAME = "batch.kubernetes.io/job-name"
Obj = dict[str, Any]


def read_status(raw: dict[str, Any], now: datetime) -> ModelPromotionStatus:
    """Status as read; unreadable (hand-edited) status is started afresh rather than
    failing every reconcile (the evidence of finished runs is on the target too)."""
    try:
        return ModelPromotionStatus.model_validate(
            raw, context={"now": rfc3339(now), "repaired": []}
        )
    except ValidationError:
        log.warning("ignoring an unreadable ModelPromotion status")
        return ModelPromotionStatus()


def _awaiting_commit(run: Evidence) -> bool:
    """Gates passed, the target not changed yet, and no commit recorded."""
    return (
        run.outcome == "Running"
        and run.gates_passed_at is not None
        and run.promoted_at is None
        and run.target.commit is None
    )


def scope(namespace: str, name: str) -> str:
    """The scrape history of one promotion's checks on its source."""
    return f"promotion/{namespace}/{name}"


class PromotionObserver:
    def __init__(
        self,
        kube: Kube,
        readings: Readings | None = None,
        git: GitRepos | None = None,
        shard: Shard | None = None,
    ) -> None:
        self.kube = kube
        self.shard = shard or Shard()
        self.readings = readings or Readings()
        self.revisions = RevisionStore(kube)
        self.git = git or GitRepos(kube)

    def target(self, namespace: str, name: str) -> Target | None:
        obj = self.kube.get(API_VERSION, PROMOTION_KIND, namespace, name)
        if obj is None or obj["metadata"].get("deletionTimestamp"):
            return None
        if not self.shard.admits_object(obj):
            log.info("%s/%s: not in this operator's shard, left to its own", namespace, name)
            return None
        return Target(
            ref=ObjectRef(API_VERSION, PROMOTION_KIND, namespace, name),
            uid=obj["metadata"]["uid"],
            generation=int(obj["metadata"].get("generation", 0)),
            status=obj.get("status") or {},
            obj=obj,
        )

    def observe(self, target: Target, now: datetime) -> Snapshot:
        ns, name = target.ref.namespace, target.ref.name
        previous = read_status(dict(target.status), now)
        raw_spec = target.obj.get("spec") or {}
        try:
            spec = ModelPromotionSpec.model_validate(raw_spec)
        except ValidationError as exc:
            return Snapshot(
                target=target,
                spec=None,
                invalid=f"spec cannot be read: {exc.errors()[0].get('msg', exc)}",
                previous=previous,
                source_ref=(ns, ""),
                to_ref=(ns, ""),
                source=None,
                to=None,
            )
        source_ref = (spec.source.namespace or ns, spec.source.name)
        to_ref = (spec.to.namespace or ns, spec.to.name)
        if source_ref == to_ref:
            return Snapshot(
                target=target,
                spec=None,
                invalid=f"from and to both name {source_ref[0]}/{source_ref[1]}",
                previous=previous,
                source_ref=source_ref,
                to_ref=to_ref,
                source=None,
                to=None,
            )
        source_obj = self.kube.get(API_VERSION, MD_KIND, *source_ref)
        source = self._view(source_obj, stable_model=True)
        to_obj = self.kube.get(API_VERSION, MD_KIND, *to_ref)
        if to_obj is not None and not self.shard.admits_object(to_obj):
            # The promotion would write another shard's ModelDeployment (its spec.model,
            # its evidence): it belongs to the shard of its target.
            return Snapshot(
                target=target,
                spec=None,
                invalid=f"spec.to: {to_ref[0]}/{to_ref[1]} is not in this operator's shard "
                f"({self.shard.describe()}); a promotion is served with its target: give "
                "it the target's namespace and labels",
                previous=previous,
                source_ref=source_ref,
                to_ref=to_ref,
                source=None,
                to=None,
            )
        to = self._view(to_obj)
        run = previous.evidence
        running = run is not None and run.outcome == "Running"
        number = run.run if running and run is not None else previous.runs + 1
        notes = target.obj.get("metadata", {}).get("annotations") or {}
        evaluation = None
        if spec.gates.evaluation_job is not None and (running or source is not None):
            evaluation = self._evaluation(ns, evaluation_job_name(name, number), target.uid)
        checks = None
        if source is not None and source_obj is not None and self._checks_due(spec, run, now):
            checks = self._checks(target, spec, source, source_obj, now)
        stored = False
        if run is not None and run.outcome != "Running" and to is not None:
            stored = self._evidence_stored(to, ns, name, run)
        commit, git_error = None, ""
        git = spec.strategy.git
        if git is not None and run is not None and _awaiting_commit(run):
            commit, git_error = self._commit(target, git, run)
        return Snapshot(
            target=target,
            spec=spec,
            invalid="",
            previous=previous,
            source_ref=source_ref,
            to_ref=to_ref,
            source=source,
            to=to,
            approvals=tuple(votes(notes, APPROVE_PREFIX, number)),
            rejections=tuple(votes(notes, REJECT_PREFIX, number)),
            evaluation=evaluation,
            checks=checks,
            evidence_stored=stored,
            commit=commit,
            git_error=git_error,
        )

    # ----- the two ModelDeployments -------------------------------------------------------

    def _view(self, obj: Obj | None, stable_model: bool = False) -> DeploymentView | None:
        if obj is None or obj["metadata"].get("deletionTimestamp"):
            return None
        meta = obj["metadata"]
        try:
            spec = ModelDeploymentSpec.model_validate(obj.get("spec") or {})
        except ValidationError:
            return None  # a ModelDeployment the API server let through but cannot be read
        status = self._md_status(obj)
        model = None
        if stable_model and status.stable_revision is not None:
            model = self._stable_model(obj, status)
        return DeploymentView(
            namespace=meta["namespace"],
            name=meta["name"],
            uid=meta["uid"],
            generation=int(meta.get("generation", 0)),
            status=status,
            model=spec.model,
            labels=meta.get("labels") or {},
            annotations=meta.get("annotations") or {},
            stable_model=model,
            service_url=f"http://{meta['name']}.{meta['namespace']}.svc:{spec.runtime.port}",
        )

    @staticmethod
    def _md_status(obj: Obj) -> ModelDeploymentStatus:
        try:
            return ModelDeploymentStatus.model_validate(obj.get("status") or {})
        except ValidationError:
            return ModelDeploymentStatus()

    def _stable_model(self, obj: Obj, status: ModelDeploymentStatus) -> PromotedModel | None:
        """The model the stable revision serves, from its stored ControllerRevision (the
        spec may already name the next one)."""
        assert status.stable_revision is not None
        meta = obj["metadata"]
        owner = Owner(meta["name"], meta["namespace"], meta["uid"])
        revision = status.stable_revision.name
        stored = self.revisions.read(owner, [revision]).get(revision)
        if stored is None:
            return None
        try:
            return PromotedModel.model_validate((stored.get("data") or {}).get("model") or {})
        except ValidationError:
            return None

    # ----- the run's evaluation Job and evidence ------------------------------------------

    def _evaluation(self, namespace: str, job: str, uid: str) -> EvaluationJob | None:
        obj = self.kube.get("batch/v1", "Job", namespace, job)
        if obj is None or not owned_by(obj, uid):
            return None
        state = JobState.from_object(obj, 0)
        message = ""
        if state.finished:  # results, or (failed) what the program said went wrong
            pods = self.kube.list("v1", "Pod", namespace, {JOB_NAME: job})
            message = termination_message(pods)
        return EvaluationJob(state, message)

    def _commit(
        self, target: Target, git: GitStrategy, run: Evidence
    ) -> tuple[SeenCommit | None, str]:
        """The run's commit on the branch, looked for only between the gates passing
        and its SHA being recorded (a fetch per reconcile, nothing after)."""
        remote = promotion_git.remote(target.ref.namespace, git)
        try:
            found = self.git.find(remote, promotion_git.marker(target.uid, run))
        except GitError as exc:
            return None, str(exc)
        return (SeenCommit(found.sha, found.committed_at) if found else None), ""

    def _evidence_stored(self, to: DeploymentView, ns: str, name: str, run: Evidence) -> bool:
        found = self.kube.get(
            "apps/v1", "ControllerRevision", to.namespace, evidence_name(ns, name, run.run)
        )
        return found is not None

    # ----- checks on the source's stable track --------------------------------------------

    @staticmethod
    def _checks_due(spec: ModelPromotionSpec, run: Evidence | None, now: datetime) -> bool:
        if run is None or run.outcome != "Running":
            return bool(spec.gates.checks)  # a run may start now
        if run.promoted_at is not None:
            return False
        return gates.checks_due(spec, run.gates, now)

    def _checks(
        self,
        target: Target,
        spec: ModelPromotionSpec,
        source: DeploymentView,
        source_obj: Obj,
        now: datetime,
    ) -> Observed | None:
        try:
            source_spec = ModelDeploymentSpec.model_validate(source_obj.get("spec") or {})
        except ValidationError:
            return None
        base = source_spec.analysis or AnalysisSpec()
        analysis = AnalysisSpec(
            provider=base.provider, preset=base.preset, checks=spec.gates.checks
        )
        pods: Sequence[Obj] = self.kube.list(
            "v1", "Pod", source.namespace, {MODEL_DEPLOYMENT: source.name, TRACK: "stable"}
        )
        window = gates.check_window(spec, source, now)
        return self.readings.analysis(
            (source.namespace, source.name),
            analysis,
            scope(target.ref.namespace, target.ref.name),
            window,
            lambda track: DeploymentObserver.metrics_urls(pods, track),
            subject="stable",
        )

    def forget(self, source: tuple[str, str], namespace: str, name: str) -> None:
        self.readings.forget(source, only=scope(namespace, name))
