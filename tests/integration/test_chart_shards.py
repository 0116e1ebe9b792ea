"""Two chart releases, one shard each (``watchSelector``), side by side in one
namespace: nothing they create clashes, and each operator, run with its release's own
arguments and ServiceAccount token, serves only its shard with nothing refused."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from modelship_testenv.cluster import free_port
from modelship_testenv.harness import OperatorProcess
from tests.integration.conftest import Kubectl, fresh_namespace
from tests.integration.test_chart import CHART, helm_binary, helm_run
from tests.integration.test_promotion import user_kubeconfig
from tests.integration.test_serving import wait_ready
from tests.integration.test_sharding import (
    SHARD_LABEL,
    Operator,
    apply_md,
    others_stopped,
    owners,
    stop_all,
    wait_leading,
    written,
)

pytestmark = pytest.mark.cluster
__all__ = ["others_stopped"]  # a fixture used by name


def release_operator(kubectl: Kubectl, ns: str, release: str, log_dir: Path) -> Operator:
    """`modelship operator` with the release's Deployment arguments and its
    ServiceAccount's token: what its pod would run, as a process here."""
    deployment = kubectl.json(
        "get", "deployment", "-n", ns, "-l", f"app.kubernetes.io/instance={release}"
    )["items"][0]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    args, lease, metrics = [], "", ""
    for arg in container["args"][1:]:  # [0] is the subcommand
        if arg.startswith(("--health-address=", "--metrics-address=")):
            address = f"127.0.0.1:{free_port()}"
            metrics = address if arg.startswith("--metrics") else metrics
            arg = arg.split("=")[0] + f"={address}"
        if arg.startswith("--leader-elect-lease-name="):
            lease = arg.split("=", 1)[1]
        args.append(arg)
    sa = deployment["spec"]["template"]["spec"]["serviceAccountName"]
    name = f"{release}-op"
    proc = OperatorProcess(
        user_kubeconfig(kubectl, ns, sa, log_dir / f"{sa}.kubeconfig"),
        log_dir / f"{name}.log",
        args,
        env={"POD_NAME": name, "MODELSHIP_GIT_CACHE": str(log_dir / name / "git")},
    )
    return Operator(name, lease, ns, proc, metrics)


def test_two_chart_releases_serve_two_shards(
    kubectl: Kubectl, others_stopped: None, namespace: str, tmp_path: Path
) -> None:
    """Both releases in one namespace, one selector each: nothing they create clashes
    (names are the release's), each runs with its own identity and Lease, and each
    serves its shard with nothing refused. The CRDs and approval policy are the
    session's (crds/), as a first release's would be."""
    helm = helm_binary()
    releases = {"shard-a": "a", "shard-b": "b"}
    with fresh_namespace(kubectl, "mshard") as ns:
        try:
            for release, shard in releases.items():
                helm_run(
                    helm,
                    kubectl,
                    "install",
                    release,
                    str(CHART),
                    "-n",
                    ns,
                    "--wait=false",
                    "--set",
                    "crds.install=false",
                    "--set",
                    "approvalPolicy.enabled=false",
                    "--set",
                    f"watchSelector={SHARD_LABEL}={shard}",
                )
            ops = [release_operator(kubectl, ns, r, tmp_path) for r in releases]
            assert len({op.lease for op in ops}) == 2, [op.lease for op in ops]
            for op in ops:
                op.proc.start()
            try:
                for op in ops:
                    wait_leading(kubectl, op)
                for shard in releases.values():
                    apply_md(kubectl, namespace, f"m{shard}", {SHARD_LABEL: shard})
                for shard in releases.values():
                    wait_ready(kubectl, namespace, f"m{shard}")
                for op, shard in zip(ops, releases.values(), strict=True):
                    assert owners(written(op, kubectl), namespace) == {f"m{shard}"}
            finally:
                stop_all(ops)
            for op in ops:
                assert "forbidden" not in op.log().lower(), op.log()[-3000:]
        finally:
            for release in releases:
                subprocess.run(
                    [
                        str(helm),
                        "--kubeconfig",
                        str(kubectl.kubeconfig),
                        "uninstall",
                        release,
                        "-n",
                        ns,
                    ],
                    capture_output=True,
                    timeout=120,
                )
