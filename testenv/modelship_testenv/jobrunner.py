"""Run Job pods labelled ``modelship.io/local-run=true`` as real local processes.

kwok would mark a Job's pod Succeeded at once, with no work done and no termination
message. For pods with this label (kwok's pod-complete stage skips them) the runner
starts the container's command and args locally with the container's literal env
(plus ``MODELSHIP_TERMINATION_LOG``, a file standing in for /dev/termination-log),
and when the process ends writes the pod's status as a kubelet would: phase
Succeeded or Failed, the exit code and the termination message. The Job controller
takes it from there. Dev cluster and tests only.

There is no cluster DNS or kube-proxy here either: an env value naming a Service
(``http://NAME.NAMESPACE.svc[.cluster.local][:PORT]``, as a promotion's evaluation Job
gets its source's URL) is rewritten to a ready endpoint of that Service (its
EndpointSlice), the address a pod would reach through the Service.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from modelship.kube import Kube
from modelship.kube.client import register_kind
from modelship_testenv.cluster import repo_root
from modelship_testenv.kwok import LOCAL_RUN

log = logging.getLogger(__name__)
SERVICE_URL = re.compile(
    r"^(https?)://([a-z0-9-]+)\.([a-z0-9-]+)\.svc(?:\.cluster\.local)?(?::(\d+))?(/.*)?$"
)
register_kind("discovery.k8s.io/v1", "EndpointSlice", "endpointslices")


@dataclass
class _Run:
    pod: dict[str, Any]
    popen: subprocess.Popen[bytes]
    message_file: Path
    started: str


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class JobRunner:
    def __init__(self, kube: Kube, logs: Path, interval: float = 0.5) -> None:
        self.kube = kube
        self.logs = logs
        self.interval = interval
        self.runs: dict[str, _Run] = {}
        self.done: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._loop, name="jobrunner", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(10)
        for run in self.runs.values():
            if run.popen.poll() is None:
                run.popen.kill()
                run.popen.wait(5)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.sync()
            except Exception as exc:  # keep going through API hiccups
                log.warning("job runner: %s", exc)
            self._stop.wait(self.interval)

    def sync(self) -> None:
        for pod in self.kube.list("v1", "Pod", None, {LOCAL_RUN: "true"}):
            uid = pod["metadata"]["uid"]
            phase = (pod.get("status") or {}).get("phase")
            if uid in self.runs or uid in self.done or phase != "Running":
                continue
            self._begin(uid, pod)
        for uid, run in list(self.runs.items()):
            code = run.popen.poll()
            if code is not None:
                self._finish(uid, run, code)

    def _begin(self, uid: str, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        container = pod["spec"]["containers"][0]
        argv = [*(container.get("command") or []), *(container.get("args") or [])]
        base = self.logs / f"{meta['namespace']}_{meta['name']}"
        message_file = base.with_suffix(".termination")
        env = {
            e["name"]: str(e.get("value", "")) for e in container.get("env") or [] if "value" in e
        }
        env = {k: self._through_service(v) for k, v in env.items()}
        env["MODELSHIP_TERMINATION_LOG"] = str(message_file)
        with open(base.with_suffix(".log"), "ab") as out:
            popen = subprocess.Popen(
                argv,
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
                cwd=repo_root(),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.runs[uid] = _Run(pod, popen, message_file, _now())
        log.info(
            "job pod %s/%s running locally (pid %d)", meta["namespace"], meta["name"], popen.pid
        )

    def _through_service(self, value: str) -> str:
        """A Service URL as the address of one of its ready endpoints (else unchanged)."""
        found = SERVICE_URL.match(value)
        if found is None:
            return value
        scheme, name, namespace, port, path = found.groups()
        service = self.kube.get("v1", "Service", namespace, name)
        if service is None:
            return value
        ports = (service.get("spec") or {}).get("ports") or []
        wanted = next((p for p in ports if str(p.get("port")) == (port or "80")), None)
        if wanted is None:
            return value
        slices = self.kube.list(
            "discovery.k8s.io/v1",
            "EndpointSlice",
            namespace,
            {"kubernetes.io/service-name": name},
        )
        for piece in slices:
            target = next(
                (
                    p.get("port")
                    for p in piece.get("ports") or []
                    if p.get("name") == wanted.get("name")
                ),
                None,
            )
            for endpoint in piece.get("endpoints") or []:
                if target and (endpoint.get("conditions") or {}).get("ready", True):
                    return f"{scheme}://{endpoint['addresses'][0]}:{target}{path or ''}"
        # kwok's pods may not name their ports, and then the EndpointSlice controller
        # lists no endpoint: go by the Service's selector, as it would.
        selector = (service.get("spec") or {}).get("selector") or {}
        for pod in self.kube.list("v1", "Pod", namespace, selector) if selector else []:
            ip = (pod.get("status") or {}).get("podIP")
            if ip and (pod.get("status") or {}).get("phase") == "Running":
                target = wanted.get("targetPort")
                number = target if isinstance(target, int) else wanted.get("port")
                return f"{scheme}://{ip}:{number}{path or ''}"
        return value

    def _finish(self, uid: str, run: _Run, code: int) -> None:
        meta = run.pod["metadata"]
        container = run.pod["spec"]["containers"][0]
        message = run.message_file.read_text() if run.message_file.exists() else ""
        terminated = {
            "exitCode": code,
            "reason": "Completed" if code == 0 else "Error",
            "startedAt": run.started,
            "finishedAt": _now(),
        }
        if message:
            terminated["message"] = message[:4096]
        status = {
            "phase": "Succeeded" if code == 0 else "Failed",
            "containerStatuses": [
                {
                    "name": container["name"],
                    "image": container.get("image", ""),
                    "imageID": "",
                    "ready": False,
                    "restartCount": 0,
                    "started": False,
                    "state": {"terminated": terminated},
                }
            ],
        }
        self.kube.patch_status("v1", "Pod", meta["namespace"], meta["name"], status)
        del self.runs[uid]
        self.done.add(uid)
