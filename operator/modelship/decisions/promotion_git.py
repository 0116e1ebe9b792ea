"""The Git strategy's part of a run (pure): the commit to make, and what it says.

After the gates pass, a run through Git commits the target's new spec.model to the
manifest the user names and waits for the cluster to show it: the GitOps tool that
syncs the repository applies it, and the target then carries this run's model and
promoted-by annotation (promotion.py's `_already_promoted`), as a direct change would.
The commit is found again by a marker line in its message, so a reconcile that stopped
after pushing makes no second one; its SHA is evidence.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from modelship.api.promotion import GitStrategy
from modelship.api.promotion_status import Evidence
from modelship.api.types import parse_duration
from modelship.conditions import parse_time
from modelship.decisions.promotion_types import SeenCommit, Snapshot
from modelship.kernel.plan import Commit, GitRemote, ObjectRef
from modelship.render.manifest import ModelEdit
from modelship.render.promotion import (
    PROMOTED_BY,
    PROMOTED_VERSION,
    commit_message,
    promoted_by,
    run_marker,
)

MD_API: Final = "modelship.io/v1alpha1"
# How soon to look for the commit after asking for it (nothing in the cluster changes
# when a push lands, so no watch event would bring the reconcile back).
COMMIT_RECHECK: Final = 1.0


def remote(namespace: str, git: GitStrategy) -> GitRemote:
    """The branch; the credentials' Secret is in the ModelPromotion's ``namespace``."""
    secret = (namespace, git.secret_ref.name) if git.secret_ref else None
    return GitRemote(git.repo_url, git.branch, secret)


def changed_by(git: GitStrategy) -> str:
    return f"git ({git.repo_url} {git.branch}:{git.path})"


def marker(promotion_uid: str, run: Evidence) -> str:
    return run_marker(promotion_uid, run.run)


def commit(s: Snapshot, git: GitStrategy, run: Evidence) -> Commit:
    ns, name = s.to_ref
    by = promoted_by(s.target.ref.namespace, s.target.ref.name, run.run)
    model = run.model.model_dump(mode="json", by_alias=True, exclude_none=True)
    edit = ModelEdit(
        path=git.path,
        namespace=ns,
        name=name,
        model=model,
        annotations={PROMOTED_BY: by, PROMOTED_VERSION: run.model.version},
    )
    return Commit(
        remote=remote(s.target.ref.namespace, git),
        path=git.path,
        edit=edit,
        message=commit_message(run, f"{ns}/{name}", s.target.uid),
        marker=marker(s.target.uid, run),
        author=(git.author.name, git.author.email),
        about=ObjectRef(MD_API, "ModelDeployment", ns, name),
    )


def recorded(run: Evidence, seen: SeenCommit) -> Evidence:
    """The run with its commit in the evidence."""
    if run.target.commit == seen.sha:
        return run
    target = run.target.model_copy(update={"commit": seen.sha, "committed_at": seen.committed_at})
    return run.model_copy(update={"target": target})


def sync_left(git: GitStrategy, run: Evidence, now: datetime) -> float:
    """Seconds until syncTimeout runs out for the recorded commit."""
    assert run.target.committed_at is not None
    since = (now - parse_time(run.target.committed_at)).total_seconds()
    return parse_duration(git.sync_timeout) - since
