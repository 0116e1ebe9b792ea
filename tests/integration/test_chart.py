"""charts/modelship: linted, rendered and validated with several value sets, checked for
Pod Security offline and by the real admission plugin, installed, and the operator run
with exactly the chart's identity; upgraded with a changed CRD, and uninstalled.

The helm binary is built from Go modules with the control plane (hack/build-testenv.sh),
the offline Pod Security check from k8s.io/pod-security-admission (hack/podsecurity-check),
and the prometheus-operator CRDs come from its Go module, so ServiceMonitor, PodMonitor
and PrometheusRule are validated against their real schemas.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelship_testenv.cluster import build_binaries, free_port, repo_root
from modelship_testenv.harness import OperatorProcess, go_tool, install_crds
from modelship_testenv.podrunner import PodRunner
from tests.integration.conftest import Kubectl, fresh_namespace, wait_for
from tests.integration.test_canary import canary_at, canary_of, ctl, wait_promoted
from tests.integration.test_drift import RETRAINING, drift_of, monitored, send
from tests.integration.test_promotion import user_kubeconfig
from tests.integration.test_real_runtime import runner, trained
from tests.integration.test_serving import md, wait_ready

pytestmark = pytest.mark.cluster
__all__ = ["runner", "trained"]  # fixtures used by name

CHART = repo_root() / "charts" / "modelship"
SNAPSHOTS = repo_root() / "tests" / "snapshots" / "chart"
KUBE_VERSION = "1.37.2"
UPDATE = os.environ.get("MODELSHIP_UPDATE_SNAPSHOTS") == "1"

# Value sets a platform team would use; each is linted, rendered, snapshotted and
# validated by the API server.
VALUE_SETS: dict[str, dict[str, Any]] = {
    "default": {},
    "namespaced": {
        "watchNamespaces": ["team-a", "team-b"],
        "gitCredentials": {"namespaces": ["team-a"]},
    },
    "ha-monitoring": {
        "replicas": 3,
        "metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "prom"}}},
        "prometheusRule": {"enabled": True},
        "grafanaDashboard": {"enabled": True},
        "argocd": {"customizations": True},
        "image": {"digest": "sha256:" + "ab" * 32},
    },
    "single-podmonitor": {
        "leaderElection": {"enabled": False},
        "metrics": {"service": {"enabled": False}, "podMonitor": {"enabled": True}},
        "crds": {"keep": False},
        "approvalPolicy": {"enabled": False},
        "logLevel": "debug",
    },
    # the second release of a fleet split in two (docs/reliability.md, "Sharding")
    "shard": {
        "watchSelector": "modelship.io/shard in (b,c)",
        "crds": {"install": False},
        "approvalPolicy": {"enabled": False},
        "prometheusRule": {"enabled": True},
    },
    "own-identity": {
        "serviceAccount": {"create": False, "name": "platform-operator"},
        "rbac": {"create": False},
        "crds": {"install": False},
        "fullnameOverride": "modelship",
    },
}


def helm_binary() -> Path:
    found = shutil.which("helm") if os.environ.get("MODELSHIP_TEST_KUBECONFIG") else None
    return Path(found) if found else build_binaries() / "bin" / "helm"


@pytest.fixture(scope="module")
def helm() -> Path:
    return helm_binary()


def values_file(tmp: Path, values: dict[str, Any]) -> Path:
    path = tmp / f"values-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


def render(
    helm: Path, tmp: Path, values: dict[str, Any], ns: str = "modelship-system", chart: Path = CHART
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(helm),
            "template",
            "modelship",
            str(chart),
            "-n",
            ns,
            "--kube-version",
            KUBE_VERSION,
            "-f",
            str(values_file(tmp, values)),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )


def docs(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def rendered(helm: Path, tmp: Path, values: dict[str, Any], **kw: Any) -> list[dict[str, Any]]:
    done = render(helm, tmp, values, **kw)
    assert done.returncode == 0, done.stderr
    return docs(done.stdout)


# ----- without a cluster: lint, snapshots, refusals, Pod Security, RBAC shape ------------


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_lint_strict(helm: Path, tmp_path: Path, name: str) -> None:
    done = subprocess.run(
        [
            str(helm),
            "lint",
            "--strict",
            "--kube-version",
            KUBE_VERSION,
            str(CHART),
            "-f",
            str(values_file(tmp_path, VALUE_SETS[name])),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_rendering_matches_its_snapshot(helm: Path, tmp_path: Path, name: str) -> None:
    """Every rendered object but the CRDs (hack/chart.py generates those from crds/ and
    `make lint` checks them). MODELSHIP_UPDATE_SNAPSHOTS=1 rewrites the snapshots."""
    objects = [
        d
        for d in rendered(helm, tmp_path, VALUE_SETS[name])
        if d["kind"] != "CustomResourceDefinition"
    ]
    text = yaml.safe_dump_all(objects, sort_keys=False, width=100)
    snapshot = SNAPSHOTS / f"{name}.yaml"
    if UPDATE:
        snapshot.parent.mkdir(parents=True, exist_ok=True)
        snapshot.write_text(text)
    assert snapshot.exists(), f"no snapshot {snapshot}: run with MODELSHIP_UPDATE_SNAPSHOTS=1"
    assert text == snapshot.read_text(), f"{name} renders differently from {snapshot}"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"replicas": 2, "leaderElection": {"enabled": False}},
            "replicas > 1 needs leaderElection.enabled",
        ),
        (
            {"metrics": {"serviceMonitor": {"enabled": True}, "podMonitor": {"enabled": True}}},
            "are exclusive",
        ),
        (
            {"metrics": {"service": {"enabled": False}, "serviceMonitor": {"enabled": True}}},
            "needs metrics.service.enabled",
        ),
        ({"logLevel": "loud"}, "at '/logLevel': value must be one of"),
        ({"workers": 0}, "at '/workers'"),
        ({"leaderElection": {"lease": 30}}, "additional properties 'lease' not allowed"),
        ({"watchNamespaces": ["Team A"]}, "at '/watchNamespaces/0'"),
        ({"image": {"digest": "latest"}}, "at '/image/digest'"),
        ({"watchSelector": "a=b\nc=d"}, "at '/watchSelector'"),
        ({"serviceAccount": {"create": False}}, "serviceAccount.name is required"),
    ],
)
def test_bad_values_are_refused_with_the_value_named(
    helm: Path, tmp_path: Path, values: dict[str, Any], message: str
) -> None:
    done = render(helm, tmp_path, values)
    assert done.returncode != 0
    assert message in done.stderr, done.stderr


@pytest.fixture(scope="module")
def podsecurity_check() -> Path:
    return go_tool(repo_root() / "hack" / "podsecurity-check", "podsecurity-check")


def test_pods_meet_the_restricted_profile_offline(
    helm: Path, tmp_path: Path, podsecurity_check: Path
) -> None:
    for name, values in VALUE_SETS.items():
        text = yaml.safe_dump_all(rendered(helm, tmp_path, values))
        done = subprocess.run(
            [str(podsecurity_check), "-level", "restricted"],
            input=text,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, f"{name}: {done.stdout}{done.stderr}"
        assert "allowed at restricted" in done.stdout


def test_the_offline_check_can_fail(helm: Path, tmp_path: Path, podsecurity_check: Path) -> None:
    """The same check on the chart's Deployment with one restricted setting undone."""
    deployment = next(d for d in rendered(helm, tmp_path, {}) if d["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["securityContext"]["allowPrivilegeEscalation"] = True
    done = subprocess.run(
        [str(podsecurity_check)], input=yaml.safe_dump(deployment), capture_output=True, text=True
    )
    assert done.returncode == 1 and "allowPrivilegeEscalation != false" in done.stdout, done.stdout


def rules(objects: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{d['kind']}/{d['metadata']['name']}", rule)
        for d in objects
        if d["kind"] in ("ClusterRole", "Role")
        for rule in d.get("rules") or []
    ]


def test_rbac_has_no_wildcards_and_secrets_only_for_git_credentials(
    helm: Path, tmp_path: Path
) -> None:
    for name, values in VALUE_SETS.items():
        for role, rule in rules(rendered(helm, tmp_path, values)):
            for key in ("apiGroups", "resources", "verbs"):
                assert "*" not in rule.get(key, []), f"{name}: {role} has a wildcard {key}"
            if "secrets" in rule.get("resources", []):
                assert role.endswith("-git-credentials") and rule["verbs"] == ["get"], role


def test_deploy_rbac_yaml_grants_what_the_chart_grants(helm: Path, tmp_path: Path) -> None:
    """deploy/rbac.yaml (plain kubectl, no Helm) and the chart's default ClusterRole
    must not drift apart."""
    chart = next(d for d in rendered(helm, tmp_path, {}) if d["kind"] == "ClusterRole")["rules"]
    plain = next(
        d
        for d in docs((repo_root() / "deploy" / "rbac.yaml").read_text())
        if d["kind"] == "ClusterRole" and d["metadata"]["name"] == "modelship-operator"
    )["rules"]

    def flat(rs: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
        return {
            (g, r, v)
            for rule in rs
            for g in rule["apiGroups"]
            for r in rule["resources"]
            for v in rule["verbs"]
        }

    assert flat(plain) == flat(chart)


# ----- against the API server --------------------------------------------------------------

PROMETHEUS_OPERATOR_CRDS = ("servicemonitors", "podmonitors", "prometheusrules")


def _pinned(name: str) -> str:
    for line in (repo_root() / "hack" / "versions.env").read_text().splitlines():
        if line.startswith(f"{name}="):
            return line.split("=", 1)[1].strip()
    raise AssertionError(f"{name} is not pinned in hack/versions.env")


@pytest.fixture(scope="module")
def monitoring_crds(kubectl: Kubectl) -> None:
    """ServiceMonitor, PodMonitor and PrometheusRule, from prometheus-operator's Go module."""
    version = _pinned("PROMETHEUS_OPERATOR_VERSION")
    done = subprocess.run(
        [
            "go",
            "mod",
            "download",
            "-json",
            f"github.com/prometheus-operator/prometheus-operator@{version}",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    crds = Path(json.loads(done.stdout)["Dir"]) / "example" / "prometheus-operator-crd"
    for plural in PROMETHEUS_OPERATOR_CRDS:
        kubectl.run(
            "apply", "--server-side", "-f", str(crds / f"monitoring.coreos.com_{plural}.yaml")
        )
        kubectl.run("wait", "--for=condition=Established", f"crd/{plural}.monitoring.coreos.com")


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_every_value_set_passes_the_api_servers_validation(
    helm: Path, kubectl: Kubectl, monitoring_crds: None, tmp_path: Path, name: str
) -> None:
    """`--dry-run=server`: schemas (the CRDs' too), defaulting and admission, nothing
    stored. The namespaces the value sets name exist for it."""
    for ns in ("modelship-system", "team-a", "team-b"):
        kubectl.run("create", "namespace", ns, check=False)
    text = render(helm, tmp_path, VALUE_SETS[name]).stdout
    done = kubectl.run(
        "apply",
        "--server-side",
        "--force-conflicts",
        "--dry-run=server",
        "-f",
        "-",
        input=text,
        check=False,
    )
    assert done.returncode == 0, done.stderr


# ----- installed: the restricted profile, the chart's identity, upgrade, uninstall ---------


def helm_run(helm: Path, kubectl: Kubectl, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(helm), "--kubeconfig", str(kubectl.kubeconfig), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"helm {' '.join(args)}:\n{done.stdout}{done.stderr}"
    return done


CRD_NAMES = ("modeldeployments.modelship.io", "modelpromotions.modelship.io")


def adopt_crds(kubectl: Kubectl, release: str, ns: str) -> None:
    """The session installed the CRDs from crds/; mark them as the release's, as a
    `helm install` on a fresh cluster would have made them."""
    for crd in CRD_NAMES:
        kubectl.run("label", "crd", crd, "app.kubernetes.io/managed-by=Helm", "--overwrite")
        kubectl.run(
            "annotate",
            "crd",
            crd,
            f"meta.helm.sh/release-name={release}",
            f"meta.helm.sh/release-namespace={ns}",
            "--overwrite",
        )


@pytest.fixture(scope="module")
def release(helm: Path, kubectl: Kubectl) -> Iterator[tuple[str, str]]:
    """The chart installed with its defaults into a namespace that enforces the
    restricted profile. At the end the CRDs go back to crds/ (an upgrade test changes
    them)."""
    with fresh_namespace(kubectl, "msys") as ns:
        for mode in ("enforce", "warn", "audit"):
            kubectl.run("label", "namespace", ns, f"pod-security.kubernetes.io/{mode}=restricted")
        adopt_crds(kubectl, "modelship", ns)
        # The session's approval policy was applied from crds/ too.
        for kind in ("validatingadmissionpolicy", "validatingadmissionpolicybinding"):
            kubectl.run("delete", kind, "modelpromotion-approval.modelship.io", check=False)
        try:
            helm_run(helm, kubectl, "install", "modelship", str(CHART), "-n", ns, "--wait=false")
            yield "modelship", ns
        finally:
            subprocess.run(
                [
                    str(helm),
                    "--kubeconfig",
                    str(kubectl.kubeconfig),
                    "uninstall",
                    "modelship",
                    "-n",
                    ns,
                ],
                capture_output=True,
                timeout=120,
            )
            install_crds(kubectl.argv)


def test_the_installed_pods_are_admitted_under_the_restricted_profile(
    kubectl: Kubectl, release: tuple[str, str]
) -> None:
    _, ns = release

    def pod() -> dict[str, Any] | None:
        items = kubectl.json("get", "pods", "-n", ns, "-l", "app.kubernetes.io/component=operator")[
            "items"
        ]
        return items[0] if items else None

    try:
        created = wait_for("the operator pod created by its ReplicaSet", pod, 60)
    except AssertionError:
        events = kubectl.run("get", "events", "-n", ns).stdout
        raise AssertionError(f"no operator pod; events:\n{events}") from None
    assert created["spec"]["securityContext"]["runAsNonRoot"] is True
    warnings = kubectl.run("get", "events", "-n", ns, "--field-selector", "reason=FailedCreate")
    assert "violates PodSecurity" not in warnings.stdout


def test_the_admission_plugin_refuses_what_the_profile_forbids(
    kubectl: Kubectl, release: tuple[str, str]
) -> None:
    """The namespace really enforces: the same pod with privilege escalation is refused."""
    _, ns = release
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "escalates"},
        "spec": {
            "containers": [
                {
                    "name": "c",
                    "image": "x",
                    "securityContext": {"allowPrivilegeEscalation": True},
                }
            ]
        },
    }
    done = kubectl.run("apply", "-n", ns, "-f", "-", input=json.dumps(pod), check=False)
    assert done.returncode != 0 and "violates PodSecurity" in done.stderr, done.stderr


def chart_operator(kubectl: Kubectl, ns: str, sa: str, log_dir: Path) -> OperatorProcess:
    """`modelship operator` with the installed Deployment's own arguments and the chart's
    ServiceAccount token: what the pod would run, as a process here."""
    deployment = kubectl.json(
        "get", "deployment", "-n", ns, "-l", "app.kubernetes.io/component=operator"
    )["items"][0]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    args = []
    for arg in container["args"][1:]:  # [0] is the subcommand
        if arg.startswith(("--health-address=", "--metrics-address=")):
            arg = arg.split("=")[0] + f"=127.0.0.1:{free_port()}"
        args.append(arg)
    op = OperatorProcess(
        user_kubeconfig(kubectl, ns, sa, log_dir / f"{sa}.kubeconfig"),
        log_dir / f"{sa}.log",
        args,
        env={"POD_NAME": f"{sa}-test", "MODELSHIP_GIT_CACHE": str(log_dir / "git")},
    )
    return op


def can(kubectl: Kubectl, who: str, verb: str, resource: str, *extra: str) -> bool:
    done = kubectl.run("auth", "can-i", verb, resource, "--as", who, *extra, check=False)
    return done.stdout.strip() == "yes"


def test_the_operator_needs_no_more_than_the_charts_identity(
    kubectl: Kubectl,
    release: tuple[str, str],
    running_operator: OperatorProcess,
    namespace: str,
    tmp_path: Path,
    trained: Path,
    runner: PodRunner,
) -> None:
    """A canary behind the Gateway API with autoscaling to promotion and through an
    abort, then drift on live traffic to a retraining Job: nothing it asks for is
    refused (its log has no "forbidden"), and it holds the leader Lease it needs."""
    _, release_ns = release
    sa = "modelship"
    running_operator.stop()
    op = chart_operator(kubectl, release_ns, sa, tmp_path)
    op.start()
    try:
        wait_for(
            "the chart's operator to lead",
            lambda: (
                kubectl.run("get", "lease", "modelship", "-n", release_ns, check=False).returncode
                == 0
            ),
            60,
        )
        steps: list[dict[str, Any]] = [{"setWeight": 50}, {"pause": {}}]
        auto = {
            "minReplicas": 2,
            "maxReplicas": 4,
            "metrics": [{"cpu": {"averageUtilization": 70}}],
        }
        canary_at(kubectl, namespace, "least", 2, steps, 50, autoscaling=auto)
        assert ctl(kubectl, namespace, "promote", "least").returncode == 0
        wait_promoted(kubectl, namespace, "least", "2.0.0", timeout=90)
        kubectl.run(
            "patch",
            "md",
            "least",
            "-n",
            namespace,
            "--type",
            "merge",
            "-p",
            json.dumps(
                {"spec": {"model": {"version": "3.0.0", "uri": "s3://models/fraud/3.0.0/"}}}
            ),
        )
        wait_for(
            "the 3.0.0 canary at 50%",
            lambda: canary_of(kubectl, namespace, "least").get("actualWeight") == 50,
            90,
        )
        assert ctl(kubectl, namespace, "abort", "least").returncode == 0
        wait_for(
            "aborted", lambda: canary_of(kubectl, namespace, "least").get("phase") == "Aborted", 60
        )
        assert (
            md(kubectl, namespace, "least")["status"]["stableRevision"]["modelVersion"] == "2.0.0"
        )

        env = [{"name": "MODELSHIP_FAULT_INPUT_SHIFT", "value": "1.5"}]
        monitored(kubectl, namespace, "drifting", trained, env, retraining=RETRAINING)
        stop = threading.Event()
        sender = threading.Thread(
            target=send, args=(kubectl, namespace, "drifting", stop), daemon=True
        )
        sender.start()
        try:
            wait_for(
                "drift to start a retraining Job",
                lambda: kubectl.json("get", "jobs", "-n", namespace)["items"],
                120,
            )
        finally:
            stop.set()
            sender.join(15)
        assert drift_of(kubectl, namespace, "drifting")["verdict"] == "Drifted"
        wait_for(
            "the Job's end recorded",
            lambda: (md(kubectl, namespace, "drifting")["status"].get("retraining") or {}).get(
                "last"
            ),
            60,
        )
        events = kubectl.json("get", "events", "-n", namespace)["items"]
        assert {"Promoted", "Aborted"} <= {e["reason"] for e in events}
    finally:
        op.stop()
        log = op.log_tail(400_000)
        running_operator.start()
    assert "forbidden" not in log.lower(), log[-3000:]
    who = f"system:serviceaccount:{release_ns}:{sa}"
    assert not can(kubectl, who, "get", "secrets", "-n", namespace)
    assert not can(kubectl, who, "list", "secrets", "-A")
    assert not can(kubectl, who, "update", "modeldeployments.modelship.io", "-n", namespace)
    assert not can(kubectl, who, "delete", "nodes")
    assert not can(kubectl, who, "create", "pods", "-n", namespace)
    assert not can(kubectl, who, "update", "leases.coordination.k8s.io", "-n", namespace)
    assert not can(kubectl, who, "*", "*")
    assert can(kubectl, who, "patch", "deployments.apps", "-n", namespace)
    assert can(kubectl, who, "update", "leases.coordination.k8s.io/modelship", "-n", release_ns)


def test_namespaced_mode_works_in_its_namespaces_and_is_denied_elsewhere(
    helm: Path,
    kubectl: Kubectl,
    release: tuple[str, str],
    running_operator: OperatorProcess,
    tmp_path: Path,
) -> None:
    """A second release that watches one namespace (no CRDs or approval policy of its
    own: the first release has them): a ModelDeployment there becomes Ready under its
    identity; it may not touch another namespace, nor read Secrets outside
    gitCredentials.namespaces."""
    with (
        fresh_namespace(kubectl, "team") as team,
        fresh_namespace(kubectl, "other") as other,
        fresh_namespace(kubectl, "msns") as ns,
    ):
        helm_run(
            helm,
            kubectl,
            "install",
            "team-ops",
            str(CHART),
            "-n",
            ns,
            "--wait=false",
            "--set",
            "crds.install=false",
            "--set",
            "approvalPolicy.enabled=false",
            "--set",
            f"watchNamespaces={{{team}}}",
            "--set",
            f"gitCredentials.namespaces={{{team}}}",
        )
        try:
            who = f"system:serviceaccount:{ns}:team-ops-modelship"
            assert can(kubectl, who, "patch", "deployments.apps", "-n", team)
            assert can(kubectl, who, "get", "secrets", "-n", team)
            assert not can(kubectl, who, "patch", "deployments.apps", "-n", other)
            assert not can(kubectl, who, "watch", "modeldeployments.modelship.io", "-n", other)
            assert not can(kubectl, who, "get", "secrets", "-n", other)
            assert not can(kubectl, who, "list", "deployments.apps", "-A")
            assert can(kubectl, who, "list", "nodes")
            running_operator.stop()
            op = chart_operator(kubectl, ns, "team-ops-modelship", tmp_path)
            op.start()
            try:
                from tests.integration.manifests import dump, model_deployment

                assert (
                    kubectl.apply(dump(model_deployment("scoped", replicas=1)), team).returncode
                    == 0
                )
                wait_ready(kubectl, team, "scoped")
            finally:
                op.stop()
                log = op.log_tail(200_000)
                running_operator.start()
            assert "forbidden" not in log.lower(), log[-3000:]
        finally:
            subprocess.run(
                [
                    str(helm),
                    "--kubeconfig",
                    str(kubectl.kubeconfig),
                    "uninstall",
                    "team-ops",
                    "-n",
                    ns,
                ],
                capture_output=True,
                timeout=120,
            )


def test_upgrade_updates_the_crds_and_uninstall_keeps_them_and_every_object(
    helm: Path, kubectl: Kubectl, release: tuple[str, str], namespace: str, tmp_path: Path
) -> None:
    name, ns = release
    from tests.integration.manifests import dump, model_deployment

    assert kubectl.apply(dump(model_deployment("kept", replicas=1)), namespace).returncode == 0
    # The next chart version: a CRD with one more printer column.
    chart = tmp_path / "modelship"
    shutil.copytree(CHART, chart)
    crd_path = chart / "templates" / "crds" / "modeldeployments.modelship.io.yaml"
    text = crd_path.read_text()
    marker = "    additionalPrinterColumns:\n"
    assert marker in text
    column = "    - name: Upgraded\n      type: string\n      jsonPath: .metadata.uid\n"
    crd_path.write_text(text.replace(marker, marker + column, 1))
    chart_yaml = chart / "Chart.yaml"
    chart_yaml.write_text(chart_yaml.read_text().replace("version: 0.1.0", "version: 0.1.1"))

    helm_run(helm, kubectl, "upgrade", name, str(chart), "-n", ns, "--wait=false")
    crd = kubectl.json("get", "crd", CRD_NAMES[0])
    columns = [c["name"] for c in crd["spec"]["versions"][0]["additionalPrinterColumns"]]
    assert "Upgraded" in columns, columns
    assert md(kubectl, namespace, "kept")["metadata"]["name"] == "kept"

    helm_run(helm, kubectl, "uninstall", name, "-n", ns)
    for crd_name in CRD_NAMES:
        kept = kubectl.json("get", "crd", crd_name)
        assert kept["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert md(kubectl, namespace, "kept")["spec"]["replicas"] == 1
    gone = kubectl.run("get", "deployment", "-n", ns, "-o", "name").stdout.split()
    assert gone == [], gone
