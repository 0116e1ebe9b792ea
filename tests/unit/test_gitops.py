"""GitRepos against real git and a local bare repository (file://, no credentials)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from modelship.gitops import GitError, GitRepos
from modelship.kernel.plan import Commit, GitRemote, ObjectRef

MANIFEST = "kind: ModelDeployment\nmetadata:\n  name: fraud\nspec:\n  model:\n    version: 1.3.0\n"


def git(cwd: Path, *args: str) -> str:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(cwd),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
    }
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@e", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


@pytest.fixture
def remote(tmp_path: Path) -> GitRemote:
    bare = tmp_path / "envs.git"
    git(tmp_path, "init", "--quiet", "--bare", "--initial-branch=main", str(bare))
    work = tmp_path / "seed"
    git(tmp_path, "clone", "--quiet", str(bare), str(work))
    (work / "prod").mkdir()
    (work / "prod" / "fraud.yaml").write_text(MANIFEST)
    git(work, "add", ".")
    git(work, "commit", "--quiet", "-m", "seed")
    git(work, "push", "--quiet", "origin", "HEAD:main")
    return GitRemote(f"file://{bare}", "main")


def commit(remote: GitRemote, path: str = "prod/fraud.yaml", run: int = 1) -> Commit:
    return Commit(
        remote=remote,
        path=path,
        edit=lambda text: text.replace("1.3.0", "1.4.0"),
        message=f"Promote fraud 1.4.0\n\nModelship-Run: uid-1/{run}\n",
        marker=f"Modelship-Run: uid-1/{run}",
        author=("modelship", "modelship@localhost"),
        about=ObjectRef("modelship.io/v1alpha1", "ModelDeployment", "prod", "fraud"),
    )


def repos(tmp_path: Path) -> GitRepos:
    kube: Any = None  # no Secret is read without credentials
    return GitRepos(kube, root=tmp_path / "clones")


def log(remote: GitRemote, tmp_path: Path) -> list[str]:
    bare = remote.url.removeprefix("file://")
    return git(tmp_path, "--git-dir", bare, "log", "--format=%H %s", "main").splitlines()


def test_a_commit_is_pushed_once_and_found_again(remote: GitRemote, tmp_path: Path) -> None:
    writer = repos(tmp_path)
    assert writer.find(remote, "Modelship-Run: uid-1/1") is None
    sha = writer.commit(commit(remote))
    assert log(remote, tmp_path)[0] == f"{sha} Promote fraud 1.4.0"
    bare = remote.url.removeprefix("file://")
    shown = git(tmp_path, "--git-dir", bare, "show", "main:prod/fraud.yaml")
    assert "version: 1.4.0" in shown
    # A rerun (the reconcile died before recording the SHA) finds it and pushes nothing.
    again = repos(tmp_path).commit(commit(remote))
    assert again == sha and len(log(remote, tmp_path)) == 2
    found = writer.find(remote, "Modelship-Run: uid-1/1")
    assert found is not None and found.sha == sha and found.committed_at
    assert writer.find(remote, "Modelship-Run: uid-1/2") is None
    # Run 10's marker has run 1's as a prefix: run 1 is not found in it.
    assert writer.find(remote, "Modelship-Run: uid-1/") is None
    ten = writer.commit(commit(remote, run=10))
    found = writer.find(remote, "Modelship-Run: uid-1/1")
    assert found is not None and found.sha == sha != ten


def test_a_lock_left_by_a_killed_git_does_not_wedge_the_clone(
    remote: GitRemote, tmp_path: Path
) -> None:
    writer = repos(tmp_path)
    assert writer.find(remote, "Modelship-Run: uid-1/1") is None  # the clone exists
    (clone,) = (tmp_path / "clones").iterdir()
    (clone / ".git" / "index.lock").write_text("")  # as a SIGKILLed `git add` leaves it
    assert writer.commit(commit(remote))


def test_a_push_that_loses_a_race_starts_over_from_the_new_tip(
    remote: GitRemote, tmp_path: Path
) -> None:
    bare = Path(remote.url.removeprefix("file://"))
    # The first push is refused as if another writer got there first; later ones pass.
    hook = bare / "hooks" / "pre-receive"
    once = tmp_path / "refused-once"
    hook.write_text(f"#!/bin/sh\n[ -e {once} ] && exit 0\ntouch {once}\nexit 1\n")
    hook.chmod(0o755)
    sha = repos(tmp_path).commit(commit(remote))
    assert once.exists()
    assert log(remote, tmp_path)[0].startswith(sha)


def test_a_missing_file_or_branch_is_an_error_that_names_it(
    remote: GitRemote, tmp_path: Path
) -> None:
    with pytest.raises(GitError, match=r"has no file prod/other\.yaml"):
        repos(tmp_path).commit(commit(remote, path="prod/other.yaml"))
    with pytest.raises(GitError, match="git fetch failed"):
        repos(tmp_path).find(GitRemote(remote.url, "no-such-branch"), "x")
    assert len(log(remote, tmp_path)) == 1


def test_a_missing_repository_is_named_not_advised_about(tmp_path: Path) -> None:
    """git ends with advice ("... and the repository exists."), which was all the message
    said (found by fuzzing promotions through the API server)."""
    missing = GitRemote(f"file://{tmp_path}/nonexistent/repo.git", "main")
    with pytest.raises(GitError) as info:
        repos(tmp_path).find(missing, "x")
    message = str(info.value)
    assert "does not appear to be a git repository" in message, message
    assert "and the repository exists" not in message, message
