"""Layering (product.md principle 8), enforced.

The import rules are import-linter contracts in pyproject.toml ([tool.importlinter]):
pure packages import no I/O, only modelship.kube imports a Kubernetes client, only
handlers import kopf, the runtime imports none of the operator's I/O. This file runs
them, and checks what an import graph cannot see: a pure module reading the clock
(``datetime.now()``, ``time.monotonic()``); decisions get ``now`` as an argument.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import TypeGuard

import pytest

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "operator" / "modelship"

# Qualified names of the functions that read the clock.
CLOCK = frozenset(
    {
        "datetime.datetime.now",
        "datetime.datetime.utcnow",
        "datetime.datetime.today",
        "datetime.date.today",
        "time.time",
        "time.time_ns",
        "time.monotonic",
        "time.monotonic_ns",
        "time.perf_counter",
        "time.perf_counter_ns",
    }
)


def _contract(contract_id: str) -> dict[str, object]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    for contract in config["contracts"]:
        if contract.get("id") == contract_id:
            return dict(contract)
    raise LookupError(f"no import-linter contract with id {contract_id!r}")


def _pure_modules() -> list[Path]:
    """The files of the pure packages: the source modules of the `pure` contract."""
    modules = _contract("pure")["source_modules"]
    assert isinstance(modules, list)
    paths: set[Path] = set()
    for name in modules:
        base = PKG.parent.joinpath(*name.split("."))
        if base.is_dir():
            paths.update(base.rglob("*.py"))
        else:
            assert base.with_suffix(".py").is_file(), f"{name} is not a module"
            paths.add(base.with_suffix(".py"))
    return sorted(paths)


def _aliases(tree: ast.AST) -> dict[str, str]:
    """Local name -> qualified name for everything the module imports (any scope)."""
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.asname:
                    names[a.asname] = a.name
                else:  # `import a.b` binds `a`
                    top = a.name.split(".")[0]
                    names[top] = top
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for a in node.names:
                names[a.asname or a.name] = f"{node.module}.{a.name}"
    return names


def _qualified(node: ast.expr, aliases: dict[str, str]) -> str | None:
    """``a.b.c`` (a Name under attributes) with ``a`` resolved through the imports."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name) or node.id not in aliases:
        return None
    return ".".join([aliases[node.id], *reversed(parts)])


def clock_reads(source: str) -> list[tuple[int, str]]:
    """(line, qualified name) of every use of a clock function, called or passed on."""
    tree = ast.parse(source)
    aliases = _aliases(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name | ast.Attribute) and isinstance(node.ctx, ast.Load):
            name = _qualified(node, aliases)
            if name in CLOCK:
                found.append((node.lineno, name))
    return sorted(found)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from datetime import UTC, datetime\nx = datetime.now(UTC)", ["datetime.datetime.now"]),
        ("import datetime\nx = datetime.datetime.utcnow()", ["datetime.datetime.utcnow"]),
        ("import datetime as dt\nx = dt.date.today()", ["datetime.date.today"]),
        ("from datetime import date as D\nx = D.today()", ["datetime.date.today"]),
        ("import time\nx = time.time()", ["time.time"]),
        ("from time import monotonic\nx = monotonic()", ["time.monotonic"]),
        ("from time import perf_counter as pc\nclock = pc", ["time.perf_counter"]),
        ("def f():\n    import time\n    return time.monotonic()", ["time.monotonic"]),
        ("from datetime import datetime\nx = datetime.fromisoformat(s)", []),
        ("from datetime import timedelta\nx = timedelta(seconds=1)", []),
        ("now = 0\nx = now + 1", []),
    ],
)
def test_clock_reads_are_found(source: str, expected: list[str]) -> None:
    assert [name for _, name in clock_reads(source)] == expected


PURE = _pure_modules()


@pytest.mark.parametrize("path", PURE, ids=[str(p.relative_to(PKG)) for p in PURE])
def test_pure_modules_do_not_read_the_clock(path: Path) -> None:
    reads = [f"{path.relative_to(ROOT)}:{n}: {name}" for n, name in clock_reads(path.read_text())]
    assert not reads, "pure code reads the clock; take `now` as an argument:\n" + "\n".join(reads)


def _imports(node: ast.AST, package: str) -> TypeGuard[ast.Import | ast.ImportFrom]:
    if isinstance(node, ast.Import):
        return any(a.name.split(".")[0] == package for a in node.names)
    return isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == package


@pytest.mark.parametrize(
    ("package", "function"), [("kopf", "_operator"), ("modelship_testenv", "_dev_cluster")]
)
def test_cli_imports_its_exceptions_only_in_their_command(package: str, function: str) -> None:
    """The `kopf` and `testenv` contracts ignore modelship.cli's imports of them (whole-
    module edges); keep each inside the one command that needs it."""
    tree = ast.parse((PKG / "cli.py").read_text())
    commands = [f for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) and f.name == function]
    assert commands, f"cli.py has no {function}()"
    inside = {id(node) for f in commands for node in ast.walk(f)}
    stray = [n.lineno for n in ast.walk(tree) if _imports(n, package) and id(n) not in inside]
    assert not stray, f"cli.py imports {package} outside {function}() at lines {stray}"


def test_import_contracts_hold() -> None:
    exe = Path(sys.executable).parent / "lint-imports"
    cmd = str(exe) if exe.exists() else shutil.which("lint-imports")
    assert cmd, "lint-imports is not installed (pip install -e '.[test]')"
    run = subprocess.run([cmd, "--no-logo"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, f"lint-imports failed:\n{run.stdout}\n{run.stderr}"
