"""A bounded load generator that splits requests the way the cluster would.

With Gateway API routing it reads the weights the operator wrote into the HTTPRoute
and picks a track by them; with replica ratio it spreads requests evenly over the
ready pods, as a Service would. Requests go to pod IPs, which in the dev cluster are
loopback addresses with real runtime processes behind them (podrunner.py). Every run
is bounded by a request count and a time limit, and refuses any non-loopback target.
"""

from __future__ import annotations

import ipaddress
import json
import random
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from modelship.kube import Kube
from modelship.render.labels import MODEL_DEPLOYMENT, TRACK

REFRESH_SECONDS = 1.0


@dataclass
class Stats:
    """Requests sent, by track and HTTP status (0: no answer)."""

    by_track: Counter[str] = field(default_factory=Counter)
    by_code: Counter[tuple[str, int]] = field(default_factory=Counter)

    def share(self, track: str) -> float:
        total = sum(self.by_track.values())
        return self.by_track[track] / total if total else 0.0


@dataclass(frozen=True)
class Targets:
    pods: dict[str, list[str]]  # track -> pod IPs
    weights: dict[str, int] | None  # track -> weight, None for replica ratio


def _loopback(ip: str) -> str:
    if not ipaddress.ip_address(ip).is_loopback:
        raise ValueError(f"refusing to send load to {ip}: only loopback pod IPs (dev cluster)")
    return ip


class LoadGenerator:
    def __init__(
        self,
        kube: Kube,
        namespace: str,
        name: str,
        model: str,
        port: int = 8080,
        seed: int | None = None,
        shift: float = 0.0,
    ) -> None:
        """``shift``: added to every feature of every request, the users' population
        having drifted (unlike the runtime's MODELSHIP_FAULT_INPUT_SHIFT, which shifts
        every request it gets, an evaluation's hold-out set too)."""
        self.kube = kube
        self.namespace = namespace
        self.name = name
        self.model = model
        self.port = port
        self.rng = random.Random(seed)
        self.shift = shift
        self._inputs: list[dict[str, Any]] = []

    def targets(self) -> Targets:
        pods: dict[str, list[str]] = {"stable": [], "canary": []}
        for pod in self.kube.list("v1", "Pod", self.namespace, {MODEL_DEPLOYMENT: self.name}):
            status = pod.get("status") or {}
            ready = any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in status.get("conditions") or []
            )
            if ready and status.get("podIP") and not pod["metadata"].get("deletionTimestamp"):
                track = (pod["metadata"].get("labels") or {}).get(TRACK, "stable")
                pods.setdefault(track, []).append(_loopback(status["podIP"]))
        # None both when there is no route and when the cluster does not serve HTTPRoute.
        route = self.kube.get(
            "gateway.networking.k8s.io/v1", "HTTPRoute", self.namespace, self.name
        )
        weights = None
        if route is not None:
            refs = route["spec"]["rules"][0]["backendRefs"]
            weights = {
                r["name"].removeprefix(f"{self.name}-"): int(r.get("weight", 1)) for r in refs
            }
        return Targets(pods, weights)

    def _pick(self, targets: Targets) -> tuple[str, str] | None:
        if targets.weights is None:
            everyone = [(t, ip) for t, ips in targets.pods.items() for ip in ips]
            return self.rng.choice(everyone) if everyone else None
        tracks = [t for t, w in targets.weights.items() if w > 0 and targets.pods.get(t)]
        if not tracks:
            return None
        track = self.rng.choices(tracks, [targets.weights[t] for t in tracks])[0]
        return track, self.rng.choice(targets.pods[track])

    def _row(self, ip: str) -> list[float]:
        if not self._inputs:
            url = f"http://{ip}:{self.port}/v2/models/{self.model}"
            with urllib.request.urlopen(url, timeout=5) as resp:
                self._inputs = json.loads(resp.read())["inputs"]
        return [self.rng.gauss(i["mean"], i["scale"]) + self.shift for i in self._inputs]

    def run(
        self,
        requests: int,
        max_seconds: float,
        rate: float | None = None,
        stop: threading.Event | None = None,
    ) -> Stats:
        """Send up to ``requests`` requests within ``max_seconds`` (optionally at ``rate``/s),
        or until ``stop`` is set."""
        stats = Stats()
        deadline = time.monotonic() + max_seconds
        targets, refreshed = self.targets(), time.monotonic()
        for n in range(requests):
            now = time.monotonic()
            if now >= deadline or (stop is not None and stop.is_set()):
                break
            if now - refreshed >= REFRESH_SECONDS:
                targets, refreshed = self.targets(), now
            picked = self._pick(targets)
            if picked is None:
                time.sleep(0.1)
                continue
            track, ip = picked
            code = self._send(ip)
            stats.by_track[track] += 1
            stats.by_code[(track, code)] += 1
            if rate:
                time.sleep(max(0.0, (n + 1) / rate - (time.monotonic() - (deadline - max_seconds))))
        return stats

    def _send(self, ip: str) -> int:
        """The HTTP status, or 0 when the pod did not answer (not up yet, or gone)."""
        try:
            body = json.dumps({"instances": [self._row(ip)]}).encode()
        except OSError:
            return 0
        req = urllib.request.Request(
            f"http://{ip}:{self.port}/v1/models/{self.model}:predict",
            body,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return int(resp.status)
        except urllib.error.HTTPError as err:
            return int(err.code)
        except OSError:
            return 0
