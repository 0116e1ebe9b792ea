"""The Git strategy's edit (pure): set a ModelDeployment's spec.model in a manifest file.

People keep comments, key order and other documents in the files a GitOps tool syncs,
so the edit is a round trip through ruamel.yaml, which keeps them, and changes only
spec.model and the two promotion annotations of the one ModelDeployment it names.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError

from modelship.api.deployment import KIND


class ManifestError(ValueError):
    """The file cannot be edited: it is not YAML, or holds no such ModelDeployment."""


@dataclass(frozen=True)
class ModelEdit:
    """Which ModelDeployment in which file, and what its spec.model and annotations
    become; called with the file's text, returns the new text (kernel.plan.FileEdit)."""

    path: str
    namespace: str
    name: str
    model: Mapping[str, str]  # spec.model as the API spells it
    annotations: Mapping[str, str]

    def __call__(self, text: str) -> str:
        return set_model(text, self)


def _yaml() -> YAML:
    yaml = YAML()  # round-trip: comments, order and quoting survive
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap a long URI
    return yaml


def _matches(doc: Any, edit: ModelEdit) -> bool:
    if not isinstance(doc, Mapping) or doc.get("kind") != KIND:
        return False
    meta = doc.get("metadata")
    if not isinstance(meta, Mapping) or meta.get("name") != edit.name:
        return False
    # A manifest without a namespace is applied into the target's namespace.
    return meta.get("namespace") in (None, edit.namespace)


def _section(parent: Any, key: str) -> Any:
    if not isinstance(parent.get(key), Mapping):
        parent[key] = CommentedMap()
    return parent[key]


def set_model(text: str, edit: ModelEdit) -> str:
    """``text`` with the named ModelDeployment's spec.model and annotations set; raises
    ManifestError naming the file when the edit has no place to go."""
    path = edit.path
    yaml = _yaml()
    try:
        docs = list(yaml.load_all(text))
    except YAMLError as exc:
        raise ManifestError(f"{path} is not valid YAML: {exc}") from None
    found = [doc for doc in docs if _matches(doc, edit)]
    if not found:
        raise ManifestError(
            f"{path} holds no ModelDeployment {edit.name} (namespace {edit.namespace} or none)"
        )
    if len(found) > 1:
        raise ManifestError(f"{path} holds ModelDeployment {edit.name} more than once")
    doc = found[0]
    notes = _section(doc["metadata"], "annotations")
    for key, value in edit.annotations.items():
        notes[key] = value
    model = _section(_section(doc, "spec"), "model")
    for key in ("name", "version", "uri", "digest", "format"):
        if key in edit.model:
            model[key] = edit.model[key]
        elif key in model:
            del model[key]  # the promoted model has none: an old digest must not stay
    out = io.StringIO()
    if len(docs) == 1 and not text.lstrip().startswith("---"):
        yaml.dump(doc, out)
    else:
        yaml.explicit_start = True
        yaml.dump_all(docs, out)
    return out.getvalue()
