"""Server-side apply bodies are read by the API server as YAML: every string must come back
as it was sent. PyYAML's reader refuses and folds the same characters as the API server's
(YAML 1.1: the printable set, NEL and U+2028/2029 as line breaks), so it stands in here."""

from __future__ import annotations

import json

import pytest
import yaml

from modelship.kube.client import apply_body


@pytest.mark.parametrize(
    "value",
    [
        "plain 1.4.0",
        "\u7248\u672c-1 \U0001f680",  # outside the BMP: no surrogate escapes (issue 16)
        "a\x7fb",  # DEL: "control characters are not allowed" (found by fuzzing)
        "a\x80b\x9fc",  # C1 controls, the same
        "a\x85b",  # NEL: a line break to YAML, folded to a space
        "a\u2028b\u2029c",  # line and paragraph separators, the same
        "\ufeffbom",
        "a\ufffeb\uffff",
        "tab\tnew\nline\r\x01\x1f",  # C0: JSON escapes them itself
    ],
)
def test_every_string_survives_the_yaml_reader(value: str) -> None:
    obj = {"spec": {"env": [{"name": "A", "value": value}], "version": value}}
    body = apply_body(obj).decode()
    assert yaml.safe_load(body) == obj
    assert json.loads(body) == obj
    assert "\\ud83d" not in body, "no surrogate escapes"
