"""Drift references from their ConfigMaps, parsed again only when the ConfigMap changed."""

from __future__ import annotations

from modelship.api.drift import Drift
from modelship.drift.reference import InvalidReferenceError, Reference, parse
from modelship.kube import Kube

# Parsed references kept, one per ConfigMap key (least recently used dropped past this):
# parsing 50 features costs ~2 ms, ~50 KiB each once parsed.
REFERENCES_KEPT = 1024


class References:
    def __init__(self, kube: Kube, kept: int = REFERENCES_KEPT) -> None:
        self.kube = kube
        self.kept = kept
        # (namespace, ConfigMap, key) -> (its resourceVersion, the parsed reference)
        self._parsed: dict[tuple[str, str, str], tuple[str, Reference]] = {}

    def get(self, namespace: str, drift: Drift) -> Reference | str:
        """spec.drift's reference, or why there is none (missing ConfigMap or key,
        or invalid JSON, naming the field)."""
        ref = drift.reference.config_map_ref
        # From the API server's watch cache (any recent version), not a read through to
        # etcd: read once per drift window and analysis round of every ModelDeployment.
        cm = self.kube.get("v1", "ConfigMap", namespace, ref.name, cached=True)
        if cm is None:
            return f"drift reference: ConfigMap {namespace}/{ref.name} not found"
        data = cm.get("data") or {}
        if ref.key not in data:
            return f"drift reference: ConfigMap {ref.name} has no key {ref.key!r}"
        where = (namespace, ref.name, ref.key)
        version = str(cm.get("metadata", {}).get("resourceVersion", ""))
        kept = self._parsed.pop(where, None)
        parsed = kept[1] if kept is not None and kept[0] == version and version else None
        if parsed is None:
            try:
                parsed = parse(str(data[ref.key]))
            except InvalidReferenceError as exc:
                return f"drift reference is not valid: {exc}"
        self._parsed[where] = (version, parsed)
        while len(self._parsed) > self.kept:
            del self._parsed[next(iter(self._parsed))]
        return parsed
