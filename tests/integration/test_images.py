"""The images, built for real with buildah (hack/images.py, `make images`) and run here:
the runtime image serves predictions and /metrics on loopback, the operator image runs
`modelship operator` against the local control plane through a canary; two builds of
one commit give one digest; what ships has no package manager, compiler or pip and
runs as a numeric non-root user.

buildah runs them with --isolation chroot, which shares this machine's network: a
container's 127.0.0.1 is the host's, as a pod's loopback would be its own.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from modelship_testenv.cluster import free_port, repo_root
from modelship_testenv.harness import OperatorProcess
from tests.integration.conftest import Kubectl, wait_for
from tests.integration.test_canary import canary_at, ctl, wait_promoted
from tests.integration.test_real_runtime import get, trained

pytestmark = pytest.mark.cluster
__all__ = ["trained"]  # fixtures used by name

STORAGE = ["--storage-driver", "vfs"]
IMAGES = repo_root() / "hack" / "images.py"


def build(target: str, context: Path, tag: str | None = None) -> dict[str, Any]:
    argv = [sys.executable, str(IMAGES), "build", target, "--context", str(context)]
    if tag:
        argv += ["--tag", tag]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout + done.stderr
    print(done.stderr)
    return json.loads(done.stdout)[0]  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    if shutil.which("buildah") is None or shutil.which("mmdebstrap") is None:
        pytest.fail("buildah and mmdebstrap are needed (hack/system-deps.sh installs them)")
    if os.geteuid() != 0:
        pytest.fail("buildah builds as root here (--isolation chroot, vfs storage)")
    ctx = tmp_path_factory.mktemp("image-context")
    return {t: build(t, ctx) for t in ("operator", "runtime")}


def buildah(*args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["buildah", *STORAGE, *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done


def test_two_builds_of_one_commit_give_one_digest(
    images: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    again = build("operator", tmp_path / "context", tag="localhost/modelship/operator:rebuilt")
    assert again["digest"] == images["operator"]["digest"]
    print(f"operator: built in {again['seconds']}s with a warm base, {again['size']}")


@contextmanager
def mounted(image: str) -> Iterator[Path]:
    ctr = buildah("from", image).stdout.strip()
    try:
        yield Path(buildah("mount", ctr).stdout.strip())
    finally:
        subprocess.run(["buildah", *STORAGE, "umount", ctr], capture_output=True)
        subprocess.run(["buildah", *STORAGE, "rm", ctr], capture_output=True)


@pytest.mark.parametrize("target", ["operator", "runtime"])
def test_what_ships(images: dict[str, dict[str, Any]], target: str) -> None:
    image = images[target]["image"]
    config = json.loads(buildah("inspect", "--type", "image", image).stdout)["OCIv1"]["config"]
    assert config["User"] == "65532:65532"
    labels = config["Labels"]
    assert labels["org.opencontainers.image.title"] == f"modelship-{target}"
    assert labels["org.opencontainers.image.version"] == "0.1.0"
    assert len(labels["org.opencontainers.image.revision"]) == 40
    with mounted(image) as root:
        for tool in ("apt", "apt-get", "dpkg", "pip", "pip3", "gcc", "cc", "make"):
            assert not (root / "usr" / "bin" / tool).exists(), tool
        assert not list((root / "opt" / "modelship" / "bin").glob("pip*"))
        assert not (root / "var" / "lib" / "dpkg").exists()
        assert (root / "usr" / "bin" / "git").exists() is (target == "operator")


@contextmanager
def container(
    image: str,
    *args: str,
    volumes: dict[Path, str] | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """`buildah run` of the image's entrypoint with ``args``; SIGTERM at the end."""
    ctr = buildah("from", image).stdout.strip()
    config = json.loads(buildah("inspect", "--type", "image", image).stdout)["OCIv1"]["config"]
    argv = ["buildah", *STORAGE, "run", "--isolation", "chroot"]
    for host, inside in (volumes or {}).items():
        argv += ["-v", f"{host}:{inside}:ro"]
    for k, v in (env or {}).items():
        argv += ["--env", f"{k}={v}"]
    argv += [ctr, "--", *config["Entrypoint"], *args]
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        subprocess.run(["buildah", *STORAGE, "rm", ctr], capture_output=True)


def output(proc: subprocess.Popen[bytes]) -> str:
    if proc.poll() is None or proc.stdout is None:
        return ""
    return proc.stdout.read().decode(errors="replace")[-3000:]


def readable(src: Path, dst: Path) -> Path:
    """A copy the image's user (65532) may read: pytest's directories are 0700."""
    shutil.copytree(src, dst)
    for path in (dst, *dst.rglob("*")):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return dst


def test_the_runtime_image_serves_predictions_and_metrics(
    images: dict[str, dict[str, Any]], trained: Path, tmp_path: Path
) -> None:
    model = readable(trained, tmp_path / "model")
    port = free_port()
    env = {
        "MODELSHIP_MODEL_NAME": "fraud-scorer",
        "MODELSHIP_MODEL_VERSION": "1.0.0",
        "MODELSHIP_TRACK": "stable",
    }
    with container(
        images["runtime"]["image"],
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--model",
        "file:///model",
        volumes={model: "/model"},
        env=env,
    ) as proc:
        base = f"http://127.0.0.1:{port}"

        def ready() -> bool:
            assert proc.poll() is None, output(proc)
            return get(f"{base}/v2/health/ready")[0] == 200

        wait_for("the runtime image ready", ready, timeout=60)
        body = json.dumps({"instances": [[100, 500, 0.5, 12]]}).encode()
        request = urllib.request.Request(
            f"{base}/v1/models/fraud-scorer:predict",
            body,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as answer:
            assert 0 < json.loads(answer.read())["predictions"][0] < 1
        _, metrics = get(f"{base}/metrics")
        assert (
            'modelship_requests_total{code="200",model="fraud-scorer",track="stable",'
            'version="1.0.0"} 1.0'
        ) in metrics


def test_the_operator_image_rolls_out_a_canary(
    images: dict[str, dict[str, Any]],
    kubectl: Kubectl,
    running_operator: OperatorProcess,
    namespace: str,
    tmp_path: Path,
) -> None:
    """The shared operator stops; the image's `modelship operator` (its default command)
    does the rollout, with a kubeconfig mounted read-only for its non-root user."""
    kubeconfig = tmp_path / "kube" / "config"
    kubeconfig.parent.mkdir()
    shutil.copy(kubectl.kubeconfig, kubeconfig)
    kubeconfig.chmod(0o644)
    kubeconfig.parent.chmod(0o755)
    health = f"127.0.0.1:{free_port()}"
    running_operator.stop()
    try:
        with container(
            images["operator"]["image"],
            "operator",
            "--health-address",
            health,
            "-n",
            namespace,
            volumes={kubeconfig.parent: "/kube"},
            env={"KUBECONFIG": "/kube/config", "POD_NAME": "operator-image"},
        ) as proc:

            def serving() -> bool:
                assert proc.poll() is None, output(proc)
                return get(f"http://{health}/readyz")[0] == 200

            wait_for("the operator image ready", serving, timeout=60)
            steps: list[dict[str, Any]] = [{"setWeight": 50}, {"pause": {}}]
            canary_at(kubectl, namespace, "imaged", 2, steps, 50)
            assert ctl(kubectl, namespace, "promote", "imaged").returncode == 0
            wait_promoted(kubectl, namespace, "imaged", "2.0.0", timeout=90)
            started = time.monotonic()
        # SIGTERM ends it cleanly (the container exits, it is not killed).
        assert proc.returncode is not None
        print(f"operator image stopped {time.monotonic() - started:.1f}s after SIGTERM")
    finally:
        running_operator.start()
    events = kubectl.json("get", "events", "-n", namespace)["items"]
    assert any(e.get("reportingInstance") == "operator-image" for e in events), "its Events"
