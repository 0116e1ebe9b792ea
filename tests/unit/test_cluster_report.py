"""A control-plane process that dies says how: signal or exit status, and its log."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from modelship_testenv.cluster import Cluster, ClusterError, ComponentDied, Process


def _died(cluster: Cluster, name: str, script: str) -> Process:
    cluster.logs.mkdir(parents=True, exist_ok=True)
    with open(cluster.logs / f"{name}.log", "ab") as log:
        child = subprocess.Popen([sys.executable, "-c", script], stdout=log, stderr=log)
    child.wait()
    cluster._children[child.pid] = child
    return Process(name, child.pid, sys.executable)


def _wait_error(cluster: Cluster, proc: Process) -> str:
    with pytest.raises(ComponentDied) as err:
        cluster._wait("readiness", lambda: False, timeout=5, procs=[proc])
    return str(err.value)


def test_a_crash_without_output_names_the_signal_and_the_binary(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path)
    proc = _died(
        cluster, "kube-apiserver", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"
    )
    start = time.monotonic()
    message = _wait_error(cluster, proc)
    assert time.monotonic() - start < 5
    assert "kube-apiserver was killed by SIGSEGV while waiting for readiness" in message
    assert "log" in message and "is empty" in message
    assert f"delete {sys.executable}" in message


def test_an_exit_with_output_shows_the_status_and_the_log_tail(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path)
    proc = _died(cluster, "etcd", "import sys; print('bind: address already in use'); sys.exit(3)")
    message = _wait_error(cluster, proc)
    assert "etcd exited with status 3 while waiting for readiness" in message
    assert "bind: address already in use" in message
    assert "is empty" not in message


def test_no_openssl_is_a_cluster_error_saying_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`make demo` and `dev-cluster up` print ClusterErrors; this was a traceback."""
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    cluster = Cluster(tmp_path / "cluster")
    with pytest.raises(ClusterError, match=r"certificates: the openssl command is missing"):
        cluster._start(tmp_path / "bin", gateway_api=False, timeout=5)
    assert cluster.processes() == []
