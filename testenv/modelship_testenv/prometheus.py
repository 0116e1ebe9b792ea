"""A real Prometheus (Debian's package) scraping the runtime pods of the dev cluster.

Debian builds Prometheus without its Kubernetes service discovery, so the pod runner
writes the targets for file-based discovery instead: every running runtime pod at
``podIP:prometheus.io/port`` + ``prometheus.io/path`` (the annotations the operator
puts on pods), labelled namespace, pod and model_deployment, as a relabelled
Kubernetes discovery would.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from modelship_testenv.cluster import free_port

SCRAPE_INTERVAL = "1s"


def config(targets_file: Path) -> dict[str, Any]:
    return {
        "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL},
        "scrape_configs": [
            {
                "job_name": "modelship-runtime",
                "file_sd_configs": [{"files": [str(targets_file)], "refresh_interval": "1s"}],
            }
        ],
    }


class PrometheusProcess:
    """Prometheus scraping the targets in ``targets_file`` (written by the pod runner)."""

    def __init__(self, state_dir: Path, targets_file: Path) -> None:
        self.dir = state_dir
        self.targets_file = targets_file
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self, timeout: float = 30) -> str:
        binary = shutil.which("prometheus")
        if binary is None:
            raise RuntimeError("prometheus is not installed (apt-get install prometheus)")
        self.dir.mkdir(parents=True, exist_ok=True)
        if not self.targets_file.exists():
            self.targets_file.write_text("[]")
        (self.dir / "prometheus.yml").write_text(yaml.safe_dump(config(self.targets_file)))
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        with open(self.dir / "prometheus.log", "ab") as log:
            self.proc = subprocess.Popen(
                [
                    binary,
                    f"--config.file={self.dir / 'prometheus.yml'}",
                    f"--storage.tsdb.path={self.dir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                    "--storage.tsdb.retention.time=2h",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/-/ready", timeout=1) as resp:
                    if resp.status == 200:
                        return self.url
            except OSError:
                if self.proc.poll() is not None:
                    where = self.dir / "prometheus.log"
                    raise RuntimeError(f"prometheus exited; see {where}") from None
            time.sleep(0.2)
        raise RuntimeError(f"prometheus not ready after {timeout}s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
