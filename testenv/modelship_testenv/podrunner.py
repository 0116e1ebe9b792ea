"""Back every runtime pod on a kwok node with a real modelship-runtime process.

kwok makes pods Running and gives them IPs from a loopback range (each dev cluster its
own, ``Cluster.pod_cidr``), so a pod's IP is an address this machine owns: the process
for a pod listens on the pod's IP and port, with the pod's own environment. Processes
start when a pod is Running and stop when it is deleted. Only kubelet and the container
runtime are stood in for; what the operator measures comes from real requests to real
processes.

An address some other process already listens on (another cluster's pod with the same
IP, or anything else) is refused: the pod gets no process, a Warning Event
``AddressInUse`` and an entry in ``refused``, rather than its requests silently reaching
the other process. It is tried again each sync and started once the address is free.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelship.kube import Kube
from modelship.render.labels import MANAGED_BY, MANAGER, MODEL_DEPLOYMENT

log = logging.getLogger(__name__)


@dataclass
class _Proc:
    pod: str  # namespace/name
    ip: str
    popen: subprocess.Popen[bytes]


def pod_env(pod: dict[str, Any]) -> dict[str, str] | None:
    """The runtime container's literal env plus where to listen; None if not runnable."""
    ip = (pod.get("status") or {}).get("podIP")
    containers = (pod.get("spec") or {}).get("containers") or []
    if not ip or not containers:
        return None
    env = {
        e["name"]: str(e.get("value", ""))
        for e in containers[0].get("env") or []
        if "valueFrom" not in e
    }
    env["MODELSHIP_LISTEN_ADDRESS"] = ip
    return env


def listen_addresses(env: dict[str, str]) -> list[tuple[str, int]]:
    """Where the runtime for ``env`` will listen (modelship/runtime/server.py's defaults)."""
    ip = env["MODELSHIP_LISTEN_ADDRESS"]
    port = int(env.get("MODELSHIP_PORT") or 8080)
    metrics = int(env.get("MODELSHIP_METRICS_PORT") or port)
    return [(ip, p) for p in sorted({port, metrics})]


def address_taken(ip: str, port: int) -> str | None:
    """Why a process could not listen on ip:port now (None: it could)."""
    with socket.socket() as probe:
        # As the runtime's server does: a closed connection's TIME_WAIT is no holder.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((ip, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return f"{ip}:{port} is already held by another process"
            return f"cannot listen on {ip}:{port}: {exc.strerror}"
    return None


class PodRunner:
    def __init__(
        self,
        kube: Kube,
        logs: Path,
        interval: float = 0.5,
        targets_file: Path | None = None,
        namespace: str | None = None,
    ) -> None:
        """``namespace``: back only that namespace's pods (default: every namespace)."""
        self.kube = kube
        self.namespace = namespace
        self.logs = logs
        self.targets_file = targets_file  # Prometheus file_sd targets, rewritten on change
        self._targets = ""
        self.interval = interval
        self.procs: dict[str, _Proc] = {}  # by pod uid
        # Pods given no process, by namespace/name: why (an address already held).
        self.refused: dict[str, str] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._loop, name="podrunner", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(10)
        for uid in list(self.procs):
            self._end(uid)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.sync()
            except Exception as exc:  # keep serving through API hiccups
                log.warning("pod runner: %s", exc)
            self._stop.wait(self.interval)

    def sync(self) -> None:
        pods = self.kube.list("v1", "Pod", self.namespace, {MANAGED_BY: MANAGER})
        wanted = {}
        for pod in pods:
            meta = pod["metadata"]
            if meta.get("deletionTimestamp") or (pod.get("status") or {}).get("phase") != "Running":
                continue
            wanted[meta["uid"]] = pod
        for uid in set(self.procs) - set(wanted):
            self._end(uid)
        runnable = {
            f"{p['metadata']['namespace']}/{p['metadata']['name']}" for p in wanted.values()
        }
        for name in set(self.refused) - runnable:
            del self.refused[name]
        for uid, pod in wanted.items():
            proc = self.procs.get(uid)
            if proc is not None and proc.popen.poll() is None:
                continue
            self._begin(uid, pod)
        if self.targets_file is not None:
            self._write_targets([p for uid, p in wanted.items() if uid in self.procs])

    def _write_targets(self, pods: list[dict[str, Any]]) -> None:
        targets = []
        for pod in sorted(pods, key=lambda p: p["metadata"]["uid"]):
            meta = pod["metadata"]
            notes = meta.get("annotations") or {}
            if notes.get("prometheus.io/scrape") != "true":
                continue
            labels = {
                "namespace": meta["namespace"],
                "pod": meta["name"],
                "model_deployment": (meta.get("labels") or {}).get(MODEL_DEPLOYMENT, ""),
                "__metrics_path__": notes.get("prometheus.io/path", "/metrics"),
            }
            address = f"{pod['status']['podIP']}:{notes.get('prometheus.io/port', '8080')}"
            targets.append({"targets": [address], "labels": labels})
        text = json.dumps(targets, indent=1)
        if text != self._targets and self.targets_file is not None:
            tmp = self.targets_file.with_suffix(".tmp")
            tmp.write_text(text)
            tmp.replace(self.targets_file)  # atomic: Prometheus never reads half a file
            self._targets = text

    def _begin(self, uid: str, pod: dict[str, Any]) -> None:
        env = pod_env(pod)
        if env is None:
            return
        meta = pod["metadata"]
        name = f"{meta['namespace']}/{meta['name']}"
        self.procs.pop(uid, None)
        taken = [why for ip, port in listen_addresses(env) if (why := address_taken(ip, port))]
        if taken:
            self._refuse(name, pod, "; ".join(taken))
            return
        if self.refused.pop(name, None) is not None:
            log.info("%s: its address is free now", name)
        env = self._mount_config_maps(pod, env)
        log_file = open(self.logs / f"{meta['namespace']}_{meta['name']}.log", "ab")  # noqa: SIM115
        popen = subprocess.Popen(
            [sys.executable, "-m", "modelship.runtime"],
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log_file.close()
        self.procs[uid] = _Proc(name, env["MODELSHIP_LISTEN_ADDRESS"], popen)
        log.info("runtime for %s on %s (pid %d)", name, env["MODELSHIP_LISTEN_ADDRESS"], popen.pid)

    def _refuse(self, name: str, pod: dict[str, Any], why: str) -> None:
        """No process for this pod; said once per pod (each sync tries again)."""
        if self.refused.get(name) == why:
            return
        self.refused[name] = why
        message = f"no runtime process started for pod {name}: {why}"
        log.warning("%s", message)
        try:
            self.kube.record_event(
                {"apiVersion": "v1", "kind": "Pod", **pod}, "Warning", "AddressInUse", message
            )
        except Exception as exc:  # the log line above says it anyway
            log.warning("pod runner: recording the event for %s: %s", name, exc)

    def _mount_config_maps(self, pod: dict[str, Any], env: dict[str, str]) -> dict[str, str]:
        """Write the pod's ConfigMap volumes to files (as a kubelet would) and point env
        values under a mount path at them."""
        meta, spec = pod["metadata"], pod.get("spec") or {}
        volumes = {v["name"]: v["configMap"] for v in spec.get("volumes") or [] if "configMap" in v}
        mounts = (spec.get("containers") or [{}])[0].get("volumeMounts") or []
        out = dict(env)
        for mount in mounts:
            source = volumes.get(mount["name"])
            if source is None:
                continue
            where = self.logs / f"{meta['namespace']}_{meta['name']}" / mount["name"]
            where.mkdir(parents=True, exist_ok=True)
            cm = self.kube.get("v1", "ConfigMap", meta["namespace"], source["name"]) or {}
            data = cm.get("data") or {}
            for item in source.get("items") or [{"key": k, "path": k} for k in data]:
                if item["key"] in data:
                    (where / item["path"]).write_text(data[item["key"]])
            for key, value in env.items():
                if value.startswith(mount["mountPath"]):
                    out[key] = str(where) + value[len(mount["mountPath"]) :]
        return out

    def _end(self, uid: str) -> None:
        proc = self.procs.pop(uid)
        if proc.popen.poll() is None:
            proc.popen.send_signal(signal.SIGTERM)
            try:
                proc.popen.wait(5)
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                proc.popen.wait(5)
