"""Two local clusters at once (say `make demo` beside `make test`): each hands its pods
IPs from its own loopback range, and the pod runner never starts a runtime on an address
another process already holds."""

from __future__ import annotations

import ipaddress
import json
import socket
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modelship.kube import connect
from modelship.render.labels import MANAGED_BY, MANAGER
from modelship_testenv import Cluster
from modelship_testenv.podrunner import PodRunner
from tests.integration.conftest import Kubectl, wait_for

pytestmark = pytest.mark.cluster


def runtime_pod(name: str, model_name: str) -> str:
    """A bare runtime pod the pod runner backs; its runtime answers for ``model_name``."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {MANAGED_BY: MANAGER}},
        "spec": {
            "containers": [
                {
                    "name": "runtime",
                    "image": "modelship-runtime:dev",
                    "env": [{"name": "MODELSHIP_MODEL_NAME", "value": model_name}],
                    "ports": [{"containerPort": 8080}],
                }
            ]
        },
    }
    return json.dumps(pod)


def pod_ip(kubectl: list[str], ns: str, name: str) -> str:
    def ip() -> str:
        done = subprocess.run(
            [*kubectl, "get", "pod", name, "-n", ns, "-o", "json"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        status = json.loads(done.stdout or "{}").get("status") or {}
        return str(status.get("podIP") or "") if status.get("phase") == "Running" else ""

    return wait_for(f"pod {ns}/{name} Running with an IP", ip, timeout=60)


def answers_for(ip: str, model_name: str) -> bool:
    """Whether the process at ip:8080 is the runtime for ``model_name``."""
    try:
        with urllib.request.urlopen(f"http://{ip}:8080/v2/models/{model_name}", timeout=2) as r:
            return bool(json.loads(r.read())["name"] == model_name)
    except (OSError, ValueError):
        return False


def kwok_cidr(cluster: Cluster) -> str:
    """The --cidr the cluster's kwok process really runs with."""
    kwok = next(p for p in cluster.processes() if p.name == "kwok")
    argv = Path(f"/proc/{kwok.pid}/cmdline").read_bytes().decode().split("\0")
    return next(a.removeprefix("--cidr=") for a in argv if a.startswith("--cidr="))


@pytest.fixture
def runners() -> Iterator[list[PodRunner]]:
    started: list[PodRunner] = []
    yield started
    for runner in started:
        runner.stop()


def run_pods(kubeconfig: Path, logs: Path, namespace: str, into: list[PodRunner]) -> PodRunner:
    runner = PodRunner(connect(pool_size=2, kubeconfig=str(kubeconfig)), logs, namespace=namespace)
    runner.start()
    into.append(runner)
    return runner


def test_a_second_cluster_gets_its_own_pod_range_and_its_own_processes(
    kubectl: Kubectl, namespace: str, tmp_path: Path, runners: list[PodRunner]
) -> None:
    first = kubectl.cluster
    if first is None:
        pytest.skip("the tests run on an external cluster: no local pod range to share")
    second = Cluster(tmp_path / "second")
    second.up(gateway_api=False)
    try:
        ranges = [kwok_cidr(first), kwok_cidr(second)]
        assert not ipaddress.ip_network(ranges[0]).overlaps(ipaddress.ip_network(ranges[1]))
        assert ranges == [first.pod_cidr, second.pod_cidr]
        assert second.status()["podCIDR"] == ranges[1]

        kubectl.run("apply", "-n", namespace, "-f", "-", input=runtime_pod("served", "first"))
        second.kubectl("apply", "-n", "default", "-f", "-", input=runtime_pod("served", "second"))
        ips = [
            pod_ip(kubectl.argv, namespace, "served"),
            pod_ip(second.kubectl_argv(), "default", "served"),
        ]
        for ip, cidr in zip(ips, ranges, strict=True):
            assert ipaddress.ip_address(ip) in ipaddress.ip_network(cidr)

        run_pods(first.kubeconfig, tmp_path / "first-pods", namespace, runners)
        run_pods(second.kubeconfig, tmp_path / "second-pods", "default", runners)
        for ip, model_name in zip(ips, ["first", "second"], strict=True):

            def served(ip: str = ip, model_name: str = model_name) -> bool:
                return answers_for(ip, model_name)

            wait_for(f"the runtime for {model_name!r} answering at {ip}", served, timeout=30)
        assert [r.refused for r in runners] == [{}, {}]
    finally:
        for runner in runners:
            runner.stop()
        runners.clear()
        second.down(quiet=True)


def events(kubectl: Kubectl, ns: str, pod: str) -> list[dict[str, Any]]:
    found = kubectl.json(
        "get", "events", "-n", ns, "--field-selector", f"involvedObject.name={pod}"
    )
    return list(found["items"])


def test_the_pod_runner_refuses_an_address_another_process_holds(
    kubectl: Kubectl, namespace: str, tmp_path: Path, runners: list[PodRunner]
) -> None:
    kubectl.run("apply", "-n", namespace, "-f", "-", input=runtime_pod("taken", "mine"))
    ip = pod_ip(kubectl.argv, namespace, "taken")
    holder = socket.socket()
    # As any server sets it: without it, the connection closed below would keep the
    # address from everyone (TIME_WAIT) for a minute after the holder has gone.
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.bind((ip, 8080))
    holder.listen()
    try:
        runner = run_pods(kubectl.kubeconfig, tmp_path / "pods", namespace, runners)
        name = f"{namespace}/taken"
        why = wait_for("the runner to refuse the pod", lambda: runner.refused.get(name))
        assert f"{ip}:8080 is already held by another process" in why
        warned = wait_for(
            "an AddressInUse Event on the pod",
            lambda: [
                e for e in events(kubectl, namespace, "taken") if e["reason"] == "AddressInUse"
            ],
        )
        assert warned[0]["type"] == "Warning" and why in warned[0]["message"]
        assert runner.procs == {}  # no process was started for it
        assert not (tmp_path / "pods" / f"{namespace}_taken.log").exists()
        # The address still reaches the process that held it, and only that one.
        with socket.create_connection((ip, 8080), timeout=2):
            holder.settimeout(2)
            accepted, _ = holder.accept()
            accepted.close()
    finally:
        holder.close()
    # Once the address is free the pod gets its process.
    wait_for(f"the runtime answering at {ip}", lambda: answers_for(ip, "mine"), timeout=30)
    assert runner.refused == {}
