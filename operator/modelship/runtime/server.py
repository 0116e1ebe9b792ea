"""The HTTP server: KServe v1 and Open Inference Protocol v2 endpoints, /metrics.

    POST /v1/models/NAME:predict   {"instances": [[...], {...}]}  -> {"predictions": [...]}
    POST /v2/models/NAME/infer     {"inputs": [{"name", "shape": [n, f], "datatype", "data"}]}
    GET  /v1/models/NAME, /v2/models/NAME, /v2/health/live, /v2/health/ready, /metrics

Bad requests get a 4xx with a reason and never take the server down. If the model
cannot be loaded the server still starts: liveness passes, readiness and predict
answer 503 with the reason, so `kubectl describe pod` shows why instead of a crash loop.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import threading
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from modelship.drift.reference import InvalidReferenceError, NumericFeature, parse
from modelship.runtime.faults import Faults
from modelship.runtime.metrics import RuntimeMetrics
from modelship.runtime.model import InputError, LinearModel, ModelError, load

log = logging.getLogger("modelship.runtime")
MAX_BODY = 8 * 1024 * 1024


def reference_edges(path: str, features: set[str]) -> dict[str, list[float]]:
    """The drift reference's bin edges for the model's numeric features, so live
    histograms count in the reference's bins; none (with a log line) if unreadable."""
    if not path:
        return {}
    try:
        reference = parse(Path(path).read_text())
    except (OSError, InvalidReferenceError) as exc:
        log.error("drift reference %s not used: %s", path, exc)
        return {}
    return {
        name: list(f.edges)
        for name, f in reference.features.items()
        if name in features and isinstance(f, NumericFeature)
    }


class Runtime:
    """Everything a request needs: the model (or why it is missing), faults, metrics."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.name = env.get("MODELSHIP_MODEL_NAME", "model")
        self.version = env.get("MODELSHIP_MODEL_VERSION", "0")
        self.track = env.get("MODELSHIP_TRACK", "stable")
        self.faults = Faults.from_env(env)
        self.rng = random.Random()
        self.rng_lock = threading.Lock()
        self.model: LinearModel | None = None
        self.load_error: str | None = None
        try:
            self.model = load(env.get("MODELSHIP_MODEL_URI", ""))
        except ModelError as exc:
            self.load_error = str(exc)
            log.error("model not loaded: %s", exc)
        labels = {"model": self.name, "version": self.version, "track": self.track}
        edges: dict[str, list[float]] = {}
        if self.model is not None:
            for i, feature in enumerate(self.model.features):
                mean, scale = float(self.model.mean[i]), float(self.model.scale[i])
                edges[feature] = [mean + scale * k / 2 for k in range(-6, 7)]
        edges.update(reference_edges(env.get("MODELSHIP_REFERENCE_PATH", ""), set(edges)))
        classification = self.model is None or self.model.task == "classification"
        self.metrics = RuntimeMetrics(labels, edges, classification)

    def score(self, instances: Any) -> list[float]:
        assert self.model is not None
        x = self.model.rows(instances)
        for j, feature in enumerate(self.model.features):
            x[:, j] += self.faults.shift_for(feature)
            for value in x[:, j]:
                self.metrics.features.observe(feature, float(value))
        predictions = self.model.predict(x)
        for p in predictions:
            self.metrics.predictions.observe(float(p))
        return [float(p) for p in np.asarray(predictions)]


class Handler(BaseHTTPRequestHandler):
    runtime: Runtime  # set on the subclass made by serve()
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def _send(self, code: int, body: Any, content_type: str = "application/json") -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, code: int, message: str) -> None:
        self._send(code, {"error": message})

    def do_GET(self) -> None:
        rt = self.runtime
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._send(200, generate_latest(rt.metrics.registry), CONTENT_TYPE_LATEST)
        elif path in ("/v2/health/live", "/healthz"):
            self._send(200, {"live": True})
        elif path == "/v2/health/ready":
            if rt.model is None:
                self._error(503, f"model not loaded: {rt.load_error}")
            else:
                self._send(200, {"ready": True})
        elif path in (f"/v1/models/{rt.name}", f"/v2/models/{rt.name}"):
            features = rt.model.features if rt.model else []
            inputs = []
            if rt.model is not None:  # the training distribution, so clients can make traffic
                inputs = [
                    {"name": f, "mean": float(rt.model.mean[i]), "scale": float(rt.model.scale[i])}
                    for i, f in enumerate(rt.model.features)
                ]
            self._send(
                200,
                {
                    "name": rt.name,
                    "versions": [rt.version],
                    "platform": "modelship",
                    "ready": rt.model is not None,
                    "features": features,
                    "inputs": inputs,
                },
            )
        else:
            self._error(404, f"no such endpoint {path}")

    def do_POST(self) -> None:
        rt = self.runtime
        path = self.path.split("?", 1)[0]
        v1 = path == f"/v1/models/{rt.name}:predict"
        v2 = path == f"/v2/models/{rt.name}/infer"
        if not (v1 or v2):
            self._error(404, f"no such endpoint {path} (model is {rt.name!r})")
            return
        started = time.perf_counter()
        with rt.metrics.in_flight.track_inprogress():
            code, body = self._predict(v2)
            with rt.rng_lock:
                delay = rt.faults.delay(rt.rng)
                failed = code == 200 and rt.faults.fails(rt.rng)
            if delay:
                time.sleep(delay)
            if failed:
                code, body = 500, {"error": "injected failure (MODELSHIP_FAULT_ERROR_RATE)"}
            rt.metrics.latency.observe(time.perf_counter() - started)
            rt.metrics.request(code)
            self._send(code, body)

    def _predict(self, v2: bool) -> tuple[int, Any]:
        rt = self.runtime
        if rt.model is None:
            return 503, {"error": f"model not loaded: {rt.load_error}"}
        length = int(self.headers.get("Content-Length") or 0)
        if length <= 0 or length > MAX_BODY:
            return 400 if length <= 0 else 413, {"error": "a JSON body up to 8 MiB is required"}
        try:
            request = json.loads(self.rfile.read(length))
        except ValueError as exc:
            return 400, {"error": f"body is not JSON: {exc}"}
        try:
            if not v2:
                if not isinstance(request, dict) or "instances" not in request:
                    raise InputError('expected {"instances": [...]}')
                return 200, {"predictions": rt.score(request["instances"])}
            instances = _v2_instances(request, len(rt.model.features))
            predictions = rt.score(instances)
            return 200, {
                "model_name": rt.name,
                "model_version": rt.version,
                "outputs": [
                    {
                        "name": "output-0",
                        "shape": [len(predictions)],
                        "datatype": "FP64",
                        "data": predictions,
                    }
                ],
            }
        except InputError as exc:
            return 400, {"error": str(exc)}


def _v2_instances(request: Any, n_features: int) -> list[list[Any]]:
    """The first input tensor as rows: shape [rows, features], data row-major."""
    inputs = request.get("inputs") if isinstance(request, dict) else None
    if not isinstance(inputs, list) or not inputs or not isinstance(inputs[0], dict):
        raise InputError('expected {"inputs": [{"name", "shape", "datatype", "data"}]}')
    tensor = inputs[0]
    shape, data = tensor.get("shape"), tensor.get("data")
    if not (isinstance(shape, list) and len(shape) == 2 and all(isinstance(s, int) for s in shape)):
        raise InputError("inputs[0].shape must be [rows, features]")
    if shape[1] != n_features:
        raise InputError(f"inputs[0].shape[1] is {shape[1]}; the model has {n_features} features")
    if isinstance(data, list) and data and isinstance(data[0], list):
        data = [v for row in data for v in row]
    if not isinstance(data, list) or len(data) != shape[0] * shape[1]:
        raise InputError("inputs[0].data must hold rows * features values")
    return [data[i * shape[1] : (i + 1) * shape[1]] for i in range(shape[0])]


def serve(
    env: Mapping[str, str] | None = None, host: str | None = None, port: int | None = None
) -> ThreadingHTTPServer:
    """Build the server (not yet serving); the caller runs ``serve_forever``."""
    env = os.environ if env is None else env
    runtime = Runtime(env)
    handler = type("BoundHandler", (Handler,), {"runtime": runtime})
    address = host or env.get("MODELSHIP_LISTEN_ADDRESS", "0.0.0.0")
    server = ThreadingHTTPServer((address, port or int(env.get("MODELSHIP_PORT", "8080"))), handler)
    server.daemon_threads = True
    return server


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="modelship-runtime",
        description="Reference model server for modelship: KServe v1 / OIP v2 predict, "
        "Prometheus metrics, fault knobs (see modelship/runtime/faults.py). Configured by the "
        "MODELSHIP_* environment the operator sets on each pod.",
    )
    parser.add_argument(
        "--host", help="listen address (default $MODELSHIP_LISTEN_ADDRESS or 0.0.0.0)"
    )
    parser.add_argument("--port", type=int, help="port (default $MODELSHIP_PORT or 8080)")
    parser.add_argument("--model", help="model path or file:// URI (default $MODELSHIP_MODEL_URI)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    env = dict(os.environ)
    if args.model:
        env["MODELSHIP_MODEL_URI"] = args.model
    try:
        server = serve(env, args.host, args.port)
    except (ValueError, OSError) as exc:
        print(f"modelship-runtime: {exc}", flush=True)
        return 2
    host, port = server.server_address[:2]
    metrics_port = int(env.get("MODELSHIP_METRICS_PORT") or port)
    if metrics_port != port:  # the same handler answers /metrics there too
        side = ThreadingHTTPServer((str(host), metrics_port), server.RequestHandlerClass)
        threading.Thread(target=side.serve_forever, daemon=True).start()
    log.info(
        "serving %s %s (%s) on %s:%s",
        env.get("MODELSHIP_MODEL_NAME", "model"),
        env.get("MODELSHIP_MODEL_VERSION", "0"),
        env.get("MODELSHIP_TRACK", "stable"),
        host,
        port,
    )
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0
