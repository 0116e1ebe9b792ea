"""argocd/argocd-cm.yaml is generated from the Lua scripts: it must not go stale."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from modelship_testenv.cluster import repo_root


def test_the_checked_in_argocd_cm_snippet_is_current() -> None:
    done = subprocess.run(
        [sys.executable, str(repo_root() / "hack" / "argocd_cm.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr


def test_the_snippet_holds_the_health_check_and_every_action() -> None:
    cm = yaml.safe_load((repo_root() / "argocd" / "argocd-cm.yaml").read_text())
    data = cm["data"]
    assert "obj.status" in data["resource.customizations.health.modelship.io_ModelDeployment"]
    actions = yaml.safe_load(data["resource.customizations.actions.modelship.io_ModelDeployment"])
    assert [d["name"] for d in actions["definitions"]] == [
        "promote",
        "promote-full",
        "abort",
        "retry",
        "pause",
        "resume",
    ]
    assert "discovery.lua" in actions


def test_the_snippet_holds_the_promotion_health_check_and_its_actions() -> None:
    data = yaml.safe_load((repo_root() / "argocd" / "argocd-cm.yaml").read_text())["data"]
    assert (
        "WaitingForApproval" in data["resource.customizations.health.modelship.io_ModelPromotion"]
    )
    actions = yaml.safe_load(data["resource.customizations.actions.modelship.io_ModelPromotion"])
    assert [d["name"] for d in actions["definitions"]] == ["approve", "reject"]


def test_another_argocd_identity_is_written_into_the_promotion_actions(tmp_path: Path) -> None:
    out = tmp_path / "argocd-cm.yaml"
    done = subprocess.run(
        [
            sys.executable,
            str(repo_root() / "hack" / "argocd_cm.py"),
            "--identity",
            "system:serviceaccount:gitops:argocd-server",
            "--output",
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    data = yaml.safe_load(out.read_text())["data"]
    actions = data["resource.customizations.actions.modelship.io_ModelPromotion"]
    assert '"system:serviceaccount:gitops:argocd-server"' in actions
    assert "argocd:argocd-server" not in actions
