"""Start, stop and inspect the local control plane.

State lives in one directory (default ``~/.local/state/modelship/dev-cluster``):
``kubeconfig``, ``pids.json``, ``network.json`` (the pod IP range), ``logs/``, ``etcd/``,
``pki/``. Ports are chosen free at start, and the pod IP range so that no other live
cluster has it (podrange.py); everything listens on 127.0.0.1. ``down`` stops only the
processes this directory's ``pids.json`` records, and only if their command
line still matches, so a recycled pid is never signalled.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from modelship_testenv import podrange
from modelship_testenv.kwok import write_kwok_config
from modelship_testenv.nodes import default_nodes, node_manifest
from modelship_testenv.pki import PKIError, ensure_pki

# The file that marks a modelship source checkout: the dev cluster builds its binaries
# with it and runs the operator, crds/ and examples/ from that checkout.
CHECKOUT_MARKER = Path("hack") / "build-testenv.sh"
REPO_ROOT_ENV = "MODELSHIP_REPO_ROOT"
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
SERVICE_CIDR = "10.96.0.0/16"


class ClusterError(RuntimeError):
    """The control plane could not be built or started; the message says which part."""


class CheckoutNotFound(ClusterError):
    """No modelship source checkout: the dev cluster needs one (hack/, crds/, examples/)."""


AUDIT_POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: None
    namespaces: [kube-node-lease]
  - level: Metadata
    verbs: [create, update, patch, delete, deletecollection]
  - level: None
"""


def repo_root() -> Path:
    """The modelship source checkout this package works from.

    $MODELSHIP_REPO_ROOT if set (it must hold hack/build-testenv.sh), else the first
    directory holding hack/build-testenv.sh above this file (an editable install),
    else above the current directory (an installed wheel run inside a checkout).
    """
    env = os.environ.get(REPO_ROOT_ENV)
    if env:
        root = Path(env).expanduser().resolve()
        if (root / CHECKOUT_MARKER).is_file():
            return root
        raise CheckoutNotFound(
            f"${REPO_ROOT_ENV}={env} is not a modelship source checkout: "
            f"{root / CHECKOUT_MARKER} does not exist"
        )
    starts = (Path(__file__).resolve().parent, Path.cwd().resolve())
    for start in starts:
        for directory in (start, *start.parents):
            if (directory / CHECKOUT_MARKER).is_file():
                return directory
    raise CheckoutNotFound(
        f"no modelship source checkout found: looked for {CHECKOUT_MARKER} in every "
        f"directory above {starts[0]} and above {starts[1]}; "
        f"run from a checkout or set ${REPO_ROOT_ENV} to one"
    )


class ComponentDied(ClusterError):
    """A control-plane process exited while the cluster was starting."""


def default_state_dir() -> Path:
    env = os.environ.get("MODELSHIP_DEV_CLUSTER_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "modelship" / "dev-cluster"


_handed_out: set[int] = set()


def free_port() -> int:
    """A free loopback port never handed out before by this process.

    The kernel may offer a port again once our probe socket closes, before the
    component we pick it for has bound it (two components started back to back);
    remembering what we handed out rules that collision out.
    """
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in _handed_out:
            _handed_out.add(port)
            return port


def _log(message: str) -> None:
    print(f"[dev-cluster] {message}", file=sys.stderr, flush=True)


def build_binaries() -> Path:
    """Run hack/build-testenv.sh (progress on stderr); return the cache directory."""
    script = repo_root() / CHECKOUT_MARKER
    done = subprocess.run(["bash", str(script)], stdout=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise ClusterError("building the control plane failed (see the messages above)")
    return Path(done.stdout.strip().splitlines()[-1])


@dataclass
class Process:
    name: str
    pid: int
    argv0: str


class Cluster:
    def __init__(self, state_dir: Path | None = None) -> None:
        self.dir = (state_dir or default_state_dir()).resolve()
        self.kubeconfig = self.dir / "kubeconfig"
        self.logs = self.dir / "logs"
        self._pids_file = self.dir / "pids.json"
        self._network_file = self.dir / "network.json"
        self.cache: Path | None = None
        # Handles of the processes this object started, for their exit status.
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    # ----- inspection -------------------------------------------------------------------

    def processes(self) -> list[Process]:
        if not self._pids_file.exists():
            return []
        return [Process(**p) for p in json.loads(self._pids_file.read_text())]

    @staticmethod
    def alive(proc: Process) -> bool:
        try:
            cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")[0].decode()
        except OSError:
            return False
        return cmdline == proc.argv0

    @property
    def pod_cidr(self) -> str | None:
        """The loopback range kwok gives this cluster's pods IPs from (None before the
        first ``up``): the addresses its pods' runtime processes listen on."""
        try:
            return str(json.loads(self._network_file.read_text())["podCIDR"])
        except (OSError, ValueError, KeyError):
            return None

    def running(self) -> bool:
        procs = self.processes()
        return bool(procs) and all(self.alive(p) for p in procs) and self._apiserver_ready()

    def status(self) -> dict[str, Any]:
        procs = self.processes()
        server = self._server() if self.kubeconfig.exists() else None
        return {
            "stateDir": str(self.dir),
            "kubeconfig": str(self.kubeconfig) if self.kubeconfig.exists() else None,
            "server": server,
            "ready": self.running(),
            "podCIDR": self.pod_cidr,
            "components": {p.name: {"pid": p.pid, "alive": self.alive(p)} for p in procs},
        }

    def _server(self) -> str:
        cfg = yaml.safe_load(self.kubeconfig.read_text())
        return str(cfg["clusters"][0]["cluster"]["server"])

    def _ssl(self) -> ssl.SSLContext:
        pki = self.dir / "pki"
        ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        ctx.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
        return ctx

    def _apiserver_ready(self) -> bool:
        if not self.kubeconfig.exists():
            return False
        try:
            with urllib.request.urlopen(
                self._server() + "/readyz", context=self._ssl(), timeout=2
            ) as resp:
                return bool(resp.status == 200)
        except (OSError, ValueError):
            return False

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        bin_dir = self.bin_dir()
        done = subprocess.run(
            [str(bin_dir / "kubectl"), "--kubeconfig", str(self.kubeconfig), *args],
            input=input,
            capture_output=True,
            text=True,
        )
        if check and done.returncode != 0:
            raise ClusterError(f"kubectl {' '.join(args)}: {done.stderr.strip()}")
        return done

    def kubectl_argv(self) -> list[str]:
        """The cluster's own kubectl, pointed at its kubeconfig."""
        return [str(self.bin_dir() / "kubectl"), "--kubeconfig", str(self.kubeconfig)]

    def bin_dir(self) -> Path:
        """Where the built binaries are (building them on first use)."""
        if self.cache is None:
            self.cache = build_binaries()
        return self.cache / "bin"

    # ----- lifecycle --------------------------------------------------------------------

    def up(self, gateway_api: bool = True, timeout: float = 120.0) -> None:
        """Build (or reuse) the binaries, start every component, create the nodes."""
        bin_dir = self.bin_dir()
        if self.running():
            _log(f"already running; KUBECONFIG={self.kubeconfig}")
            return
        try:
            self._start(bin_dir, gateway_api, timeout)
        except ComponentDied as died:
            # One more try for a component killed from outside at start-up (seen
            # once in CI with an empty log); a damaged binary fails again, loudly.
            _log(f"{died}\n[dev-cluster] starting once more")
            self._start(bin_dir, gateway_api, timeout)

    def _start(self, bin_dir: Path, gateway_api: bool, timeout: float) -> None:
        self.down(quiet=True)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(exist_ok=True)
        try:
            pki = ensure_pki(self.dir / "pki")
        except PKIError as exc:  # openssl missing or failing: said, not a traceback
            raise ClusterError(f"making the cluster's certificates: {exc}") from exc
        procs: list[Process] = []
        started = time.monotonic()
        try:
            pod_cidr = podrange.claim(self.dir, self.pod_cidr)
        except podrange.NoFreePodRange as exc:
            raise ClusterError(str(exc)) from exc
        self._network_file.write_text(
            json.dumps({"podCIDR": pod_cidr, "serviceCIDR": SERVICE_CIDR}, indent=1)
        )

        def start(name: str, args: list[str]) -> None:
            argv0 = str(bin_dir / name)
            log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child
            proc = subprocess.Popen(
                [argv0, *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            log.close()
            self._children[proc.pid] = proc
            procs.append(Process(name, proc.pid, argv0))
            self._pids_file.write_text(json.dumps([asdict(p) for p in procs]))

        try:
            etcd_port, peer_port, api_port = free_port(), free_port(), free_port()
            etcd_url = f"http://127.0.0.1:{etcd_port}"
            _log("starting etcd")
            start(
                "etcd",
                [
                    "--name=default",
                    f"--data-dir={self.dir / 'etcd'}",
                    f"--listen-client-urls={etcd_url}",
                    f"--advertise-client-urls={etcd_url}",
                    f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
                    f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
                    f"--initial-cluster=default=http://127.0.0.1:{peer_port}",
                    "--unsafe-no-fsync",
                    "--log-level=warn",
                    "--quota-backend-bytes=4294967296",
                ],
            )
            _log("starting kube-apiserver")
            start(
                "kube-apiserver",
                [
                    f"--etcd-servers={etcd_url}",
                    "--bind-address=127.0.0.1",
                    "--advertise-address=127.0.0.1",
                    f"--secure-port={api_port}",
                    f"--cert-dir={self.dir / 'apiserver-certs'}",
                    f"--tls-cert-file={pki / 'apiserver.crt'}",
                    f"--tls-private-key-file={pki / 'apiserver.key'}",
                    f"--client-ca-file={pki / 'ca.crt'}",
                    f"--service-account-key-file={pki / 'sa.pub'}",
                    f"--service-account-signing-key-file={pki / 'sa.key'}",
                    "--service-account-issuer=https://kubernetes.default.svc",
                    "--authorization-mode=RBAC",
                    "--endpoint-reconciler-type=none",
                    f"--service-cluster-ip-range={SERVICE_CIDR}",
                    "--allow-privileged=true",
                    "--profiling=false",
                    "--v=0",
                    # A test cluster on 2 cores: no server-side throttling of the operator
                    # under test (kwokctl does the same for its clusters).
                    "--max-requests-inflight=0",
                    "--max-mutating-requests-inflight=0",
                    "--enable-priority-and-fairness=false",
                    # Who wrote what: the leader election tests count each replica's
                    # writes by its User-Agent.
                    f"--audit-policy-file={self._audit_policy()}",
                    f"--audit-log-path={self.audit_log}",
                    "--audit-log-format=json",
                    "--audit-log-maxsize=200",
                    "--audit-log-maxbackup=1",
                ],
            )
            self._write_kubeconfig(f"https://127.0.0.1:{api_port}", pki)
            self._wait("kube-apiserver /readyz", self._apiserver_ready, timeout, procs)
            _log("starting kube-controller-manager and kube-scheduler")
            start(
                "kube-controller-manager",
                [
                    f"--kubeconfig={self.kubeconfig}",
                    "--leader-elect=false",
                    f"--service-account-private-key-file={pki / 'sa.key'}",
                    f"--root-ca-file={pki / 'ca.crt'}",
                    "--bind-address=127.0.0.1",
                    f"--secure-port={free_port()}",
                    "--use-service-account-credentials=false",
                    "--controllers=*",
                    "--profiling=false",
                    "--kube-api-qps=1000",
                    "--kube-api-burst=2000",
                    "--concurrent-deployment-syncs=20",
                    "--concurrent-replicaset-syncs=20",
                    # kwok renews node leases from one busy process; during a heavy
                    # benchmark a late renewal must not mark every pod NotReady.
                    "--node-monitor-grace-period=5m",
                    # HPAs act within seconds, not the default 15 s, so autoscaling tests
                    # see a scale in a few syncs (a faster clock, the same controller).
                    "--horizontal-pod-autoscaler-sync-period=2s",
                ],
            )
            start(
                "kube-scheduler",
                [
                    f"--kubeconfig={self.kubeconfig}",
                    "--leader-elect=false",
                    "--bind-address=127.0.0.1",
                    f"--secure-port={free_port()}",
                    "--profiling=false",
                ],
            )
            self._wait(
                "the default ServiceAccount",
                lambda: (
                    self.kubectl("get", "serviceaccount", "default", check=False).returncode == 0
                ),
                timeout,
                procs,
            )
            _log("starting kwok (stands in for kubelets)")
            start(
                "kwok",
                [
                    f"--kubeconfig={self.kubeconfig}",
                    f"--config={self._kwok_config()}",
                    "--manage-all-nodes=false",
                    "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
                    f"--server-address=127.0.0.1:{free_port()}",
                    "--node-lease-duration-seconds=40",
                    # Pod IPs on loopback: a pod's IP is where its runtime process
                    # listens (modelship_testenv/podrunner.py).
                    f"--cidr={pod_cidr}",
                    "--node-ip=127.0.0.1",
                ],
            )
            nodes = default_nodes()
            manifests = "---\n".join(yaml.safe_dump(node_manifest(n)) for n in nodes)
            self.kubectl("apply", "-f", "-", input=manifests)
            self._wait(
                f"{len(nodes)} Ready nodes",
                lambda: self._ready_nodes() == len(nodes),
                timeout,
                procs,
            )
            if gateway_api:
                _log("installing Gateway API CRDs")
                assert self.cache is not None
                self.kubectl("apply", "--server-side", "-f", str(self.cache / "gateway-api-crds"))
        except BaseException:
            self.down(quiet=True)
            raise
        finally:
            # Started, kwok's command line holds the range from now on (set by then: it
            # is empty for an instant after the exec); failed, nobody does.
            podrange.release(pod_cidr)
        _log(f"ready in {time.monotonic() - started:.1f}s; export KUBECONFIG={self.kubeconfig}")

    def _ready_nodes(self) -> int:
        out = self.kubectl("get", "nodes", "-o", "json", check=False)
        if out.returncode != 0:
            return 0
        count = 0
        for node in json.loads(out.stdout)["items"]:
            for cond in node.get("status", {}).get("conditions", []):
                if cond["type"] == "Ready" and cond["status"] == "True":
                    count += 1
        return count

    @property
    def audit_log(self) -> Path:
        return self.logs / "audit.log"

    def _audit_policy(self) -> Path:
        """Writes only, at Metadata level (who, what, when; no bodies)."""
        path = self.dir / "audit-policy.yaml"
        path.write_text(AUDIT_POLICY)
        return path

    def writes(self, user_agent: str, since: float = 0.0) -> list[dict[str, Any]]:
        """The audit log's write requests whose User-Agent contains ``user_agent``,
        received at or after ``since`` (seconds since the epoch)."""
        found: list[dict[str, Any]] = []
        if not self.audit_log.exists():
            return found
        for line in self.audit_log.read_text().splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue  # a line being written
            if user_agent not in str(event.get("userAgent", "")):
                continue
            received = datetime.fromisoformat(
                event["requestReceivedTimestamp"].replace("Z", "+00:00")
            )
            if received.timestamp() >= since:
                found.append(event)
        return found

    def _kwok_config(self) -> Path:
        assert self.cache is not None
        try:
            return write_kwok_config(self.cache / "kwok-stages", self.dir / "kwok.yaml")
        except FileNotFoundError as exc:
            raise ClusterError(str(exc)) from exc

    def user_kubeconfig(self, user: str, groups: list[str]) -> Path:
        """A kubeconfig like the admin's for another user (a client certificate with CN
        ``user`` and O ``groups``): a process run with it is its own identity to RBAC,
        API Priority and Fairness and the audit log. The user has no rights until a
        (Cluster)RoleBinding gives it some."""
        from modelship_testenv.pki import client_cert

        pki = self.dir / "pki"
        crt, key = client_cert(pki, f"user-{user}", user, groups)
        path = self.dir / f"kubeconfig-{user}"
        self._write_kubeconfig(self._server(), pki, cert=crt.name, key=key.name, path=path)
        return path

    def _write_kubeconfig(
        self,
        server: str,
        pki: Path,
        cert: str = "admin.crt",
        key: str = "admin.key",
        path: Path | None = None,
    ) -> None:
        def data(name: str) -> str:
            import base64

            return base64.b64encode((pki / name).read_bytes()).decode()

        cfg = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "modelship-dev",
                    "cluster": {"server": server, "certificate-authority-data": data("ca.crt")},
                }
            ],
            "users": [
                {
                    "name": "modelship-admin",
                    "user": {
                        "client-certificate-data": data(cert),
                        "client-key-data": data(key),
                    },
                }
            ],
            "contexts": [
                {
                    "name": "modelship-dev",
                    "context": {
                        "cluster": "modelship-dev",
                        "user": "modelship-admin",
                        "namespace": "default",
                    },
                }
            ],
            "current-context": "modelship-dev",
        }
        target = path or self.kubeconfig
        target.write_text(yaml.safe_dump(cfg))
        target.chmod(0o600)

    def _wait(
        self, what: str, ready: Callable[[], bool], timeout: float, procs: list[Process]
    ) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready():
                return
            dead = [p for p in procs if not self.alive(p)]
            if dead:
                raise ComponentDied(self._death_report(dead[0], what))
            time.sleep(0.25)
        raise ClusterError(
            f"timed out after {timeout:.0f}s waiting for {what}; logs in {self.logs}"
        )

    def _death_report(self, proc: Process, what: str) -> str:
        child = self._children.get(proc.pid)
        code = child.poll() if child is not None else None
        if code is None:
            how = "exited"
        elif code < 0:
            how = f"was killed by {signal.Signals(-code).name}"
        else:
            how = f"exited with status {code}"
        log = self.logs / f"{proc.name}.log"
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        if not tail.strip():
            tail = (
                f"(its log {log} is empty: a crash before the first log line usually means "
                f"a damaged binary; delete {proc.argv0} and it is rebuilt)"
            )
        return f"{proc.name} {how} while waiting for {what}:\n{tail}"

    def down(self, quiet: bool = False) -> None:
        """Stop every process this state directory started (newest first), by pid."""
        procs = [p for p in reversed(self.processes()) if self.alive(p)]
        for proc in procs:
            if not quiet:
                _log(f"stopping {proc.name} (pid {proc.pid})")
            os.kill(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in procs:
            while self.alive(proc) and time.monotonic() < deadline:
                time.sleep(0.1)
            if self.alive(proc):
                os.kill(proc.pid, signal.SIGKILL)
        if self._pids_file.exists():
            self._pids_file.unlink()

    def restart(
        self,
        name: str,
        timeout: float = 60.0,
        *,
        sig: signal.Signals = signal.SIGTERM,
        down_for: float = 0.0,
        edit_args: Callable[[list[str]], list[str]] | None = None,
    ) -> float:
        """Stop one component (``sig``, by pid: SIGTERM as an upgrade would, SIGKILL as a
        crash) and start it again with the same command line (or ``edit_args`` of it,
        e.g. a flag turned on), after staying down ``down_for`` seconds (an outage of a
        known length); returns the seconds until the API server answered /readyz again
        (for tests that time recovery). Any component of COMPONENTS can be restarted:
        etcd keeps its data directory, so the API server finds everything again."""
        procs = self.processes()
        proc = next(p for p in procs if p.name == name and self.alive(p))
        argv = [
            a.decode() for a in Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0") if a
        ]
        if edit_args is not None:
            argv = edit_args(argv)
        os.kill(proc.pid, sig)
        deadline = time.monotonic() + 15
        while self.alive(proc) and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.alive(proc):
            os.kill(proc.pid, signal.SIGKILL)
        stopped = time.monotonic()
        child_of_ours = self._children.pop(proc.pid, None)
        if child_of_ours is not None:
            child_of_ours.wait(5)  # reaped, so its pid is not a zombie that looks alive
        if down_for > 0:
            time.sleep(down_for)
        with open(self.logs / f"{name}.log", "ab") as log:
            child = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self._children[child.pid] = child
        procs = [Process(p.name, child.pid, p.argv0) if p is proc else p for p in procs]
        self._pids_file.write_text(json.dumps([asdict(p) for p in procs]))
        while not self._apiserver_ready():
            if time.monotonic() - stopped > timeout:
                raise RuntimeError(
                    f"the API server not ready {timeout:.0f}s after {name} restarted"
                )
            time.sleep(0.05)
        return time.monotonic() - stopped

    def destroy(self) -> None:
        """down, then delete etcd data and logs (the next up starts empty)."""
        import shutil

        self.down()
        for sub in ("etcd", "logs", "apiserver-certs", "kubeconfig", "kwok.yaml"):
            path = self.dir / sub
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
