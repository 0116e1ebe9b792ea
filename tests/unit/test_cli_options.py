"""Command-line options: ``--context`` (the namespace the commands default to is that
context's) and ``operator --workers``."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from modelship.cli import build_parser
from modelship.kube.client import current_namespace

KUBECONFIG = {
    "apiVersion": "v1",
    "kind": "Config",
    "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443"}}],
    "users": [{"name": "u", "user": {"token": "t"}}],
    "contexts": [
        {"name": "dev", "context": {"cluster": "c", "user": "u", "namespace": "team-dev"}},
        {"name": "prod", "context": {"cluster": "c", "user": "u", "namespace": "team-prod"}},
        {"name": "bare", "context": {"cluster": "c", "user": "u"}},
    ],
    "current-context": "dev",
}


def test_the_namespace_is_the_chosen_contexts(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(KUBECONFIG))
    assert current_namespace(str(path)) == "team-dev"
    assert current_namespace(str(path), "prod") == "team-prod"
    assert current_namespace(str(path), "bare") == "default"
    assert current_namespace(str(path), "missing") == "default"


def test_every_command_that_talks_to_the_cluster_takes_a_context() -> None:
    parser = build_parser()
    for argv in (
        ["get"],
        ["status", "m"],
        ["promote", "m"],
        ["undo", "m"],
        ["promotions"],
        ["promotion", "status", "p"],
        ["promotion", "evidence", "p"],
        ["approve", "p"],
        ["reject", "p", "-m", "no"],
        ["dashboard"],
    ):
        args = parser.parse_args([*argv, "--context", "prod"])
        assert args.context == "prod", argv


def test_operator_workers_out_of_range_is_refused_before_anything_starts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from modelship.cli import main

    assert main(["operator", "--workers", "0"]) == 2
    assert "--workers must be 1-64" in capsys.readouterr().err
    assert build_parser().parse_args(["operator"]).workers == 8
