"""The Git strategy: the manifest edit, and the run from commit to sync (pure)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from modelship.api.deployment import ModelRef
from modelship.api.promotion import ModelPromotionSpec
from modelship.conditions import rfc3339
from modelship.decisions import promotion
from modelship.decisions.promotion_types import SeenCommit
from modelship.kernel.plan import Apply, Commit
from modelship.render.manifest import ManifestError, ModelEdit, set_model
from modelship.render.promotion import PROMOTED_BY
from tests.unit.test_promotion_decision import T0, V14, prod, snap, staging, status_of, then

MANIFEST = """\
# prod's fraud scorer: promotions change spec.model only
apiVersion: modelship.io/v1alpha1
kind: ModelDeployment
metadata:
  name: fraud
spec:
  replicas: 3   # sized for prod traffic
  model:
    name: fraud
    version: "1.3.0"
    uri: s3://m/fraud/1.3.0/
    digest: sha256:0123
"""

EDIT = ModelEdit(
    path="prod/fraud.yaml",
    namespace="prod",
    name="fraud",
    model={"name": "fraud", "version": "1.4.0", "uri": "s3://m/fraud/1.4.0/"},
    annotations={PROMOTED_BY: "prod/p#1"},
)


def test_the_edit_keeps_comments_and_order_and_drops_a_stale_digest() -> None:
    out = set_model(MANIFEST, EDIT)
    assert out.startswith("# prod's fraud scorer: promotions change spec.model only\n")
    assert "replicas: 3   # sized for prod traffic" in out
    assert 'version: "1.4.0"' in out and "uri: s3://m/fraud/1.4.0/" in out
    assert "digest" not in out
    assert "modelship.io/promoted-by: prod/p#1" in out


def test_the_edit_changes_only_its_document_among_several() -> None:
    other = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fraud\ndata:\n  a: b\n"
    twin = MANIFEST.replace("name: fraud\nspec", "name: fraud\n  namespace: staging\nspec")
    text = f"---\n{other}---\n{twin}---\n{MANIFEST}"
    out = set_model(text, EDIT)
    docs = out.split("---\n")[1:]
    assert docs[0] == other
    assert '"1.3.0"' in docs[1]  # the staging one is another object
    assert '"1.4.0"' in docs[2]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("kind: [", "prod/fraud.yaml is not valid YAML"),
        ("apiVersion: v1\nkind: ConfigMap\n", "holds no ModelDeployment fraud"),
        (f"---\n{MANIFEST}---\n{MANIFEST}", "more than once"),
    ],
    ids=["not-yaml", "absent", "twice"],
)
def test_an_edit_with_no_place_to_go_names_the_file(text: str, words: str) -> None:
    with pytest.raises(ManifestError, match=words):
        set_model(text, EDIT)


def git_spec(**git: Any) -> ModelPromotionSpec:
    return ModelPromotionSpec.model_validate(
        {
            "from": {"name": "fraud", "namespace": "staging"},
            "to": {"name": "fraud", "namespace": "prod"},
            "strategy": {
                "git": {"repoURL": "file:///srv/env.git", "path": "prod/fraud.yaml", **git}
            },
        }
    )


def test_gates_passed_commits_instead_of_applying() -> None:
    s = snap(git_spec(secretRef={"name": "creds"}), source=staging(), to=prod())
    plan = promotion.decide(s, T0)
    assert not any(isinstance(a, Apply) for a in plan.actions)
    (commit,) = [a for a in plan.actions if isinstance(a, Commit)]
    assert (commit.remote.url, commit.remote.branch, commit.path) == (
        "file:///srv/env.git",
        "main",
        "prod/fraud.yaml",
    )
    assert commit.remote.secret == ("prod", "creds")
    assert commit.marker == "Modelship-Run: pu/1" and commit.marker in commit.message
    assert commit.message.startswith("Promote fraud 1.4.0 to prod/fraud\n")
    assert "1.4.0" in commit.edit(MANIFEST)
    status = status_of(plan)
    assert status.phase == "Promoting" and "committing prod/fraud.yaml" in status.message
    run = status.evidence
    assert run is not None and run.gates_passed_at is not None and run.promoted_at is None
    assert run.target.changed_by == "git (file:///srv/env.git main:prod/fraud.yaml)"
    assert plan.requeue_after == pytest.approx(1.0)


def test_the_commit_is_recorded_then_waited_on_until_the_cluster_shows_it() -> None:
    first = snap(git_spec(), source=staging(), to=prod())
    plan = promotion.decide(first, T0)
    pushed = SeenCommit("ab" * 20, "2026-12-01T12:00:01+00:00")
    second = then(first, plan, commit=pushed)
    plan = promotion.decide(second, T0 + timedelta(seconds=2))
    assert not any(isinstance(a, Commit) for a in plan.actions)  # no second commit
    status = status_of(plan)
    assert status.evidence is not None and status.evidence.target.commit == "ab" * 20
    assert [e.reason for e in plan.events] == ["TargetCommitted"]
    assert "waiting for the cluster to apply it (29m59s left)" in status.message
    # The observer reads the branch no more; the SHA stays in the evidence.
    third = then(second, plan, commit=None)
    plan = promotion.decide(third, T0 + timedelta(minutes=1))
    assert not plan.actions and not plan.events
    # The GitOps tool applied the commit: the target carries this run's model and mark.
    # It still serves 1.5.0 on its stable track while it rolls 1.4.0 out.
    model = ModelRef.model_validate(V14.model_dump())
    synced = replace(prod(), model=model, annotations={PROMOTED_BY: "prod/p#1"})
    plan = promotion.decide(then(third, plan, to=synced), T0 + timedelta(minutes=2))
    status = status_of(plan)
    assert status.phase == "Promoting"
    assert status.evidence is not None
    assert status.evidence.promoted_at == rfc3339(T0 + timedelta(minutes=2))
    (event,) = plan.events
    assert event.reason == "TargetChanged" and "the GitOps tool applied the commit" in (
        event.message
    )


def test_a_commit_the_cluster_never_applies_fails_after_the_sync_timeout() -> None:
    first = snap(git_spec(syncTimeout="10m"), source=staging(), to=prod())
    plan = promotion.decide(first, T0)
    second = then(first, plan, commit=SeenCommit("cd" * 20, "2026-12-01T12:00:00+00:00"))
    plan = promotion.decide(second, T0 + timedelta(seconds=1))
    plan = promotion.decide(then(second, plan, commit=None), T0 + timedelta(minutes=10))
    status = status_of(plan)
    assert status.phase == "Failed"
    succeeded = next(c for c in status.conditions if c.type == "Succeeded")
    assert succeeded.reason == "TargetNotSynced"
    assert "did not show commit cdcdcdcdcdcd within 10m" in succeeded.message


def test_an_unreadable_branch_is_said_and_the_commit_is_asked_for_again() -> None:
    first = snap(git_spec(), source=staging(), to=prod())
    plan = promotion.decide(first, T0)
    second = then(first, plan, git_error="git fetch failed: repository not found")
    plan = promotion.decide(second, T0 + timedelta(seconds=1))
    assert [type(a) for a in plan.actions] == [Commit]
    assert "repository not found" in status_of(plan).message


def test_an_argocd_tracked_target_is_fine_through_git() -> None:
    tracked = replace(prod(), labels={"app.kubernetes.io/instance": "prod-fraud"})
    plan = promotion.decide(snap(git_spec(), source=staging(), to=tracked), T0)
    status = status_of(plan)
    assert status.phase == "Promoting"
    target = next(g for g in status.evidence.gates if g.name == "target")  # type: ignore[union-attr]
    assert "changed through Git" in target.message


def test_git_strategy_fields_are_checked() -> None:
    with pytest.raises(ValueError, match="path"):
        git_spec(path="/abs/fraud.yaml")
    with pytest.raises(ValueError, match=r"repo_url|repoURL"):
        ModelPromotionSpec.model_validate(
            {
                "from": {"name": "a"},
                "to": {"name": "b"},
                "strategy": {"git": {"repoURL": "not a url", "path": "a.yaml"}},
            }
        )
