"""The ModelPromotion controller: observe (observe/promotion.py), decide
(decisions/promotion.py, pure), run by the kernel's one executor."""

from __future__ import annotations

import logging
from datetime import datetime

from modelship import telemetry
from modelship.api.promotion_status import ModelPromotionStatus
from modelship.decisions import promotion
from modelship.decisions.promotion_types import Snapshot
from modelship.decisions.shard import Shard
from modelship.gitops import GitRepos
from modelship.kernel.executor import Executor
from modelship.kernel.loop import Reconcile
from modelship.kernel.plan import Plan, Target
from modelship.kube import Kube
from modelship.observe.promotion import PromotionObserver

log = logging.getLogger(__name__)


class ModelPromotionController:
    kind = "ModelPromotion"

    def __init__(self, kube: Kube, git: GitRepos, shard: Shard | None = None) -> None:
        self.observer = PromotionObserver(kube, git=git, shard=shard)
        # (namespace, name) -> its source, for dropping the checks' scrape history.
        self.sources: dict[tuple[str, str], tuple[str, str]] = {}

    def target(self, namespace: str, name: str) -> Target | None:
        target = self.observer.target(namespace, name)
        if target is None:
            telemetry.forget(namespace, name, kind=telemetry.PROMOTION)
            source = self.sources.pop((namespace, name), None)
            if source is not None:
                self.observer.forget(source, namespace, name)
        return target

    def observe(self, target: Target, now: datetime) -> Snapshot:
        snapshot = self.observer.observe(target, now)
        self.sources[(target.ref.namespace, target.ref.name)] = snapshot.source_ref
        return snapshot

    def decide(self, snapshot: Snapshot, now: datetime) -> Plan:
        return promotion.decide(snapshot, now)

    def rejected(self, snapshot: Snapshot, message: str, now: datetime) -> Plan:
        return promotion.invalid(snapshot, message, now)

    def done(self, snapshot: Snapshot, plan: Plan) -> None:
        if plan.status is None or plan.status == dict(snapshot.target.status):
            return
        ref = snapshot.target.ref
        status = ModelPromotionStatus.model_validate(plan.status)
        log.info("%s/%s: phase %s: %s", ref.namespace, ref.name, status.phase, status.message)
        telemetry.promotion(ref.namespace, ref.name, snapshot.previous.evidence, status.evidence)


def model_promotion_reconcile(
    kube: Kube, executor: Executor | None = None, shard: Shard | None = None
) -> Reconcile[Snapshot]:
    """The reconcile the work queue runs per ModelPromotion key. One set of Git clones
    serves observing (finding a run's commit) and executing (making it)."""
    git = GitRepos(kube)
    return Reconcile(
        ModelPromotionController(kube, git, shard), executor or Executor(kube, git=git)
    )
