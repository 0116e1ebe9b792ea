import re
from typing import Any

import pytest

from modelship.render.labels import Owner, label_value, lossless
from modelship.render.serving import runtime_deployment, runtime_service
from modelship.revision_hash import revision_name
from tests.unit.factories import gpu_spec, spec

OWNER = Owner(name="fraud", namespace="ml", uid="u-1")


def _pod(dep: dict[str, Any]) -> dict[str, Any]:
    pod: dict[str, Any] = dep["spec"]["template"]["spec"]
    return pod


def test_labels_owner_and_selector() -> None:
    s = spec()
    dep = runtime_deployment(OWNER, s, "abc123", "stable", 2)
    labels = dep["spec"]["template"]["metadata"]["labels"]
    assert labels == {
        "app.kubernetes.io/managed-by": "modelship",
        "modelship.io/model-deployment": "fraud",
        "modelship.io/track": "stable",
        "modelship.io/revision": "abc123",
        "modelship.io/model-version": "1.4.0",
    }
    # The selector must not include the revision: it is immutable on a Deployment.
    assert "modelship.io/revision" not in dep["spec"]["selector"]["matchLabels"]
    ref = dep["metadata"]["ownerReferences"][0]
    assert (ref["kind"], ref["uid"], ref["controller"]) == ("ModelDeployment", "u-1", True)
    assert dep["metadata"]["name"] == "fraud-stable"
    assert dep["spec"]["replicas"] == 2
    assert dep["spec"]["progressDeadlineSeconds"] == 600


def test_model_reference_reaches_the_container_env() -> None:
    s = spec(
        model={
            "name": "m",
            "version": "2",
            "uri": "gs://b/m/2",
            "format": "onnx",
            "digest": "sha256:" + "a" * 64,
        },
        runtime={"image": "rt", "env": [{"name": "EXTRA", "value": "1"}]},
    )
    env = {
        e["name"]: e.get("value")
        for e in _pod(runtime_deployment(OWNER, s, "r", "stable", 1))["containers"][0]["env"]
    }
    assert env["MODELSHIP_MODEL_URI"] == "gs://b/m/2"
    assert env["MODELSHIP_MODEL_VERSION"] == "2"
    assert env["MODELSHIP_MODEL_DIGEST"] == "sha256:" + "a" * 64
    assert env["MODELSHIP_MODEL_FORMAT"] == "onnx"
    assert env["MODELSHIP_TRACK"] == "stable"
    assert env["EXTRA"] == "1"


def test_cpu_only_has_no_gpu_scheduling() -> None:
    pod = _pod(runtime_deployment(OWNER, spec(), "r", "stable", 1))
    assert "tolerations" not in pod and "nodeSelector" not in pod
    assert "resources" not in pod["containers"][0]


def test_gpu_request_toleration_and_product() -> None:
    s = gpu_spec(count=2, product="NVIDIA-H100-80GB-HBM3")
    pod = _pod(runtime_deployment(OWNER, s, "r", "stable", 1))
    res = pod["containers"][0]["resources"]
    assert res["limits"]["nvidia.com/gpu"] == 2 and res["requests"]["nvidia.com/gpu"] == 2
    assert pod["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod[
        "tolerations"
    ]


def test_mig_resource_name_is_requested_as_is() -> None:
    pod = _pod(
        runtime_deployment(
            OWNER, gpu_spec(resource_name="nvidia.com/mig-1g.10gb"), "r", "stable", 1
        )
    )
    assert pod["containers"][0]["resources"]["limits"] == {"nvidia.com/mig-1g.10gb": 1}
    keys = {t["key"] for t in pod["tolerations"]}
    assert keys == {"nvidia.com/gpu", "nvidia.com/mig-1g.10gb"}


def test_user_resources_are_kept_beside_the_gpu() -> None:
    s = spec(
        runtime={
            "image": "i",
            "resources": {"requests": {"cpu": "2", "memory": "4Gi"}, "limits": {"memory": "8Gi"}},
            "gpu": {"count": 1},
        }
    )
    res = _pod(runtime_deployment(OWNER, s, "r", "stable", 1))["containers"][0]["resources"]
    assert res["requests"] == {"cpu": "2", "memory": "4Gi", "nvidia.com/gpu": 1}
    assert res["limits"] == {"memory": "8Gi", "nvidia.com/gpu": 1}


def test_separate_metrics_port_is_exposed() -> None:
    s = spec(runtime={"image": "i", "port": 9000, "metrics": {"port": 9100}})
    ports = _pod(runtime_deployment(OWNER, s, "r", "stable", 1))["containers"][0]["ports"]
    assert [(p["name"], p["containerPort"]) for p in ports] == [("http", 9000), ("metrics", 9100)]
    svc = runtime_service(OWNER, s)
    assert [p["name"] for p in svc["spec"]["ports"]] == ["http", "metrics"]
    assert svc["spec"]["selector"]["modelship.io/model-deployment"] == "fraud"


def test_revision_ignores_replicas_and_changes_with_the_model() -> None:
    assert revision_name(spec(replicas=1)) == revision_name(spec(replicas=5))
    other = spec(model={"name": "fraud-scorer", "version": "1.5.0", "uri": "s3://x/"})
    assert revision_name(other) != revision_name(spec())


LABEL = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")  # the API server's rule


@pytest.mark.parametrize(
    "text", ["1.4.0+build 7", "v" * 100, "版本-1", "1.0 🚀", "🚀", "-x-", "Ω", "a" * 63 + "é"]
)
def test_label_values_of_free_text_are_valid_ascii_and_distinct(text: str) -> None:
    value = label_value(text)
    assert LABEL.match(value) and len(value) <= 63 and value.isascii(), value
    assert not lossless(text)
    assert label_value(text + "x") != value  # another version, another label


def test_a_label_safe_version_is_its_own_label() -> None:
    assert label_value("1.4.0") == "1.4.0" and lossless("2.0.0-rc.1")


def test_the_original_version_is_kept_in_an_annotation_only_when_the_label_lost_it() -> None:
    plain = runtime_deployment(OWNER, spec(), "r", "stable", 1)
    assert "modelship.io/model-version" not in plain["spec"]["template"]["metadata"]["annotations"]
    cjk = spec(model={"name": "fraud-scorer", "version": "版本-1", "uri": "s3://x/"})
    rendered = runtime_deployment(OWNER, cjk, "r", "stable", 1)
    assert (
        rendered["spec"]["template"]["metadata"]["annotations"]["modelship.io/model-version"]
        == "版本-1"
    )


def test_reserved_env_names_are_exactly_what_the_operator_sets() -> None:
    from modelship.api.deployment import OPERATOR_ENV
    from modelship.render.serving import model_env

    names = tuple(e["name"] for e in model_env(spec(), "stable", "r"))
    assert (*names, "MODELSHIP_REFERENCE_PATH") == OPERATOR_ENV  # the last one with spec.drift


def test_a_drift_reference_is_mounted_for_the_runtime() -> None:
    from modelship.render.serving import REFERENCE_FILE

    drift = {"reference": {"configMapRef": {"name": "fraud-ref", "key": "ref.json"}}}
    d = runtime_deployment(OWNER, spec(drift=drift), "r", "stable", 1)
    pod = d["spec"]["template"]["spec"]
    assert pod["volumes"][0]["configMap"] == {
        "name": "fraud-ref",
        "items": [{"key": "ref.json", "path": "reference.json"}],
    }
    container = pod["containers"][0]
    assert {"name": "MODELSHIP_REFERENCE_PATH", "value": REFERENCE_FILE} in container["env"]
    assert container["volumeMounts"][0]["mountPath"] == "/etc/modelship/reference"
    assert (
        "volumes"
        not in runtime_deployment(OWNER, spec(), "r", "stable", 1)["spec"]["template"]["spec"]
    )


def test_an_empty_list_and_no_list_are_the_same_revision() -> None:
    from tests.unit.factories import spec

    image = "registry.example.com/modelship-runtime:0.1"
    absent = spec(runtime={"image": image})
    empty = spec(runtime={"image": image, "env": [], "args": []})
    assert revision_name(empty) == revision_name(absent), "a revert written with env: []"
    changed = spec(runtime={"image": image, "env": [{"name": "X", "value": "1"}]})
    assert revision_name(changed) != revision_name(absent)
