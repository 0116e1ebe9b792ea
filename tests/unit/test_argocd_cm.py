"""argocd/argocd-cm.yaml is generated from the Lua scripts: it must not go stale."""

from __future__ import annotations

import subprocess
import sys

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
