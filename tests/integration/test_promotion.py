"""ModelPromotion on the local control plane: validation by the API server, the approval
policy with two real users, direct promotion through the target's own canary, the
evaluation Job run by the dev cluster's Job runner, failure paths, durable evidence."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelship_testenv.harness import OperatorProcess
from tests.integration.conftest import Kubectl, fresh_namespace, wait_for
from tests.integration.manifests import dump, model_deployment
from tests.integration.test_real_runtime import get, trained
from tests.integration.test_serving import condition, md, wait_ready
from tests.integration.test_serving import pods as runtime_pods

pytestmark = pytest.mark.cluster
__all__ = ["trained"]  # a fixture used by name


@pytest.fixture
def prod(kubectl: Kubectl) -> Iterator[str]:
    """A second namespace: the target's environment."""
    with fresh_namespace(kubectl, "p") as name:
        yield name


def version(v: str) -> dict[str, Any]:
    return {"name": "fraud-scorer", "version": v, "uri": f"s3://models/fraud/{v}/"}


def deploy(kubectl: Kubectl, ns: str, v: str, **spec: Any) -> None:
    obj = model_deployment("fraud", model=version(v), **spec)
    done = kubectl.apply(dump(obj), ns)
    assert done.returncode == 0, done.stderr
    wait_ready(kubectl, ns, "fraud")


def promotion(name: str, staging: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "modelship.io/v1alpha1",
        "kind": "ModelPromotion",
        "metadata": {"name": name},
        "spec": {"from": {"name": "fraud", "namespace": staging}, "to": {"name": "fraud"}, **spec},
    }


def mpromo(kubectl: Kubectl, ns: str, name: str) -> dict[str, Any]:
    return kubectl.json("get", "mpromo", name, "-n", ns)  # type: ignore[no-any-return]


def wait_phase(
    kubectl: Kubectl, ns: str, name: str, phase: str, timeout: float = 60
) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        obj = mpromo(kubectl, ns, name)
        return obj if obj.get("status", {}).get("phase") == phase else None

    return wait_for(f"{name} {phase}", reached, timeout=timeout)


def cli(kubeconfig: Path, ns: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modelship", *args, "-n", ns, "--kubeconfig", str(kubeconfig)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def user_kubeconfig(kubectl: Kubectl, ns: str, sa: str, path: Path) -> Path:
    """A kubeconfig whose user is ServiceAccount ``sa`` (a TokenRequest token): an
    identity the API server authenticates, as a person's would be."""
    token = kubectl.run("create", "token", sa, "-n", ns, "--duration=1h").stdout.strip()
    admin = yaml.safe_load(kubectl.kubeconfig.read_text())
    cluster = admin["clusters"][0]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [cluster],
        "users": [{"name": sa, "user": {"token": token}}],
        "contexts": [{"name": sa, "context": {"cluster": cluster["name"], "user": sa}}],
        "current-context": sa,
    }
    path.write_text(yaml.safe_dump(config))
    return path


def people(kubectl: Kubectl, ns: str, tmp_path: Path) -> tuple[Path, Path]:
    """alice may approve promotions in ``ns``; mallory may read and annotate them, not
    approve."""
    for sa in ("alice", "mallory"):
        kubectl.run("create", "serviceaccount", sa, "-n", ns)
    rules = [
        {
            "apiGroups": ["modelship.io"],
            "resources": ["modelpromotions"],
            "verbs": ["get", "list", "watch", "patch"],
        },
    ]
    approver = [
        *rules,
        {"apiGroups": ["modelship.io"], "resources": ["modelpromotions"], "verbs": ["approve"]},
    ]
    for role, role_rules, sa in (("approver", approver, "alice"), ("viewer", rules, "mallory")):
        manifest = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": role},
            "rules": role_rules,
        }
        kubectl.run("apply", "-n", ns, "-f", "-", input=json.dumps(manifest))
        kubectl.run(
            "create", "rolebinding", role, "-n", ns, f"--role={role}", f"--serviceaccount={ns}:{sa}"
        )
    return (
        user_kubeconfig(kubectl, ns, "alice", Path(str(kubectl.kubeconfig) + f".{ns}.alice")),
        user_kubeconfig(kubectl, ns, "mallory", Path(str(kubectl.kubeconfig) + f".{ns}.mallory")),
    )


def gate(obj: dict[str, Any], name: str) -> dict[str, Any]:
    gates = obj["status"]["evidence"]["gates"]
    return next(g for g in gates if g["name"] == name)


# ----- validation -------------------------------------------------------------------------

INVALID = [
    ({"to": {"name": "fraud", "namespace": "STAGING"}}, "spec.to.namespace"),
    (
        {"from": {"name": "fraud", "namespace": "s"}, "to": {"name": "fraud", "namespace": "s"}},
        "spec.to: Invalid value",
    ),
    ({"mode": "Continuous", "version": "1.4.0"}, "spec.version"),
    ({"gates": {"soakTime": "2h", "timeout": "1h"}}, "spec.gates.soakTime"),
    ({"gates": {"soakTime": "an hour"}}, "spec.gates.soakTime"),
    ({"gates": {"checks": [{"name": "j", "compare": {"metric": "latency"}}]}}, "spec.gates.checks"),
    (
        {"gates": {"evaluationThresholds": [{"name": "accuracy", "min": 0.9}]}},
        "spec.gates.evaluationThresholds",
    ),
    ({"gates": {"evaluationThresholds": [{"name": "accuracy"}]}}, "set min, max or both"),
    ({"gates": {"approval": {"minApprovers": 0}}}, "spec.gates.approval.minApprovers"),
    ({"gates": {"maxDrift": -1}}, "spec.gates.maxDrift"),
    ({"mode": "Always"}, "spec.mode"),
]


@pytest.mark.parametrize(("spec", "field"), INVALID, ids=[f for _, f in INVALID])
def test_invalid_promotions_are_rejected_naming_the_field(
    kubectl: Kubectl, namespace: str, spec: dict[str, Any], field: str
) -> None:
    obj = promotion("bad", "staging")
    obj["spec"].update(spec)
    done = kubectl.apply(dump(obj), namespace)
    assert done.returncode != 0
    assert field in done.stderr, done.stderr


def test_explain_and_printer_columns(kubectl: Kubectl) -> None:
    # kubectl's discovery may not list a CRD established a moment ago: ask until it does.
    text = wait_for(
        "kubectl explain to know mpromo",
        lambda: kubectl.run("explain", "mpromo.spec.gates.soakTime", check=False).stdout,
    )
    assert "a flap" in text and "restarts the clock" in text
    crd = kubectl.json("get", "crd", "modelpromotions.modelship.io")
    columns = [c["name"] for c in crd["spec"]["versions"][0]["additionalPrinterColumns"]]
    assert columns[:7] == ["From", "To", "Version", "Phase", "Gates", "Soak", "Age"]


# ----- approval with verified identities, then the target's own rollout --------------------


def test_approved_promotion_rolls_out_on_the_target_and_keeps_its_evidence(
    kubectl: Kubectl,
    running_operator: OperatorProcess,
    namespace: str,
    prod: str,
    tmp_path: Path,
) -> None:
    staging = namespace
    deploy(kubectl, staging, "1.4.0")
    deploy(
        kubectl,
        prod,
        "1.3.0",
        rollout={"steps": [{"setWeight": 50}, {"pause": {"duration": "2s"}}]},
    )
    alice, mallory = people(kubectl, prod, tmp_path)
    obj = promotion("to-prod", staging, gates={"soakTime": "3s", "approval": {"required": True}})
    assert kubectl.apply(dump(obj), prod).returncode == 0
    waiting = wait_phase(kubectl, prod, "to-prod", "WaitingForApproval")
    assert gate(waiting, "soakTime")["verdict"] == "Pass"
    assert waiting["status"]["gatesSummary"] == "2/3"
    table = kubectl.run("get", "mpromo", "-n", prod).stdout
    assert "WaitingForApproval" in table and "1.4.0" in table and f"{staging}/fraud" in table

    # mallory has no approve verb: the API server refuses, naming what is missing.
    refused = cli(mallory, prod, "approve", "to-prod")
    assert refused.returncode == 1
    assert "needs the approve verb" in refused.stderr and "mallory" in refused.stderr
    # alice may approve, but only as herself.
    run = waiting["status"]["evidence"]["run"]
    forged = kubectl.run(
        "--kubeconfig",
        str(alice),
        "annotate",
        "mpromo",
        "to-prod",
        "-n",
        prod,
        f"approve.modelship.io/run-{run}.0000000000000000=system:serviceaccount:{prod}:bob",
        check=False,
    )
    assert forged.returncode != 0 and "must carry your own username" in forged.stderr
    assert mpromo(kubectl, prod, "to-prod")["status"]["phase"] == "WaitingForApproval"
    done = cli(alice, prod, "approve", "to-prod", "-m", "load test looked fine")
    assert done.returncode == 0, done.stderr
    assert f"approved by system:serviceaccount:{prod}:alice" in done.stdout

    wait_phase(kubectl, prod, "to-prod", "Promoting", timeout=30)
    target = md(kubectl, prod, "fraud")
    assert target["spec"]["model"]["version"] == "1.4.0"
    managers = {
        m["manager"]
        for m in kubectl.json("get", "md", "fraud", "-n", prod, "--show-managed-fields")[
            "metadata"
        ]["managedFields"]
    }
    assert "modelship-promotion" in managers
    waited = kubectl.run(
        "wait",
        "--for=condition=Succeeded",
        "mpromo/to-prod",
        "-n",
        prod,
        "--timeout=90s",
        check=False,
    )
    assert waited.returncode == 0, waited.stderr
    final = mpromo(kubectl, prod, "to-prod")
    evidence = final["status"]["evidence"]
    assert evidence["outcome"] == "Succeeded" and evidence["reason"] == "TargetRolledOut"
    assert [a["user"] for a in evidence["approvals"]] == [f"system:serviceaccount:{prod}:alice"]
    assert evidence["approvals"][0]["message"] == "load test looked fine"
    assert evidence["target"]["previous"] == "1.3.0"
    target = md(kubectl, prod, "fraud")
    assert target["status"]["stableRevision"]["modelVersion"] == "1.4.0"
    newest = target["status"]["history"][0]
    assert newest["modelVersion"] == "1.4.0" and newest["promotion"] == f"{prod}/to-prod#1"

    # The evidence outlives the promotion: read back from the target after deleting it.
    kubectl.run("delete", "mpromo", "to-prod", "-n", prod)
    shown = cli(
        kubectl.kubeconfig,
        prod,
        "promotion",
        "evidence",
        "to-prod",
        "-o",
        "json",
        "--target-namespace",
        prod,
    )
    assert shown.returncode == 0, shown.stderr
    record = json.loads(shown.stdout)
    assert record["run"] == 1 and record["outcome"] == "Succeeded"
    assert record["model"]["version"] == "1.4.0"
    assert {g["name"] for g in record["gates"]} == {"target", "soakTime", "approval"}
    assert record["approvals"][0]["user"].endswith(":alice")


def test_rejection_fails_the_run_and_leaves_the_target_alone(
    kubectl: Kubectl,
    running_operator: OperatorProcess,
    namespace: str,
    prod: str,
    tmp_path: Path,
) -> None:
    deploy(kubectl, namespace, "1.4.0")
    deploy(kubectl, prod, "1.3.0")
    alice, _ = people(kubectl, prod, tmp_path)
    obj = promotion("to-prod", namespace, gates={"approval": {"required": True}})
    assert kubectl.apply(dump(obj), prod).returncode == 0
    wait_phase(kubectl, prod, "to-prod", "WaitingForApproval")
    done = cli(alice, prod, "reject", "to-prod", "-m", "not during the freeze")
    assert done.returncode == 0, done.stderr
    failed = wait_phase(kubectl, prod, "to-prod", "Failed", timeout=30)
    assert failed["status"]["evidence"]["reason"] == "Rejected"
    assert "not during the freeze" in failed["status"]["message"]
    assert condition(failed, "Succeeded")["status"] == "False"  # type: ignore[index]
    assert md(kubectl, prod, "fraud")["spec"]["model"]["version"] == "1.3.0"


# ----- the target's side ------------------------------------------------------------------


def test_an_argocd_managed_target_is_refused(
    kubectl: Kubectl, running_operator: OperatorProcess, namespace: str, prod: str
) -> None:
    deploy(kubectl, namespace, "1.4.0")
    deploy(kubectl, prod, "1.3.0")
    kubectl.run("label", "md", "fraud", "-n", prod, "app.kubernetes.io/instance=fraud-prod")
    assert kubectl.apply(dump(promotion("to-prod", namespace)), prod).returncode == 0
    failed = wait_phase(kubectl, prod, "to-prod", "Failed")
    assert failed["status"]["evidence"]["reason"] == "TargetManagedByArgoCD"
    assert "app.kubernetes.io/instance=fraud-prod" in failed["status"]["message"]
    assert md(kubectl, prod, "fraud")["spec"]["model"]["version"] == "1.3.0"


def test_the_target_aborting_its_canary_fails_the_promotion(
    kubectl: Kubectl, running_operator: OperatorProcess, namespace: str, prod: str
) -> None:
    deploy(kubectl, namespace, "1.4.0")
    deploy(kubectl, prod, "1.3.0", rollout={"steps": [{"setWeight": 20}, {"pause": {}}]})
    assert kubectl.apply(dump(promotion("to-prod", namespace)), prod).returncode == 0
    wait_for(
        "the target's canary of 1.4.0 to wait at its pause",
        lambda: (
            (md(kubectl, prod, "fraud")["status"].get("canary") or {}).get("pauseReason") == "Step"
        ),
        timeout=60,
    )
    assert mpromo(kubectl, prod, "to-prod")["status"]["phase"] == "Promoting"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "modelship",
            "abort",
            "fraud",
            "-n",
            prod,
            "--kubeconfig",
            str(kubectl.kubeconfig),
        ],
        check=True,
        capture_output=True,
    )
    failed = wait_phase(kubectl, prod, "to-prod", "Failed", timeout=30)
    assert failed["status"]["evidence"]["reason"] == "TargetAborted"
    assert failed["status"]["evidence"]["target"]["outcome"] == "Aborted"
    assert md(kubectl, prod, "fraud")["status"]["stableRevision"]["modelVersion"] == "1.3.0"


# ----- the evaluation Job, run for real ---------------------------------------------------

EVALUATE = (
    "import json, os; "
    "open(os.environ['MODELSHIP_TERMINATION_LOG'], 'w').write(json.dumps({"
    "'accuracy': float(os.environ['ACCURACY']), 'unsafe_pickle_ops': 0, "
    "'version': os.environ['MODELSHIP_MODEL_VERSION']}))"
)


def evaluation_job(accuracy: str) -> dict[str, Any]:
    return {
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": {"labels": {"modelship.io/local-run": "true"}},
                "spec": {
                    "containers": [
                        {
                            "name": "evaluate",
                            "image": "modelship-eval:dev",
                            "command": [sys.executable, "-c", EVALUATE],
                            "env": [{"name": "ACCURACY", "value": accuracy}],
                        }
                    ]
                },
            },
        }
    }


@pytest.fixture
def job_runner(kubectl: Kubectl, tmp_path: Path) -> Iterator[None]:
    """The dev cluster's Job runner: Job pods labelled local-run run as real processes."""
    from modelship.kube import connect
    from modelship_testenv.jobrunner import JobRunner

    jobs = JobRunner(connect(pool_size=2, kubeconfig=str(kubectl.kubeconfig)), tmp_path / "jobs")
    jobs.start()
    try:
        yield
    finally:
        jobs.stop()


@pytest.mark.parametrize(("accuracy", "phase"), [("0.95", "Succeeded"), ("0.81", "Failed")])
def test_the_evaluation_job_runs_once_and_its_results_gate_the_promotion(
    kubectl: Kubectl,
    running_operator: OperatorProcess,
    namespace: str,
    prod: str,
    job_runner: None,
    accuracy: str,
    phase: str,
) -> None:
    deploy(kubectl, namespace, "1.4.0")
    deploy(kubectl, prod, "1.3.0")
    gates = {
        "evaluationJob": evaluation_job(accuracy),
        "evaluationThresholds": [
            {"name": "accuracy", "min": 0.9},
            {"name": "unsafe_pickle_ops", "max": 0},
        ],
    }
    assert kubectl.apply(dump(promotion("to-prod", namespace, gates=gates)), prod).returncode == 0
    final = wait_phase(kubectl, prod, "to-prod", phase, timeout=90)
    evidence = final["status"]["evidence"]
    assert evidence["evaluation"]["job"] == "to-prod-eval-1"
    assert evidence["evaluation"]["results"]["accuracy"] == float(accuracy)
    accuracy_gate = gate(final, "evaluation/accuracy")
    assert accuracy_gate["verdict"] == ("Pass" if phase == "Succeeded" else "Fail")
    assert accuracy_gate["threshold"] == 0.9
    jobs = kubectl.json("get", "jobs", "-n", prod, "-l", "modelship.io/model-promotion=to-prod")
    assert [j["metadata"]["name"] for j in jobs["items"]] == ["to-prod-eval-1"]
    env = {
        e["name"]: e.get("value", "")
        for e in jobs["items"][0]["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["MODELSHIP_MODEL_VERSION"] == "1.4.0"
    assert env["MODELSHIP_SOURCE_URL"] == f"http://fraud.{namespace}.svc:8080"
    expected = "1.4.0" if phase == "Succeeded" else "1.3.0"
    wait_for(
        f"the target to serve {expected}",
        lambda: md(kubectl, prod, "fraud")["status"]["stableRevision"]["modelVersion"] == expected,
    )


# ----- the example evaluation program against a real runtime ------------------------------

UNSAFE_PICKLE = (
    # A pickle whose loading would call os.system: protocol 2, GLOBAL posix system,
    # one argument, REDUCE. Written as bytes; nothing here ever unpickles it.
    b"\x80\x02cposix\nsystem\nq\x00X\x04\x00\x00\x00trueq\x01\x85q\x02Rq\x03."
)


@pytest.mark.parametrize("artifact", ["clean", "unsafe-pickle"])
def test_the_example_evaluation_scores_the_served_model_and_scans_its_artifact(
    kubectl: Kubectl,
    running_operator: OperatorProcess,
    namespace: str,
    prod: str,
    job_runner: None,
    tmp_path: Path,
    artifact: str,
) -> None:
    from modelship_testenv.cluster import repo_root
    from modelship_testenv.podrunner import PodRunner

    model = tmp_path / "fraud-1.4.0"
    subprocess.run(
        [
            sys.executable,
            str(repo_root() / "examples" / "train.py"),
            "--out",
            str(model),
            "--rows",
            "4000",
        ],
        check=True,
        capture_output=True,
    )
    if artifact == "unsafe-pickle":
        (model / "preprocessor.pkl").write_bytes(UNSAFE_PICKLE)
    from modelship.kube import connect

    pods = PodRunner(
        connect(pool_size=2, kubeconfig=str(kubectl.kubeconfig)),
        tmp_path / "pods",
        namespace=namespace,
    )
    pods.start()
    try:
        source = {"name": "fraud-scorer", "version": "1.4.0", "uri": f"file://{model}"}
        obj = model_deployment("fraud", model=source)
        assert kubectl.apply(dump(obj), namespace).returncode == 0
        wait_ready(kubectl, namespace, "fraud")
        # kwok reports Ready at once; a kubelet would wait for the runtime's readiness.
        ip = runtime_pods(kubectl, namespace, "fraud")[0]["status"]["podIP"]
        wait_for("the source runtime", lambda: get(f"http://{ip}:8080/v2/health/ready")[0] == 200)
        deploy(kubectl, prod, "1.3.0")
        job = evaluation_job("unused")
        container = job["spec"]["template"]["spec"]["containers"][0]
        container["command"] = [
            sys.executable,
            "examples/evaluate.py",
            "--requests",
            "120",
            "--seconds",
            "15",
        ]
        gates = {
            "evaluationJob": job,
            "evaluationThresholds": [
                {"name": "accuracy", "min": 0.75},
                {"name": "p95_latency_ms", "max": 2000},
                {"name": "error_rate", "max": 0},
                {"name": "unsafe_pickle_ops", "max": 0},
            ],
        }
        obj = promotion("to-prod", namespace, gates=gates)
        assert kubectl.apply(dump(obj), prod).returncode == 0
        phase = "Succeeded" if artifact == "clean" else "Failed"
        final = wait_phase(kubectl, prod, "to-prod", phase, timeout=120)
    finally:
        pods.stop()
    results = final["status"]["evidence"]["evaluation"]["results"]
    assert results["holdout_rows"] == 2000
    assert 0.75 <= results["accuracy"] <= 1.0
    assert results["load_requests"] > 0 and results["requests_per_second"] > 0
    assert results["pickle_files_scanned"] == (0 if artifact == "clean" else 1)
    verdict = gate(final, "evaluation/unsafe_pickle_ops")
    if artifact == "clean":
        assert verdict["verdict"] == "Pass" and results["unsafe_pickle_ops"] == 0
    else:
        assert verdict["verdict"] == "Fail" and results["unsafe_pickle_ops"] >= 1
        assert final["status"]["evidence"]["reason"] == "EvaluationFailed"


# ----- gates that do not pass, and a source that goes away ------------------------------


def test_a_soak_not_met_holds_the_run_and_says_what_is_left(
    kubectl: Kubectl, running_operator: OperatorProcess, namespace: str, prod: str
) -> None:
    """A soak of an hour holds the run (the SOAK column counts down); the source moving on
    to another version before it is over fails the run rather than promoting either."""
    deploy(kubectl, namespace, "1.4.0")
    deploy(kubectl, prod, "1.3.0")
    obj = promotion("to-prod", namespace, gates={"soakTime": "1h"})
    assert kubectl.apply(dump(obj), prod).returncode == 0
    waiting = wait_phase(kubectl, prod, "to-prod", "WaitingForGates")
    assert gate(waiting, "soakTime")["verdict"] == "Waiting"
    left = waiting["status"]["soakRemaining"]
    assert left == "1h" or left.startswith("59m"), left  # rounded up
    table = kubectl.run("get", "mpromo", "to-prod", "-n", prod).stdout
    assert left in table.splitlines()[1].split(), table  # the SOAK column
    assert md(kubectl, prod, "fraud")["spec"]["model"]["version"] == "1.3.0"
    patch = json.dumps({"spec": {"model": version("1.5.0")}})
    kubectl.run("patch", "md", "fraud", "-n", namespace, "--type", "merge", "-p", patch)
    failed = wait_phase(kubectl, prod, "to-prod", "Failed", timeout=60)
    assert failed["status"]["evidence"]["reason"] == "SourceMovedOn"
    assert "soakRemaining" not in failed["status"]  # nothing soaks any more
    assert md(kubectl, prod, "fraud")["spec"]["model"]["version"] == "1.3.0"


def test_a_failing_check_on_the_source_holds_the_promotion_until_the_timeout(
    kubectl: Kubectl,
    running_operator: OperatorProcess,
    namespace: str,
    prod: str,
    trained: Path,
    tmp_path: Path,
) -> None:
    """The source answers 20% of its requests with 500 (its real runtime, real traffic):
    the check reads its stable track's own /metrics and fails, naming the rate."""
    from modelship.kube import connect
    from modelship_testenv.loadgen import LoadGenerator
    from modelship_testenv.podrunner import PodRunner

    pods = PodRunner(
        connect(pool_size=2, kubeconfig=str(kubectl.kubeconfig)),
        tmp_path / "pods",
        namespace=namespace,
    )
    pods.start()
    try:
        runtime = {
            "image": "registry.example.com/modelship-runtime:0.1",
            "env": [{"name": "MODELSHIP_FAULT_ERROR_RATE", "value": "0.2"}],
        }
        model = {"name": "fraud-scorer", "version": "1.4.0", "uri": f"file://{trained}"}
        source = model_deployment("fraud", model=model, runtime=runtime)
        assert kubectl.apply(dump(source), namespace).returncode == 0
        wait_ready(kubectl, namespace, "fraud")
        deploy(kubectl, prod, "1.3.0")
        kube = connect(pool_size=2, kubeconfig=str(kubectl.kubeconfig))
        load = LoadGenerator(kube, namespace, "fraud", "fraud-scorer", seed=3)
        gates = {
            "checks": [{"name": "errors", "errorRate": {"max": 0.01}}],
            "checkWindow": "1m",
            "timeout": "70s",
        }
        obj = promotion("to-prod", namespace, gates=gates)
        assert kubectl.apply(dump(obj), prod).returncode == 0
        stop = threading.Event()
        sender = threading.Thread(
            target=load.run, args=(6000, 120), kwargs={"rate": 40, "stop": stop}, daemon=True
        )
        sender.start()
        try:
            failed = wait_phase(kubectl, prod, "to-prod", "Failed", timeout=120)
        finally:
            stop.set()
            sender.join(15)
    finally:
        pods.stop()
    check = gate(failed, "checks/errors")
    assert check["verdict"] == "Fail", check
    assert check["value"] > 0.01 and check["threshold"] == 0.01
    assert failed["status"]["evidence"]["reason"] == "GateTimeout"
    assert "checks/errors: error rate" in failed["status"]["message"]
    assert md(kubectl, prod, "fraud")["spec"]["model"]["version"] == "1.3.0"


def test_the_source_deleted_mid_way_fails_the_run(
    kubectl: Kubectl, running_operator: OperatorProcess, namespace: str, prod: str
) -> None:
    deploy(kubectl, namespace, "1.4.0")
    deploy(kubectl, prod, "1.3.0")
    obj = promotion("to-prod", namespace, gates={"approval": {"required": True}})
    assert kubectl.apply(dump(obj), prod).returncode == 0
    wait_phase(kubectl, prod, "to-prod", "WaitingForApproval")
    kubectl.run("delete", "md", "fraud", "-n", namespace)
    failed = wait_phase(kubectl, prod, "to-prod", "Failed", timeout=60)
    assert failed["status"]["evidence"]["reason"] == "SourceDeleted"
    assert f"source {namespace}/fraud was deleted" in failed["status"]["message"]
    assert md(kubectl, prod, "fraud")["spec"]["model"]["version"] == "1.3.0"
