"""`make demo`'s promotion part: staging -> prod through a soak and an approval.

Applies examples/promotion/ (three environments; the staging -> prod promotion with its
soak shortened to 20 s for the demo), shows the promotion waiting for approval, approves
it as the demo's user and waits until prod serves the version on its stable track.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import yaml

from modelship_testenv.cluster import repo_root

PROMOTION = "fraud-scorer-to-prod"
ENVIRONMENTS = ("ml-dev", "ml-staging", "ml-prod")
DEMO_SOAK = "20s"


def promotion_demo(kubectl: list[str], kubeconfig: Path, say: Callable[[str], None]) -> bool:
    examples = repo_root() / "examples" / "promotion"

    def run(*args: str, show: bool = True) -> bool:
        done = subprocess.run(list(args), capture_output=not show)
        return done.returncode == 0

    def modelship(*args: str) -> bool:
        return run(sys.executable, "-m", "modelship", *args, "--kubeconfig", str(kubeconfig))

    say("promotion: three environments from examples/promotion/environments.yaml")
    # A re-run starts over: the last run's promotion would stand Succeeded.
    for ns in ENVIRONMENTS:
        run(*kubectl, "delete", "namespace", ns, "--ignore-not-found", "--timeout=120s")
    if not run(*kubectl, "apply", "-f", str(examples / "environments.yaml"), show=False):
        return False
    for ns in ENVIRONMENTS:
        if not run(
            *kubectl, "wait", "-n", ns, "--for=condition=Ready", "md/fraud-scorer", "--timeout=120s"
        ):
            return False
    run(*kubectl, "get", "md", "-A")
    run(*kubectl, "apply", "-f", str(examples / "approvers.yaml"), show=False)
    say(
        f"promoting staging's version to prod: soak {DEMO_SOAK} (1h in the example), then "
        "an approval"
    )
    manifest = yaml.safe_load((examples / "staging-to-prod.yaml").read_text())
    manifest["spec"]["gates"]["soakTime"] = DEMO_SOAK
    applied = subprocess.run(
        [*kubectl, "apply", "-f", "-"], input=yaml.safe_dump(manifest).encode(), check=False
    )
    if applied.returncode != 0:
        return False
    if not run(
        *kubectl,
        "wait",
        "-n",
        "ml-prod",
        "mpromo",
        PROMOTION,
        "--for=jsonpath={.status.phase}=WaitingForApproval",
        "--timeout=120s",
    ):
        return False
    run(*kubectl, "get", "mpromo", "-n", "ml-prod")
    modelship("promotion", "status", PROMOTION, "-n", "ml-prod")
    say(
        "approving as the demo's user (cluster admin: it holds the approve verb); the "
        "approval policy checks the annotation names that very user"
    )
    if not modelship("approve", PROMOTION, "-n", "ml-prod", "-m", "demo: staging looked fine"):
        return False
    say("prod rolls the version out through its own canary (10% -> 50% -> 100%)")
    if not run(
        *kubectl,
        "wait",
        "-n",
        "ml-prod",
        f"mpromo/{PROMOTION}",
        "--for=condition=Succeeded",
        "--timeout=180s",
    ):
        modelship("promotion", "status", PROMOTION, "-n", "ml-prod")
        return False
    run(*kubectl, "get", "mpromo", "-n", "ml-prod")
    modelship("promotion", "status", PROMOTION, "-n", "ml-prod")
    modelship("status", "fraud-scorer", "-n", "ml-prod")
    return True
