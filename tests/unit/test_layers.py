"""Layering (product.md principle 8): only handlers import kopf, only kube/ imports a
Kubernetes client; decisions, renderers and the API models import neither."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "operator" / "modelship"
CLIENTS = ("kubernetes", "kr8s", "lightkube", "pykube", "kubernetes_asyncio")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


MODULES = sorted(p for p in PKG.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=[str(p.relative_to(PKG)) for p in MODULES])
def test_layers(path: Path) -> None:
    rel = path.relative_to(PKG).as_posix()
    imported = _imports(path)
    if "kopf" in imported:
        assert rel in ("handlers.py", "cli.py"), f"{rel} imports kopf"
    if imported & set(CLIENTS):
        assert rel.startswith("kube/"), f"{rel} imports a Kubernetes client"
    if rel.startswith("runtime/"):
        assert not imported & {"kopf", *CLIENTS}, f"{rel}: the runtime is not the operator"
        assert "modelship.kube" not in path.read_text(), rel
    if rel.startswith(("decisions/", "render/", "api/")) or rel in ("conditions.py", "observed.py"):
        assert not imported & {"kopf", "modelship.kube", "httpx", "urllib3", *CLIENTS}, rel
        text = path.read_text()
        assert "modelship.kube" not in text and "datetime.now" not in text, rel
