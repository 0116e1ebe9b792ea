"""An in-memory view of the children the operator owns, fed by watch events.

Like controller-runtime's informer cache: the handlers put every watched child
(Deployments, Services, runtime Pods) here as events arrive, and the reconcile
reads from it instead of asking the API server again. That removes a pod LIST
per reconcile and, with the applied-hash annotation, every server-side apply
whose result would not change anything, which is most of them.

A stale entry is harmless: reconciles are level-based, and the watch event that
refreshes the entry enqueues the owner again. Thread-safe, because watch events
arrive on the event loop while reconciles run in a thread pool.
"""

from __future__ import annotations

import threading
from typing import Any

from modelship.render.labels import APPLIED_HASH, MODEL_DEPLOYMENT

Obj = dict[str, Any]
Key = tuple[str, str, str]  # kind, namespace, name


def _newer(candidate: Obj, current: Obj | None) -> bool:
    """Whether ``candidate`` may replace ``current`` (resourceVersions are etcd revisions)."""
    if current is None:
        return True
    try:
        return int(candidate["metadata"]["resourceVersion"]) >= int(
            current["metadata"]["resourceVersion"]
        )
    except (KeyError, ValueError, TypeError):
        return True


# The applied-hash skips no-op applies; the prometheus.io ones say where pods serve metrics.
KEPT_ANNOTATIONS = (APPLIED_HASH, "prometheus.io/port", "prometheus.io/path")


def trim(obj: Obj) -> Obj:
    """Keep only what reconciles read: a few fields of metadata, spec.replicas, status.

    Whole Pod and Deployment bodies cost tens of kB each in Python; at 1,000
    ModelDeployments that alone would break the operator's memory budget.
    """
    meta = obj.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    kept: Obj = {
        "apiVersion": obj.get("apiVersion"),
        "kind": obj.get("kind"),
        "metadata": {
            k: meta[k]
            for k in (
                "name",
                "namespace",
                "labels",
                "resourceVersion",
                "generation",
                "deletionTimestamp",
                "uid",
            )
            if k in meta
        },
    }
    notes = {k: annotations[k] for k in KEPT_ANNOTATIONS if k in annotations}
    if notes:
        kept["metadata"]["annotations"] = notes
    owners = [{"uid": r.get("uid")} for r in meta.get("ownerReferences") or []]
    if owners:
        kept["metadata"]["ownerReferences"] = owners  # pruning deletes only what we own
    if "replicas" in (obj.get("spec") or {}):
        kept["spec"] = {"replicas": obj["spec"]["replicas"]}
    if obj.get("kind") == "HTTPRoute":  # its weights, read back for status
        rules = (obj.get("spec") or {}).get("rules") or []
        kept["spec"] = {
            "rules": [
                {
                    "backendRefs": [
                        {"name": b.get("name"), "weight": b.get("weight", 1)}
                        for b in rule.get("backendRefs") or []
                    ]
                }
                for rule in rules
            ]
        }
    status = obj.get("status") or {}
    if obj.get("kind") == "Pod":
        status = {
            "phase": status.get("phase"),
            "conditions": status.get("conditions") or [],
            "podIP": status.get("podIP"),  # where the scrape provider reads /metrics
        }
    if status:
        kept["status"] = status
    return kept


class ChildCache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._objects: dict[Key, Obj] = {}
        # (namespace, owner) -> the keys of its objects: a reconcile reads its own children
        # without scanning everyone's (thousands at fleet scale).
        self._owned: dict[tuple[str, str], set[Key]] = {}
        # (namespace, owner) -> pod name -> pod
        self._pods: dict[tuple[str, str], dict[str, Obj]] = {}

    @staticmethod
    def _key(obj: Obj) -> Key:
        meta = obj["metadata"]
        return str(obj.get("kind", "")), str(meta["namespace"]), str(meta["name"])

    def put(self, obj: Obj) -> None:
        obj = trim(obj)
        if obj.get("kind") == "Pod":
            self._put_pod(obj)
            return
        key = self._key(obj)
        with self._lock:
            if _newer(obj, self._objects.get(key)):
                self._forget(key)
                self._objects[key] = obj
                owner = (obj["metadata"].get("labels") or {}).get(MODEL_DEPLOYMENT)
                if owner:
                    self._owned.setdefault((key[1], owner), set()).add(key)

    def _forget(self, key: Key) -> None:
        """Drop ``key`` and its owner index entry (the lock is held)."""
        old = self._objects.pop(key, None)
        owner = ((old or {}).get("metadata", {}).get("labels") or {}).get(MODEL_DEPLOYMENT)
        if owner:
            keys = self._owned.get((key[1], owner))
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._owned[(key[1], owner)]

    def delete(self, obj: Obj) -> None:
        if obj.get("kind") == "Pod":
            meta = obj["metadata"]
            owner = (meta.get("labels") or {}).get(MODEL_DEPLOYMENT, "")
            with self._lock:
                self._pods.get((meta["namespace"], owner), {}).pop(meta["name"], None)
            return
        with self._lock:
            self._forget(self._key(obj))

    def drop_owner(self, namespace: str, owner: str) -> None:
        """Forget every child of ``owner`` (another shard's ModelDeployment, or one that
        left this shard)."""
        with self._lock:
            for key in list(self._owned.get((namespace, owner), ())):
                self._forget(key)
            self._pods.pop((namespace, owner), None)

    def children(self, namespace: str, owner: str) -> list[Obj]:
        """Cached objects other than pods labelled as ``owner``'s."""
        with self._lock:
            return [self._objects[k] for k in self._owned.get((namespace, owner), ())]

    def _put_pod(self, pod: Obj) -> None:
        meta = pod["metadata"]
        owner = (meta.get("labels") or {}).get(MODEL_DEPLOYMENT)
        if not owner:
            return
        with self._lock:
            pods = self._pods.setdefault((meta["namespace"], owner), {})
            if _newer(pod, pods.get(meta["name"])):
                pods[meta["name"]] = pod

    def pods(self, namespace: str, owner: str, labels: dict[str, str]) -> list[Obj]:
        """Cached pods of ``owner`` whose labels include ``labels``."""
        with self._lock:
            pods = list(self._pods.get((namespace, owner), {}).values())
        return [
            p
            for p in pods
            if all((p["metadata"].get("labels") or {}).get(k) == v for k, v in labels.items())
        ]
