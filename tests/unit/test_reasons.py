"""Reasons are constants (product.md principle 6): every Event and condition reason the
operator writes is a name from conditions.Reason (or the kernel's), never a string
typed at the call, so docs, tests and dashboards can list them; and no module shadows
a builtin name (``ReferenceError`` once did)."""

from __future__ import annotations

import ast
import builtins
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "operator" / "modelship"
MODULES = sorted(p for p in PKG.rglob("*.py") if "runtime" not in p.parts)


def _reason_argument(call: ast.Call, position: int, keyword: str) -> ast.expr | None:
    for kw in call.keywords:
        if kw.arg == keyword:
            return kw.value
    return call.args[position] if len(call.args) > position else None


def literal_reasons(source: str) -> list[tuple[int, str]]:
    """(line, text) of each string literal passed as an Event's reason (its second
    argument) or as set_condition's reason (its fourth)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
        where = {"Event": (1, "reason"), "set_condition": (3, "reason")}.get(name)
        if where is None:
            continue
        arg = _reason_argument(node, *where)
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            found.append((node.lineno, arg.value))
        if isinstance(arg, ast.JoinedStr):
            found.append((node.lineno, "<f-string>"))
    return found


def test_the_check_sees_literals_and_lets_constants_pass() -> None:
    source = (
        'Event("Normal", "CanaryStarted", "m")\n'
        'Event("Normal", reason=f"Analysis{v}", message="m")\n'
        'Event("Normal", Reason.PROMOTED, "m")\n'
        'set_condition(c, "Ready", "True", "Available", "m", 1, now)\n'
    )
    assert literal_reasons(source) == [(1, "CanaryStarted"), (2, "<f-string>"), (4, "Available")]


@pytest.mark.parametrize("path", MODULES, ids=[str(p.relative_to(PKG)) for p in MODULES])
def test_reasons_are_constants(path: Path) -> None:
    assert literal_reasons(path.read_text()) == [], f"{path}: use a conditions.Reason constant"


@pytest.mark.parametrize("path", MODULES, ids=[str(p.relative_to(PKG)) for p in MODULES])
def test_no_class_or_function_shadows_a_builtin(path: Path) -> None:
    tree = ast.parse(path.read_text())
    defined = {n.name for n in tree.body if isinstance(n, ast.ClassDef | ast.FunctionDef)} | {
        t.id
        for n in tree.body
        if isinstance(n, ast.Assign)
        for t in n.targets
        if isinstance(t, ast.Name)
    }
    assert not defined & set(dir(builtins)), f"{path} shadows {defined & set(dir(builtins))}"
