"""Run the operator as a real process against a cluster, for the demo and the tests."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from modelship_testenv.cluster import repo_root


class OperatorProcess:
    """`python -m modelship operator` with its own log file; stopped by pid."""

    def __init__(
        self,
        kubeconfig: Path,
        log_file: Path,
        extra_args: list[str] | None = None,
        module: str = "modelship",
        env: dict[str, str] | None = None,
    ):
        """``module``/``env``: another entry point with the same arguments (the chaos
        tests' modelship_testenv.crashing_operator) and what it is told."""
        self.kubeconfig = kubeconfig
        self.log_file = log_file
        self.extra_args = extra_args or []
        self.module = module
        self.env = env or {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.metrics_url: str | None = None  # set by whoever passed --metrics-address

    def start(self) -> None:
        env = {
            **os.environ,
            **self.env,
            "KUBECONFIG": str(self.kubeconfig),
            "PYTHONUNBUFFERED": "1",
        }
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", self.module, "operator", *self.extra_args],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=repo_root(),
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def wait(self, timeout: float) -> int:
        """Its exit code, once it has exited by itself (raises after ``timeout``)."""
        assert self.proc is not None
        return self.proc.wait(timeout)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: the crash case; nothing gets to clean up."""
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout: float = 15.0) -> None:
        if not self.alive():
            return
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def install_crds(kubectl: list[str]) -> None:
    """Apply crds/ and wait until the API server serves them."""
    crds = repo_root() / "crds"
    subprocess.run(
        [*kubectl, "apply", "--server-side", "--force-conflicts", "-f", str(crds)],
        check=True,
        capture_output=True,
    )
    deadline = time.monotonic() + 60
    # CRDs are named <plural>.modelship.io.yaml; beside them, the approval policy.
    for path in sorted(crds.glob("*.modelship.io.yaml")):
        name = path.name.removesuffix(".yaml")
        while True:
            done = subprocess.run(
                [*kubectl, "wait", "--for=condition=Established", f"crd/{name}", "--timeout=10s"],
                capture_output=True,
            )
            if done.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"CRD {name} not established: {done.stderr.decode()}")


def go_tool(source: Path, name: str) -> Path:
    """Build the Go program in ``source`` (a hack/ tool with its own go.mod) once per
    version of its sources; cached under ~/.cache/modelship, outside the repository."""
    go = shutil.which("go")
    if go is None:
        raise RuntimeError(f"Go is needed to build {source.name} (hack/, from Go modules)")
    digest = hashlib.sha256()
    for file in ("go.mod", "go.sum", "main.go"):
        digest.update((source / file).read_bytes())
    out = Path.home() / ".cache" / "modelship" / f"{name}-{digest.hexdigest()[:12]}"
    binary = out / name
    if not binary.exists():
        out.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [go, "build", "-trimpath", "-o", str(binary), "."],
            cwd=source,
            check=True,
            capture_output=True,
            env={**os.environ, "CGO_ENABLED": "0"},
            timeout=600,
        )
    return binary
