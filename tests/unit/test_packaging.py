"""The operator's wheel carries no dev tooling; the tooling (modelship_testenv) finds its
source checkout, and `modelship dev-cluster` says what to install when it is missing."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import modelship_testenv.cluster as testenv_cluster
from modelship.cli import main
from modelship_testenv.cluster import CheckoutNotFound, repo_root

REPO = Path(__file__).resolve().parents[2]
PKG = REPO / "operator" / "modelship"
# Build output and caches a checkout may hold: stale build/lib files would end up in a
# wheel built in place, so the wheel is built from a copy without them.
NOT_SOURCES = {".git", ".venv", "build", "dist", ".mypy_cache", ".ruff_cache", ".pytest_cache"}


def _ignore(directory: str, names: list[str]) -> set[str]:
    ignored = {n for n in names if n == "__pycache__" or n.endswith(".egg-info")}
    if Path(directory) == REPO:
        ignored |= NOT_SOURCES & set(names)
    return ignored


def test_the_operator_wheel_carries_no_testenv(tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(REPO, src, ignore=_ignore)
    out = tmp_path / "wheel"
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"),
            *("--no-index", "-w", str(out), str(src)),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    (wheel,) = out.glob("modelship-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "modelship/cli.py" in names and "modelship/py.typed" in names
    strays = [
        n
        for n in names
        if n.startswith(("modelship_testenv/", "modelship/devcluster/", "testenv/"))
    ]
    assert not strays, strays


def test_only_the_cli_imports_the_testenv_and_only_when_asked() -> None:
    importers = {}
    for path in sorted(PKG.rglob("*.py")):
        tree = ast.parse(path.read_text())
        found = [
            node
            for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom)
            and any(
                name.split(".")[0] == "modelship_testenv"
                for name in (
                    [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module or ""]
                )
            )
        ]
        if found:
            importers[path.relative_to(PKG).as_posix()] = (found, tree)
    assert set(importers) <= {"cli.py"}, sorted(importers)
    for found, tree in importers.values():
        assert not set(found) & set(tree.body), "cli.py imports the testenv at module level"


def test_dev_cluster_without_the_testenv_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "modelship_testenv", None)  # import fails
    assert main(["dev-cluster", "status"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "modelship-testenv" in err and "pip install -e testenv/" in err
    with pytest.raises(SystemExit) as done:
        main(["dev-cluster", "--help"])
    assert done.value.code == 0
    assert "modelship-testenv" in capsys.readouterr().out


def test_repo_root_is_this_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MODELSHIP_REPO_ROOT", raising=False)
    assert repo_root() == REPO


def test_repo_root_env_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "hack").mkdir()
    (tmp_path / "hack" / "build-testenv.sh").write_text("")
    monkeypatch.setenv("MODELSHIP_REPO_ROOT", str(tmp_path))
    assert repo_root() == tmp_path.resolve()
    monkeypatch.setenv("MODELSHIP_REPO_ROOT", str(tmp_path / "hack"))
    with pytest.raises(CheckoutNotFound, match=r"MODELSHIP_REPO_ROOT=.*build-testenv\.sh"):
        repo_root()


def test_repo_root_outside_a_checkout_names_what_it_looked_for(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("MODELSHIP_REPO_ROOT", raising=False)
    site = tmp_path / "site-packages" / "modelship_testenv"
    monkeypatch.setattr(testenv_cluster, "__file__", str(site / "cluster.py"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CheckoutNotFound) as err:
        repo_root()
    message = str(err.value)
    assert "hack/build-testenv.sh" in message and str(site) in message
    assert "MODELSHIP_REPO_ROOT" in message
