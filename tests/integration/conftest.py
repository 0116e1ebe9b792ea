"""The real control plane for integration tests, started once per test session.

Default: build (first time) and start the local control plane in a temporary
directory and stop it afterwards. With MODELSHIP_TEST_KUBECONFIG=/path the tests
use that cluster instead (it needs the fake GPU nodes described in
docs/testenv.md, or the GPU tests fail with a message saying so).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from modelship_testenv import Cluster
from modelship_testenv.cluster import free_port
from modelship_testenv.harness import OperatorProcess, install_crds

T = TypeVar("T")


@dataclass
class Kubectl:
    argv: list[str]
    kubeconfig: Path
    cluster: Cluster | None = None  # the local control plane, None for an external one

    def run(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [*self.argv, *args], input=input, capture_output=True, text=True, timeout=120
        )
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed:\n{done.stderr}")
        return done

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "-o", "json").stdout)

    def apply(self, manifest: str, namespace: str) -> subprocess.CompletedProcess[str]:
        return self.run("apply", "-n", namespace, "-f", "-", input=manifest, check=False)


def wait_for(
    what: str, probe: Callable[[], T | None], timeout: float = 60.0, interval: float = 0.2
) -> T:
    """Poll ``probe`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


def impose_quota(kubectl: Kubectl, ns: str, name: str, hard: dict[str, str]) -> None:
    """A ResourceQuota, once the quota controller has counted what exists (before that
    the API server admits everything): a real way to make the API server refuse writes."""
    quota = {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": name}}
    quota["spec"] = {"hard": hard}
    kubectl.run("apply", "-n", ns, "-f", "-", input=json.dumps(quota))
    wait_for(
        f"quota {name} to count",
        lambda: kubectl.json("get", "resourcequota", name, "-n", ns).get("status", {}).get("used"),
    )


@pytest.fixture(scope="session")
def cluster_kubectl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kubectl]:
    external = os.environ.get("MODELSHIP_TEST_KUBECONFIG")
    if external:
        binary = shutil.which("kubectl")
        if binary is None:
            pytest.fail("MODELSHIP_TEST_KUBECONFIG is set but kubectl is not on PATH")
        yield Kubectl([binary, "--kubeconfig", external], Path(external))
        return
    cluster = Cluster(tmp_path_factory.mktemp("cluster"))
    cluster.up()
    try:
        yield Kubectl(cluster.kubectl_argv(), cluster.kubeconfig, cluster)
    finally:
        cluster.down()


@pytest.fixture(scope="session")
def kubectl(cluster_kubectl: Kubectl) -> Kubectl:
    install_crds(cluster_kubectl.argv)
    return cluster_kubectl


@pytest.fixture(scope="session")
def operator(
    kubectl: Kubectl, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    metrics = f"127.0.0.1:{free_port()}"
    op = OperatorProcess(
        kubectl.kubeconfig,
        tmp_path_factory.mktemp("operator") / "operator.log",
        ["--metrics-address", metrics],
    )
    op.metrics_url = f"http://{metrics}/metrics"
    op.start()
    try:
        yield op
    finally:
        op.stop()
        print("---- operator log tail ----\n" + op.log_tail(3000))


@pytest.fixture
def running_operator(operator: OperatorProcess) -> OperatorProcess:
    """The shared operator, restarted if an earlier test killed it."""
    if not operator.alive():
        operator.start()
    return operator


@contextlib.contextmanager
def fresh_namespace(kubectl: Kubectl, prefix: str = "t") -> Iterator[str]:
    """A new namespace with its default ServiceAccount, deleted afterwards."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    kubectl.run("create", "namespace", name)
    # The controller manager makes it. After a test restarted the API server, its watches
    # come back only when client-go's backoff lets them (doubling up to 30 s, jittered up
    # to twice that): the chaos suite's 429 case once saw it 63 s after the namespace.
    wait_for(
        "the namespace's default ServiceAccount",
        lambda: kubectl.run("get", "sa", "default", "-n", name, check=False).returncode == 0,
        150,
    )
    try:
        yield name
    finally:
        kubectl.run("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def namespace(kubectl: Kubectl) -> Iterator[str]:
    with fresh_namespace(kubectl) as name:
        yield name
