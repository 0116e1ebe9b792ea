"""A custom metrics API (custom.metrics.k8s.io/v1beta2) over the real Prometheus.

The HorizontalPodAutoscaler controller of the real kube-controller-manager asks the
kube-apiserver for per-pod metrics; the API server's aggregator proxies the request
to whatever APIService serves the group. In a real cluster that is prometheus-adapter
(kubernetes-sigs); it is not served by the module proxy these machines reach, so the
dev cluster gets this small stand-in for its two read paths, answered from Prometheus:

- ``GET /apis/custom.metrics.k8s.io/v1beta2``: discovery (the aggregator's health check);
- ``GET .../namespaces/NS/pods/NAME|*/METRIC?labelSelector=...``: one value per pod, the
  latest sample of ``METRIC{namespace=NS, pod=NAME}``, as prometheus-adapter's default
  rule for a gauge gives it.

The pods a label selector names come from the API server (Prometheus has pod names, not
pod labels). Served over TLS on loopback with a certificate for the Service's name,
signed by a CA of its own that the APIService trusts (caBundle). It does not
authenticate its callers: it listens on loopback only, where the API server is. Metric
names are passed through unchanged, so the names an HPA asks for are the runtime's own
(vLLM's colons included).
"""

from __future__ import annotations

import base64
import json
import re
import ssl
import threading
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from modelship.kube import Kube
from modelship_testenv.pki import serving_cert

GROUP = "custom.metrics.k8s.io"
VERSION = "v1beta2"
SERVICE = "modelship-custom-metrics"
SERVICE_NAMESPACE = "kube-system"
_POD_METRIC = re.compile(
    rf"^/apis/{re.escape(GROUP)}/{VERSION}/namespaces/([^/]+)/pods/([^/]+)/([^/]+)$"
)


def _quantity(value: float) -> str:
    """A resource.Quantity in milli-units, as the custom metrics API writes values."""
    return f"{round(value * 1000)}m"


class CustomMetricsAdapter:
    def __init__(self, kube: Kube, prometheus_url: str, pki: Path) -> None:
        self.kube = kube
        self.prometheus_url = prometheus_url
        self.pki = pki
        self.server: ThreadingHTTPServer | None = None
        self.requests = 0  # metric reads answered, for tests to see the HPA asked

    # ----- answers ------------------------------------------------------------------

    def pod_values(self, namespace: str, name: str, metric: str, selector: str) -> list[Any]:
        if name == "*":
            pods = self.kube.list("v1", "Pod", namespace, _selector(selector))
            names = [p["metadata"]["name"] for p in pods]
        else:
            names = [name]
        if not names:
            return []
        # The namespace's series, then the selected pods' (no regex of names to escape).
        query = f'{{__name__="{metric}",namespace="{namespace}"}}'
        url = f"{self.prometheus_url}/api/v1/query?" + urllib.parse.urlencode({"query": query})
        with urllib.request.urlopen(url, timeout=5) as resp:
            result = json.loads(resp.read())["data"]["result"]
        items = []
        wanted = set(names)
        for series in result:
            pod = series["metric"].get("pod")
            if pod not in wanted:
                continue
            stamp, value = series["value"]
            items.append(
                {
                    "describedObject": {
                        "kind": "Pod",
                        "namespace": namespace,
                        "name": pod,
                        "apiVersion": "/v1",
                    },
                    "metric": {"name": metric, "selector": None},
                    "timestamp": datetime.fromtimestamp(float(stamp), UTC).strftime(
                        "%Y-%m-%dT%H:%M:%SZ"
                    ),
                    "windowSeconds": 1,
                    "value": _quantity(float(value)),
                }
            )
        self.requests += 1
        return items

    # ----- serving ------------------------------------------------------------------

    def start(self, port: int) -> None:
        adapter = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _json(self, code: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                parsed = urllib.parse.urlparse(self.path)
                if parsed.path.rstrip("/") == f"/apis/{GROUP}/{VERSION}":
                    self._json(200, _discovery())
                    return
                if parsed.path in ("/openapi/v2", "/openapi/v3"):  # the aggregator merges these
                    self._json(200, _openapi(parsed.path))
                    return
                found = _POD_METRIC.match(urllib.parse.unquote(parsed.path))  # %2A is *
                if found is None:
                    self._json(404, _status(404, f"{parsed.path} is not served here"))
                    return
                query = urllib.parse.parse_qs(parsed.query)
                selector = (query.get("labelSelector") or [""])[0]
                try:
                    namespace, pod, metric = found.groups()
                    items = adapter.pod_values(namespace, pod, metric, selector)
                except (OSError, KeyError, ValueError) as exc:
                    self._json(503, _status(503, f"prometheus: {exc}"))
                    return
                if not items:
                    metric = found.group(3)
                    self._json(404, _status(404, f"no {metric} samples for those pods"))
                    return
                self._json(
                    200,
                    {
                        "kind": "MetricValueList",
                        "apiVersion": f"{GROUP}/{VERSION}",
                        "metadata": {},
                        "items": items,
                    },
                )

        server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        # The aggregator checks the name of the Service it was told, whatever it resolves to.
        crt, key = serving_cert(self.pki, "custom-metrics", [f"{SERVICE}.{SERVICE_NAMESPACE}.svc"])
        context.load_cert_chain(crt, key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        self.server = server
        threading.Thread(target=server.serve_forever, name="custom-metrics", daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def registration(self, port: int) -> str:
        """The Service and APIService that make the aggregator send the group here: an
        ExternalName Service resolves to localhost, where this server listens."""
        ca = (self.pki / "ca.crt").read_bytes()
        docs = [
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": SERVICE, "namespace": SERVICE_NAMESPACE},
                "spec": {"type": "ExternalName", "externalName": "localhost"},
            },
            {
                "apiVersion": "apiregistration.k8s.io/v1",
                "kind": "APIService",
                "metadata": {"name": f"{VERSION}.{GROUP}"},
                "spec": {
                    "group": GROUP,
                    "version": VERSION,
                    "service": {"namespace": SERVICE_NAMESPACE, "name": SERVICE, "port": port},
                    "caBundle": base64.b64encode(ca).decode(),
                    "groupPriorityMinimum": 100,
                    "versionPriority": 200,
                },
            },
        ]
        return "---\n".join(yaml.safe_dump(d) for d in docs)


def _selector(text: str) -> dict[str, str]:
    """``a=b,c=d`` (what an HPA sends for a Deployment's matchLabels)."""
    out = {}
    for part in filter(None, text.split(",")):
        key, _, value = part.partition("=")
        out[key.strip()] = value.strip().lstrip("=")
    return out


def _discovery() -> dict[str, Any]:
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{GROUP}/{VERSION}",
        "resources": [],
    }


def _openapi(path: str) -> dict[str, Any]:
    info = {"title": "custom metrics (modelship dev cluster)", "version": VERSION}
    if path.endswith("v2"):
        return {"swagger": "2.0", "info": info, "paths": {}}
    return {"paths": {}}


def _status(code: int, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "message": message,
        "code": code,
    }
