"""A trained example model and real modelship-runtime processes on loopback."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from modelship_testenv.cluster import free_port

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("model")
    subprocess.run(
        [sys.executable, str(REPO / "examples" / "train.py"), "--out", str(out), "--rows", "4000"],
        check=True,
        capture_output=True,
    )
    return out


class Runtime:
    def __init__(self, port: int, proc: subprocess.Popen[bytes]) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.proc = proc

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = (
            body
            if isinstance(body, bytes)
            else (json.dumps(body).encode() if body is not None else None)
        )
        req = urllib.request.Request(
            self.base + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                raw, code = resp.read(), resp.status
        except urllib.error.HTTPError as err:
            raw, code = err.read(), err.code
        try:
            return code, json.loads(raw)
        except ValueError:
            return code, raw.decode()


@pytest.fixture
def start_runtime(model_dir: Path) -> Iterator[Callable[..., Runtime]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(**env: str) -> Runtime:
        port = free_port()
        full = {
            "MODELSHIP_MODEL_URI": f"file://{model_dir}",
            "MODELSHIP_MODEL_NAME": "fraud",
            "MODELSHIP_MODEL_VERSION": "1.0.0",
            "MODELSHIP_TRACK": "canary",
            "PATH": "/usr/bin:/bin",
            **env,
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "modelship.runtime", "--host", "127.0.0.1", "--port", str(port)],
            env=full,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        started.append(proc)
        rt = Runtime(port, proc)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                rt.call("GET", "/v2/health/live")
                return rt
            except OSError:
                if proc.poll() is not None:
                    out = proc.stdout.read().decode() if proc.stdout else ""
                    raise AssertionError(f"runtime exited: {out}") from None
                time.sleep(0.05)
        raise AssertionError("runtime did not start")

    yield start
    for proc in started:
        proc.terminate()
        proc.wait(10)
