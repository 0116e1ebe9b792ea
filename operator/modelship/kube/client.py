"""Thin, typed access to the API server over the official kubernetes client.

Everything is plain dicts in and out; server-side apply under one field
manager makes every write idempotent, so a reconcile can be interrupted and
repeated without harm.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from modelship import __version__, fence
from modelship.errors import AlreadyExistsError, InvalidObjectError, NotFoundError, TransientError

FIELD_MANAGER = "modelship"

Obj = dict[str, Any]

# How the API server words a server-side apply of fields its schema does not declare.
TYPED_PATCH = "failed to create typed patch object"

# apiVersion/kind -> (URL prefix, plural) for the kinds the operator touches.
_KINDS: dict[tuple[str, str], str] = {
    ("v1", "Service"): "services",
    ("v1", "Pod"): "pods",
    ("v1", "Event"): "events",
    ("v1", "ConfigMap"): "configmaps",
    ("v1", "Secret"): "secrets",  # a promotion's Git credentials, read only
    ("apps/v1", "Deployment"): "deployments",
    ("apps/v1", "ControllerRevision"): "controllerrevisions",
    ("batch/v1", "Job"): "jobs",
    ("gateway.networking.k8s.io/v1", "HTTPRoute"): "httproutes",
    ("autoscaling/v2", "HorizontalPodAutoscaler"): "horizontalpodautoscalers",
    ("modelship.io/v1alpha1", "ModelDeployment"): "modeldeployments",
    ("modelship.io/v1alpha1", "ModelPromotion"): "modelpromotions",
    ("coordination.k8s.io/v1", "Lease"): "leases",  # leader election
}


_CLUSTER_KINDS: dict[tuple[str, str], str] = {("v1", "Node"): "nodes"}


def register_kind(api_version: str, kind: str, plural: str) -> None:
    """Make another namespaced kind known (a new controller's own resource, or a
    test's)."""
    _KINDS[(api_version, kind)] = plural


def collection_path(api_version: str, kind: str, namespace: str | None) -> str:
    """Namespaced collection, or across all namespaces when ``namespace`` is None."""
    plural = _KINDS.get((api_version, kind)) or _CLUSTER_KINDS[(api_version, kind)]
    prefix = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    if namespace is None:
        return f"{prefix}/{plural}"
    return f"{prefix}/namespaces/{namespace}/{plural}"


# What YAML does not read as itself even inside a quoted string: DEL, the C1 controls and
# U+FFFE/FFFF it refuses ("control characters are not allowed"); NEL, U+2028 and U+2029
# it takes for line breaks (folded to a space); a BOM. JSON escapes the C0 controls itself.
_NOT_YAML = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff]")


def apply_body(obj: Obj) -> bytes:
    """A server-side apply body. The API server parses it as YAML: JSON is YAML, but not
    JSON's \\ud83d\\ude80 surrogate escapes for characters outside the BMP (an emoji in a
    version), so it goes as UTF-8 JSON; and not a raw DEL or C1 control (a model version
    or env value holding one made every apply fail, found by fuzzing), nor a line
    separator, so those go as \\u escapes, which YAML reads back as the same characters."""
    text = json.dumps(obj, ensure_ascii=False)
    return _NOT_YAML.sub(lambda m: f"\\u{ord(m.group()):04x}", text).encode()


def resource_of(path: str) -> str:
    """The resource a request path names, for the request-latency metric: the plural
    after the version or namespace (``deployments``), ``/status`` for that subresource;
    a discovery path (``/apis/apps/v1``) is ``discovery``."""
    parts = path.strip("/").split("/")
    rest = parts[2:] if parts[0] == "api" else parts[3:]
    if rest[:1] == ["namespaces"] and len(rest) > 2:
        rest = rest[2:]
    if not rest:
        return "discovery"
    return f"{rest[0]}/{rest[2]}" if len(rest) > 2 else rest[0]


def object_path(api_version: str, kind: str, namespace: str, name: str) -> str:
    return f"{collection_path(api_version, kind, namespace)}/{name}"


def current_namespace(kubeconfig: str | None = None, context: str | None = None) -> str:
    """The namespace of the current kubeconfig context, or of ``context`` (in a pod, with
    neither given: its own), else default."""
    if kubeconfig is None and context is None:
        try:
            with open("/var/run/secrets/kubernetes.io/serviceaccount/namespace") as f:
                return f.read().strip()
        except OSError:
            pass
    try:
        contexts, current = config.list_kube_config_contexts(  # type: ignore[no-untyped-call]
            config_file=_kubeconfig(kubeconfig)
        )
    except (config.ConfigException, OSError):
        return "default"
    if context is not None:
        current = next((c for c in contexts or [] if c.get("name") == context), None)
    return str((current or {}).get("context", {}).get("namespace") or "default")


def _kubeconfig(path: str | None) -> str:
    # Read KUBECONFIG now, not when the kubernetes package was imported.
    return path or os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")


def connect(
    pool_size: int = 16,
    kubeconfig: str | None = None,
    context: str | None = None,
    on_request: RequestObserver | None = None,
) -> Kube:
    """``kubeconfig`` if given; else in-cluster config in a pod; else $KUBECONFIG or
    ~/.kube/config. ``context``: that kubeconfig context instead of the current one.
    ``on_request(verb, resource, seconds)`` is told of every request (the operator's
    request-latency metric)."""
    cfg = client.Configuration()
    try:
        if kubeconfig or context:
            raise config.ConfigException("explicit kubeconfig")
        config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
    except config.ConfigException:
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=_kubeconfig(kubeconfig), context=context, client_configuration=cfg
        )
    cfg.connection_pool_maxsize = pool_size
    return Kube(client.ApiClient(cfg), on_request)


# How long an answer about which kinds the API server serves is trusted: a CRD
# installed later is seen within this time.
DISCOVERY_TTL_SECONDS = 30.0


RequestObserver = Callable[[str, str, float], None]


class Kube:
    def __init__(self, api: client.ApiClient, on_request: RequestObserver | None = None) -> None:
        self.api = api
        self.on_request = on_request
        self.instance = os.environ.get("POD_NAME") or socket.gethostname()
        # The instance in the User-Agent tells two replicas apart in the API server's
        # audit log (the leader election tests count each one's writes there).
        api.user_agent = f"modelship/{__version__} ({self.instance})"
        self._served: dict[tuple[str, str], tuple[float, bool]] = {}

    def serves(self, api_version: str, kind: str) -> bool:
        """Whether the API server serves ``kind`` in ``api_version`` (discovery, cached
        for DISCOVERY_TTL_SECONDS)."""
        key = (api_version, kind)
        now = time.monotonic()
        known = self._served.get(key)
        if known is not None and now - known[0] < DISCOVERY_TTL_SECONDS:
            return known[1]
        path = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        try:
            found = self._call("GET", path)
        except NotFoundError:
            found = {}
        served = any(r.get("kind") == kind for r in found.get("resources") or [])
        self._served[key] = (now, served)
        return served

    def _call(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: list[tuple[str, str]] | None = None,
        content_type: str = "application/json",
        fenced: bool = True,
        timeout: float = 30,
    ) -> Obj:
        # Reviews (SelfSubjectReview, ...) are POSTs that change nothing.
        if fenced and method != "GET" and not path.endswith("reviews"):
            fence.check(f"{method} {path}")
        started = time.perf_counter()
        try:
            method, url, headers, body, post = self.api.param_serialize(
                method,
                path,
                query_params=query or [],
                header_params={"Accept": "application/json", "Content-Type": content_type},
                body=body,
                auth_settings=["BearerToken"],
            )
            response = self.api.call_api(method, url, headers, body, post, _request_timeout=timeout)
            raw = response.read()  # type: ignore[no-untyped-call]
            status = int(response.status)
        except ApiException as exc:
            raw, status = (exc.body or b""), int(exc.status or 0)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise TransientError(f"{method} {path}: {exc}") from exc
        finally:
            if self.on_request is not None:
                self.on_request(method, resource_of(path), time.perf_counter() - started)
        try:
            data = json.loads(raw or b"{}")
        except ValueError:  # e.g. a plain-text "404 page not found" for an unknown kind
            text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
            data = {"message": text.strip()}
        if 200 <= status < 300:
            return data if isinstance(data, dict) else {}
        message = str(data.get("message") if isinstance(data, dict) else raw)
        if status == 404 or (status == 403 and "being terminated" in message):
            raise NotFoundError(message)  # gone, or its namespace is going
        if status in (400, 422) or (status == 500 and TYPED_PATCH in message):
            # A server-side apply whose fields the schema does not declare comes back as
            # a 500, but no retry can make it valid: the object is wrong.
            raise InvalidObjectError(message)
        if status == 409 and method == "POST":
            raise AlreadyExistsError(message)
        raise TransientError(f"{method} {path}: {status} {message}")

    def get(
        self, api_version: str, kind: str, namespace: str, name: str, cached: bool = False
    ) -> Obj | None:
        """The object, or None. ``cached``: served from the API server's watch cache
        (resourceVersion=0: cheaper, possibly a moment old), not a quorum read of etcd."""
        query = [("resourceVersion", "0")] if cached else None
        try:
            return self._call("GET", object_path(api_version, kind, namespace, name), query=query)
        except NotFoundError:
            return None

    def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None,
        selector: dict[str, str] | None = None,
        field_selector: str | None = None,
    ) -> list[Obj]:
        """Objects of a kind in ``namespace`` (None: every namespace, or cluster-scoped)."""
        query = []
        if selector:
            labels = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
            query.append(("labelSelector", labels))
        if field_selector:
            query.append(("fieldSelector", field_selector))
        result = self._call("GET", collection_path(api_version, kind, namespace), query=query)
        return list(result.get("items") or [])

    def delete(self, api_version: str, kind: str, namespace: str, name: str) -> None:
        """Delete in the background (children follow by garbage collection); gone is fine."""
        with contextlib.suppress(NotFoundError):
            self._call(
                "DELETE",
                object_path(api_version, kind, namespace, name),
                body={"propagationPolicy": "Background"},
            )

    def annotate(
        self, api_version: str, kind: str, namespace: str, name: str, annotations: dict[str, str]
    ) -> Obj:
        """Merge-patch annotations onto an object."""
        return self._call(
            "PATCH",
            object_path(api_version, kind, namespace, name),
            body={"metadata": {"annotations": annotations}},
            content_type="application/merge-patch+json",
        )

    def apply(self, obj: Obj, field_manager: str = FIELD_MANAGER) -> Obj:
        """Server-side apply under ``field_manager`` (the operator's); returns the live
        object."""
        meta = obj["metadata"]
        path = object_path(obj["apiVersion"], obj["kind"], meta["namespace"], meta["name"])
        return self._call(
            "PATCH",
            path,
            body=apply_body(obj),
            query=[("fieldManager", field_manager), ("force", "true")],
            content_type="application/apply-patch+yaml",
        )

    def create(self, obj: Obj) -> Obj:
        """POST; AlreadyExistsError if it is there (for objects we never overwrite)."""
        meta = obj["metadata"]
        return self._call(
            "POST", collection_path(obj["apiVersion"], obj["kind"], meta["namespace"]), body=obj
        )

    def patch_status(
        self, api_version: str, kind: str, namespace: str, name: str, status: Obj
    ) -> Obj:
        """JSON merge patch of the status subresource (nulls remove fields)."""
        path = object_path(api_version, kind, namespace, name) + "/status"
        return self._call(
            "PATCH", path, body={"status": status}, content_type="application/merge-patch+json"
        )

    def lease(self, namespace: str, name: str, timeout: float) -> Obj | None:
        """The leader Lease (leader election reads and writes it unfenced: it is how a
        replica becomes allowed to write)."""
        try:
            return self._call(
                "GET",
                object_path("coordination.k8s.io/v1", "Lease", namespace, name),
                fenced=False,
                timeout=timeout,
            )
        except NotFoundError:
            return None

    def write_lease(self, lease: Obj, timeout: float) -> Obj:
        """Create the Lease (no resourceVersion) or replace it; a replace carries the
        resourceVersion it read, so of two candidates only one succeeds (409 for the
        other: a TransientError)."""
        meta = lease["metadata"]
        if not meta.get("resourceVersion"):
            return self._call(
                "POST",
                collection_path("coordination.k8s.io/v1", "Lease", meta["namespace"]),
                body=lease,
                fenced=False,
                timeout=timeout,
            )
        return self._call(
            "PUT",
            object_path("coordination.k8s.io/v1", "Lease", meta["namespace"], meta["name"]),
            body=lease,
            fenced=False,
            timeout=timeout,
        )

    def whoami(self) -> str:
        """The username the API server authenticates these credentials as
        (SelfSubjectReview, as `kubectl auth whoami`)."""
        review = self._call(
            "POST",
            "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            body={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
        )
        return str(((review.get("status") or {}).get("userInfo") or {}).get("username") or "")

    def record_event(
        self,
        involved: Obj,
        type_: str,
        reason: str,
        message: str,
        now: datetime | None = None,
        name: str | None = None,
    ) -> None:
        """A core/v1 Event, as `kubectl describe` shows it. With ``name`` an Event of
        that name already there is this one, written by a run that stopped after it."""
        meta = involved["metadata"]
        stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
        naming = {"name": name} if name else {"generateName": f"{meta['name']}."}
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {**naming, "namespace": meta["namespace"]},
            "involvedObject": {
                "apiVersion": involved["apiVersion"],
                "kind": involved["kind"],
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta["uid"],
                "resourceVersion": meta.get("resourceVersion"),
            },
            "reason": reason,
            "message": message[:1024],
            "type": type_,
            "source": {"component": FIELD_MANAGER},
            "reportingComponent": FIELD_MANAGER,
            "reportingInstance": self.instance,
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
        }
        with contextlib.suppress(AlreadyExistsError):
            self._call("POST", collection_path("v1", "Event", meta["namespace"]), body=event)
