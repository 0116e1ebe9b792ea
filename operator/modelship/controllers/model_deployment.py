"""The ModelDeployment controller: observe (observe/model_deployment.py), decide
(decisions/model_deployment.py, pure), run by the kernel's one executor."""

from __future__ import annotations

import logging
from datetime import datetime

from modelship import telemetry
from modelship.api import ModelDeploymentStatus
from modelship.cache import ChildCache
from modelship.decisions import model_deployment
from modelship.decisions.model_deployment import Snapshot
from modelship.decisions.shard import Shard
from modelship.kernel.executor import Executor
from modelship.kernel.loop import Reconcile
from modelship.kernel.plan import CreateOnce, Plan, Target
from modelship.kube import Kube
from modelship.observe.model_deployment import DeploymentObserver

log = logging.getLogger(__name__)


class ModelDeploymentController:
    kind = "ModelDeployment"

    def __init__(
        self, kube: Kube, cache: ChildCache | None = None, shard: Shard | None = None
    ) -> None:
        self.observer = DeploymentObserver(kube, cache, shard)

    def target(self, namespace: str, name: str) -> Target | None:
        target = self.observer.target(namespace, name)
        if target is None:
            telemetry.forget(namespace, name)
        return target

    def observe(self, target: Target, now: datetime) -> Snapshot:
        return self.observer.observe(target, now)

    def decide(self, snapshot: Snapshot, now: datetime) -> Plan:
        return model_deployment.decide(snapshot, now)

    def rejected(self, snapshot: Snapshot, message: str, now: datetime) -> Plan:
        return model_deployment.invalid(snapshot, message, now)

    def done(self, snapshot: Snapshot, plan: Plan) -> None:
        """Revisions just stored are known from now on (no read to find them); the
        operator's own metrics, and one log line per status change."""
        for action in plan.actions:
            if isinstance(action, CreateOnce) and action.obj["kind"] == "ControllerRevision":
                self.observer.revisions.remember(snapshot.owner, action.obj)
        ref = snapshot.target.ref
        unchanged = plan.status is None or plan.status == dict(snapshot.target.status)
        status = (
            snapshot.previous
            if unchanged or plan.status is None
            else ModelDeploymentStatus.model_validate(plan.status)
        )
        # Gauges and zeroed counters after every reconcile, so an operator restarted
        # mid-canary shows them before anything changes.
        telemetry.canary_weights(ref.namespace, ref.name, status)
        telemetry.retraining_jobs(
            ref.namespace,
            ref.name,
            snapshot.previous.retraining,
            status.retraining,
            enabled=snapshot.spec is not None and snapshot.spec.retraining is not None,
        )
        if unchanged:
            return
        log.info(
            "%s/%s: phase %s, %s",
            ref.namespace,
            ref.name,
            status.phase,
            ", ".join(f"{c.type}={c.status}/{c.reason}" for c in status.conditions),
        )
        telemetry.rollout_outcomes(ref.namespace, ref.name, snapshot.previous, status)
        if snapshot.analysis is not None and status.analysis is not None:
            previous = snapshot.previous.analysis
            if previous is None or status.analysis.rounds != previous.rounds:
                telemetry.analysis_round(ref.namespace, ref.name, status.analysis)
        if snapshot.drift is not None and status.drift is not None:
            telemetry.drift_window(ref.namespace, ref.name, status.drift)


def model_deployment_reconcile(
    kube: Kube,
    cache: ChildCache | None = None,
    executor: Executor | None = None,
    shard: Shard | None = None,
) -> Reconcile[Snapshot]:
    """The reconcile the work queue runs per ModelDeployment key; one outside ``shard``
    is left alone as if it were gone."""
    controller = ModelDeploymentController(kube, cache, shard)
    writes = controller.observer.bodies
    return Reconcile(controller, executor or Executor(kube, cache, target_writes=writes))
