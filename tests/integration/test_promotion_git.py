"""ModelPromotion through Git on the local control plane: real git, a real repository
served over smart HTTP with Basic authentication (testenv/gitserver.py), and a GitOps
tool played by the test: it "syncs" by server-side applying the repository's manifests,
as Argo CD does with its own field manager. The target carries Argo CD's tracking
label, which a direct promotion refuses and a Git one is made for."""

from __future__ import annotations

import base64
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelship_testenv.gitserver import GitServer
from modelship_testenv.harness import OperatorProcess
from tests.integration.conftest import Kubectl, wait_for
from tests.integration.manifests import dump, model_deployment
from tests.integration.test_promotion import deploy, mpromo, prod, promotion, version, wait_phase
from tests.integration.test_serving import md, wait_ready

pytestmark = pytest.mark.cluster
__all__ = ["prod"]  # a fixture used by name

USER, TOKEN = "promoter", "t0ken-for-tests"
HEADER = """\
# Production's fraud scorer. Promotions change spec.model; people change the rest.
"""


def git(cwd: Path, *args: str, token: str = TOKEN) -> subprocess.CompletedProcess[str]:
    basic = base64.b64encode(f"{USER}:{token}".encode()).decode()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(cwd),
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_COUNT": "3",
        "GIT_CONFIG_KEY_0": "http.extraHeader",
        "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}",
        "GIT_CONFIG_KEY_1": "user.name",
        "GIT_CONFIG_VALUE_1": "platform team",
        "GIT_CONFIG_KEY_2": "user.email",
        "GIT_CONFIG_VALUE_2": "platform@example.com",
    }
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
    return done


class Environments:
    """A repository with one directory per environment, and the GitOps tool's sync."""

    def __init__(self, server: GitServer, root: Path, kubectl: Kubectl) -> None:
        self.server, self.kubectl = server, kubectl
        self.url = f"{server.url}/envs.git"
        self.work = root / "work"
        git(root, "init", "--quiet", "--bare", "--initial-branch=main", str(root / "srv/envs.git"))
        git(root, "clone", "--quiet", self.url, str(self.work))

    def write(self, path: str, obj: dict[str, Any], message: str) -> None:
        file = self.work / path
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(HEADER + yaml.safe_dump(obj, sort_keys=False))
        git(self.work, "add", path)
        git(self.work, "commit", "--quiet", "-m", message)
        git(self.work, "push", "--quiet", "origin", "HEAD:main")

    def pull(self) -> None:
        git(self.work, "pull", "--quiet", "--ff-only", "origin", "main")

    def log(self) -> list[str]:
        self.pull()
        return git(self.work, "log", "--format=%H %s").stdout.splitlines()

    def sync(self, directory: str, namespace: str) -> None:
        """What Argo CD does on a sync: apply the directory's manifests, server-side."""
        self.pull()
        done = self.kubectl.run(
            "apply",
            "--server-side",
            "--field-manager=argocd-controller",
            "--force-conflicts",
            "-n",
            namespace,
            "-f",
            str(self.work / directory),
            check=False,
        )
        assert done.returncode == 0, done.stderr


@pytest.fixture
def envs(kubectl: Kubectl, tmp_path: Path) -> Iterator[Environments]:
    (tmp_path / "srv").mkdir()
    with GitServer(tmp_path / "srv", USER, TOKEN) as server:
        yield Environments(server, tmp_path, kubectl)


def target_manifest(v: str) -> dict[str, Any]:
    obj = model_deployment("fraud", model=version(v))
    obj["metadata"]["labels"] = {"app.kubernetes.io/instance": "prod-fraud"}  # Argo CD's
    return obj


def git_promotion(name: str, staging: str, envs: Environments, **git: Any) -> dict[str, Any]:
    strategy = {"git": {"repoURL": envs.url, "path": "prod/fraud.yaml", **git}}
    return promotion(name, staging, strategy=strategy)


def reconciled(kubectl: Kubectl, ns: str, name: str) -> str:
    """The message of the promotion's Reconciled condition (what the last reconcile hit)."""
    status = mpromo(kubectl, ns, name).get("status") or {}
    found = [c for c in status.get("conditions", []) if c["type"] == "Reconciled"]
    return str(found[0].get("message", "")) if found else ""


def wait_reconciled(kubectl: Kubectl, ns: str, words: str) -> str:
    """Until to-prod's Reconciled condition says ``words``; its message."""

    def said() -> str | None:
        message = reconciled(kubectl, ns, "to-prod")
        return message if words in message else None

    return wait_for(f"Reconciled to say {words!r}", said, timeout=60)


def credentials(kubectl: Kubectl, ns: str, password: str) -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "envs-repo"},
        "stringData": {"username": USER, "password": password},
    }
    assert kubectl.apply(dump(secret), ns).returncode == 0


def environments(
    kubectl: Kubectl, envs: Environments, staging: str, prod: str, password: str = TOKEN
) -> None:
    """staging serves 1.4.0; prod 1.3.0 from the repository, synced; the credentials."""
    deploy(kubectl, staging, "1.4.0")
    envs.write("prod/fraud.yaml", target_manifest("1.3.0"), "prod: fraud 1.3.0")
    envs.sync("prod", prod)
    wait_ready(kubectl, prod, "fraud")
    credentials(kubectl, prod, password)


def test_a_promotion_through_git_commits_once_and_succeeds_after_the_sync(
    kubectl: Kubectl,
    running_operator: OperatorProcess,
    namespace: str,
    prod: str,
    envs: Environments,
) -> None:
    staging = namespace
    environments(kubectl, envs, staging, prod, password="not-the-token")
    obj = git_promotion("to-prod", staging, envs, secretRef={"name": "envs-repo"})
    assert kubectl.apply(dump(obj), prod).returncode == 0

    # A refused token: said in the Reconciled condition, nothing committed, retried.
    assert "secretRef" in wait_reconciled(kubectl, prod, "refused the credentials")
    assert len(envs.log()) == 1
    credentials(kubectl, prod, TOKEN)

    def committed() -> dict[str, Any] | None:
        run = (mpromo(kubectl, prod, "to-prod").get("status") or {}).get("evidence") or {}
        return run if run.get("target", {}).get("commit") else None

    run = wait_for("the commit recorded in the evidence", committed, timeout=90)
    sha = run["target"]["commit"]
    log = envs.log()
    assert log[0] == f"{sha} Promote fraud-scorer 1.4.0 to {prod}/fraud" and len(log) == 2
    message = git(envs.work, "log", "-1", "--format=%B").stdout
    assert f"Modelship-Promotion: {prod}/to-prod#1" in message
    text = (envs.work / "prod/fraud.yaml").read_text()
    assert text.startswith(HEADER) and "version: 1.4.0" in text
    assert f"modelship.io/promoted-by: {prod}/to-prod#1" in text
    assert run["target"]["changedBy"] == f"git ({envs.url} main:prod/fraud.yaml)"
    # Not synced yet: the cluster still runs 1.3.0, and the promotion says it waits.
    status = mpromo(kubectl, prod, "to-prod")["status"]
    assert (
        status["phase"] == "Promoting"
        and "waiting for the cluster to apply it" in (status["message"])
    )
    assert md(kubectl, prod, "fraud")["spec"]["model"]["version"] == "1.3.0"

    envs.sync("prod", prod)
    done = wait_phase(kubectl, prod, "to-prod", "Succeeded", timeout=90)
    evidence = done["status"]["evidence"]
    assert evidence["reason"] == "TargetRolledOut" and evidence["target"]["commit"] == sha
    assert len(envs.log()) == 2  # exactly one commit, however many reconciles there were
    target = md(kubectl, prod, "fraud")
    assert target["status"]["history"][0]["promotion"] == f"{prod}/to-prod#1"
    pushes = [r for r in envs.server.requests if r[1].endswith("git-receive-pack")]
    assert [status for *_, status in pushes] == [200, 200]  # the test's first, the operator's


def test_a_commit_the_cluster_never_applies_fails_the_run(
    kubectl: Kubectl,
    running_operator: OperatorProcess,
    namespace: str,
    prod: str,
    envs: Environments,
) -> None:
    environments(kubectl, envs, namespace, prod)
    obj = git_promotion(
        "to-prod", namespace, envs, secretRef={"name": "envs-repo"}, syncTimeout="5s"
    )
    assert kubectl.apply(dump(obj), prod).returncode == 0
    failed = wait_phase(kubectl, prod, "to-prod", "Failed", timeout=60)
    assert failed["status"]["evidence"]["reason"] == "TargetNotSynced"
    assert "within 5s (spec.strategy.git.syncTimeout)" in failed["status"]["message"]
    assert md(kubectl, prod, "fraud")["spec"]["model"]["version"] == "1.3.0"


def test_a_file_without_the_target_is_reported_naming_it(
    kubectl: Kubectl,
    running_operator: OperatorProcess,
    namespace: str,
    prod: str,
    envs: Environments,
) -> None:
    deploy(kubectl, namespace, "1.4.0")
    deploy(kubectl, prod, "1.3.0")
    other = model_deployment("other", model=version("0.1.0"))
    envs.write("prod/fraud.yaml", other, "prod: the wrong file")
    credentials(kubectl, prod, TOKEN)
    obj = git_promotion("to-prod", namespace, envs, secretRef={"name": "envs-repo"})
    assert kubectl.apply(dump(obj), prod).returncode == 0

    said = wait_reconciled(kubectl, prod, "holds no ModelDeployment fraud")
    assert "prod/fraud.yaml" in said
    assert len(envs.log()) == 1
