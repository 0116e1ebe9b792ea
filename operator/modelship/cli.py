"""The `modelship` command line (also installed as `kubectl-modelship`)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from modelship import __version__, shard_cli
from modelship.decisions.leadership import LEASE_DURATION, RENEW_DEADLINE, RETRY_PERIOD


def _crds(args: argparse.Namespace) -> int:
    from modelship.crd import render_all

    out = Path(args.output)
    stale = []
    for name, text in render_all().items():
        path = out / name
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path))
        else:
            out.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"wrote {path}")
    if stale:
        print(f"stale CRDs (run `make crds`): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


def _operator(args: argparse.Namespace) -> int:
    import asyncio
    import logging

    import kopf

    import modelship.handlers  # registers the handlers
    from modelship.kube import connect

    shard = shard_cli.shard_of(args)
    if isinstance(shard, str):
        print(shard, file=sys.stderr)
        return 2
    if not 1 <= args.workers <= 64:
        print("modelship operator: --workers must be 1-64", file=sys.stderr)
        return 2
    try:
        connect()  # fail here, clearly, rather than inside kopf's startup retries
    except Exception as exc:
        print(f"modelship operator: cannot load a Kubernetes configuration: {exc}", file=sys.stderr)
        return 2

    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if args.log_level != "debug":
        # kopf logs every handler run at INFO; the operator logs what changed instead.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
        # httpx logs every metrics query of every analysis round at INFO.
        logging.getLogger("httpx").setLevel(logging.WARNING)
    namespaces = args.namespace or []
    if args.metrics_address:
        from modelship import telemetry

        telemetry.serve(args.metrics_address)
    handlers = modelship.handlers
    handlers.options.health_address = args.health_address
    handlers.options.workers = args.workers
    handlers.options.shard = shard
    if args.leader_elect:
        from modelship.decisions.leadership import Timing
        from modelship.kube.client import current_namespace

        timing = Timing(
            lease_duration=args.leader_elect_lease_duration,
            renew_deadline=args.leader_elect_renew_deadline,
            retry_period=args.leader_elect_retry_period,
        )
        if problems := timing.problems():
            print(f"modelship operator: --leader-elect-*: {'; '.join(problems)}", file=sys.stderr)
            return 2
        handlers.options.leader_election = handlers.LeaderElection(
            namespace=args.leader_elect_namespace or current_namespace(),
            lease_name=shard_cli.lease_name(args, shard),
            timing=timing,
        )

    async def run() -> None:
        handlers.options.stop = asyncio.Event()
        await kopf.operator(
            clusterwide=not namespaces,
            namespaces=namespaces,
            standalone=True,
            stop_flag=handlers.options.stop,
        )

    asyncio.run(run())
    if handlers.leadership_lost():
        # Exit now, as controller-runtime does: a reconcile thread blocked in a request
        # would hold a normal exit up, and the fence already refuses what it would
        # write. A restart (the kubelet's) joins as a standby.
        logging.shutdown()
        os._exit(1)
    return 0


def _reference_build(args: argparse.Namespace) -> int:
    import yaml

    from modelship.drift.builder import build_from_csv, summary
    from modelship.drift.reference import InvalidReferenceError

    def fail(problem: object) -> int:
        print(f"modelship reference build: {problem}", file=sys.stderr)
        return 2

    try:
        # Undecodable bytes go through as surrogates, so the builder can say where.
        with open(args.data, newline="", encoding="utf-8-sig", errors="surrogateescape") as f:
            reference = build_from_csv(
                f,
                "the file",
                bins=args.bins,
                categorical=_names(args.categorical),
                numeric=_names(args.numeric),
                exclude=_names(args.exclude),
                prediction=args.prediction,
            )
    except (OSError, InvalidReferenceError) as exc:
        return fail(f"{args.data}: {exc}")
    for note in reference.notes:
        print(f"modelship reference build: {note}", file=sys.stderr)
    text = reference.dumps() + "\n"
    if args.configmap:
        configmap = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": args.configmap},
            "data": {"reference.json": reference.dumps(indent=None)},
        }
        text = yaml.safe_dump(configmap, sort_keys=False)
    if args.output:
        try:
            args.output.write_text(text)
        except OSError as exc:
            return fail(f"{args.output}: {exc}")
        print(f"wrote {args.output}: {summary(reference)}", file=sys.stderr)
    else:
        sys.stdout.write(text)
        print(f"modelship reference build: {summary(reference)}", file=sys.stderr)
    return 0


def _names(values: list[str]) -> list[str]:
    """Repeated options and comma lists alike: ``--exclude a,b --exclude c``."""
    return [name.strip() for value in values for name in value.split(",") if name.strip()]


TESTENV_MISSING = (
    "modelship dev-cluster needs the modelship-testenv package: "
    "pip install -e testenv/ from a source checkout"
)


def _dev_cluster(args: argparse.Namespace) -> int:
    # Dev tooling in its own package (testenv/), not in the operator's wheel or image.
    try:
        from modelship_testenv import Cluster, ClusterError
    except ModuleNotFoundError as exc:
        if exc.name != "modelship_testenv":
            raise
        print(TESTENV_MISSING, file=sys.stderr)
        return 2

    cluster = Cluster(Path(args.state_dir) if args.state_dir else None)
    try:
        if args.action == "up":
            cluster.up(gateway_api=not args.no_gateway_api)
            print(f"export KUBECONFIG={cluster.kubeconfig}")
        elif args.action == "down":
            cluster.down()
        elif args.action == "destroy":
            cluster.destroy()
        elif args.action == "status":
            status = cluster.status()
            print(json.dumps(status, indent=2))
            return 0 if status["ready"] else 1
        elif args.action == "env":
            print(f"export KUBECONFIG={cluster.kubeconfig}")
        elif args.action == "build":
            from modelship_testenv.cluster import build_binaries

            print(build_binaries())
    except ClusterError as exc:
        print(f"dev-cluster: {exc}", file=sys.stderr)
        return 1
    return 0


def _ctl(args: argparse.Namespace) -> int:
    """get / status / promote / abort / retry / undo / pause / resume."""

    from modelship.ctl import Ctl
    from modelship.decisions.rollout import Command
    from modelship.errors import CtlError
    from modelship.kube import connect, current_namespace

    try:
        ctl = Ctl(
            connect(pool_size=2, kubeconfig=args.kubeconfig, context=args.context),
            args.namespace or current_namespace(args.kubeconfig, args.context),
        )
        if args.command == "get":
            print(ctl.get(args.all_namespaces))
        elif args.command == "status" and args.watch:
            ctl.watch(args.name, args.interval)
        elif args.command == "status":
            print(ctl.status(args.name))
        elif args.command == "promote":
            print(ctl.command(args.name, Command.PROMOTE_FULL if args.full else Command.PROMOTE))
        elif args.command in ("abort", "retry"):
            print(ctl.command(args.name, Command(args.command)))
        elif args.command in ("pause", "resume"):
            print(ctl.pause(args.name, args.command == "pause"))
        elif args.command == "undo":
            print(ctl.undo(args.name, args.to_revision))
    except CtlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # connection trouble, missing kubeconfig: one line, not a trace
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _promotion_ctl(args: argparse.Namespace) -> int:
    """promotions / promotion status|evidence / approve / reject."""
    from modelship.errors import CtlError
    from modelship.kube import connect, current_namespace
    from modelship.promotion_ctl import PromotionCtl, dump

    try:
        ctl = PromotionCtl(
            connect(pool_size=2, kubeconfig=args.kubeconfig, context=args.context),
            args.namespace or current_namespace(args.kubeconfig, args.context),
        )
        if args.command == "promotions":
            print(ctl.listing(args.all_namespaces))
        elif args.command == "approve":
            print(ctl.approve(args.name, args.message or ""))
        elif args.command == "reject":
            print(ctl.reject(args.name, args.message))
        elif args.action == "status" and args.watch:
            ctl.watch(args.name, args.interval)
        elif args.action == "status":
            print(ctl.status(args.name))
        elif args.action == "evidence":
            records = ctl.evidence(args.name, args.run, args.target_namespace)
            print(dump(records, args.output))
    except CtlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # connection trouble, missing kubeconfig: one line, not a trace
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _dashboard(args: argparse.Namespace) -> int:
    import asyncio
    import logging

    from modelship.dashboard.server import serve
    from modelship.kube import connect

    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # The watches retry on their own and say why on the page: no urllib3 retry noise.
    logging.getLogger("urllib3").setLevel(logging.ERROR)
    if not 0 <= args.port <= 65535:
        print("modelship dashboard: --port must be 0-65535", file=sys.stderr)
        return 2
    try:
        # Watches and page reads run in threads beside the actions: room for them all.
        kube = connect(pool_size=8, kubeconfig=args.kubeconfig, context=args.context)
    except Exception as exc:
        print(
            f"modelship dashboard: cannot load a Kubernetes configuration: {exc}", file=sys.stderr
        )
        return 2
    try:
        asyncio.run(serve(kube, args.namespace, args.address, args.port, args.open))
    except OSError as exc:  # the port is taken, the address is not this machine's
        print(
            f"modelship dashboard: cannot listen on {args.address}:{args.port}: {exc}",
            file=sys.stderr,
        )
        return 1
    return 0


def _add_dashboard_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cmd = sub.add_parser(
        "dashboard",
        help="serve a local web dashboard of rollouts, checks, drift and promotions",
        description="Serve a web dashboard on this machine (http://127.0.0.1:8390/ by "
        "default; no browser is opened unless --open): every ModelDeployment with its "
        "phase, versions, weights, verdicts and drift, each rollout's timeline and checks "
        "per round, drift per feature, promotions as a pipeline, and buttons for promote, "
        "abort, retry, pause, resume, undo, approve and reject. It talks to the cluster "
        "with your kubeconfig's credentials and stores no token: you see and do only what "
        "you may (a refusal shows as Forbidden). Pages update live from a watch. "
        "See docs/dashboard.md.",
    )
    cmd.add_argument(
        "-n",
        "--namespace",
        help="only this namespace (default: every namespace you can list)",
    )
    cmd.add_argument("--kubeconfig", help="default: $KUBECONFIG or ~/.kube/config")
    cmd.add_argument("--context", help="kubeconfig context (default: the current one)")
    cmd.add_argument(
        "--address",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: only this machine can connect)",
    )
    cmd.add_argument(
        "--port", type=int, default=8390, help="port to listen on (default 8390; 0: any free one)"
    )
    cmd.add_argument("--open", action="store_true", help="open the dashboard in a browser")
    cmd.add_argument("-v", "--verbose", action="store_true", help="log requests and watches")
    cmd.set_defaults(func=_dashboard)


def _common(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("-n", "--namespace", help="default: the kubeconfig context's namespace")
    cmd.add_argument("--kubeconfig", help="default: $KUBECONFIG or ~/.kube/config")
    cmd.add_argument("--context", help="kubeconfig context (default: the current one)")


def _add_promotion_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    text = "list ModelPromotions: source, target, version, phase, gates passing, soak left"
    cmd = sub.add_parser("promotions", help=text, description=text[0].upper() + text[1:] + ".")
    _common(cmd)
    cmd.add_argument("-A", "--all-namespaces", action="store_true")
    cmd.set_defaults(func=_promotion_ctl)
    text = "a ModelPromotion's gates, soak, approvals, evaluation and evidence"
    promo = sub.add_parser("promotion", help=text, description=text[0].upper() + text[1:] + ".")
    actions = promo.add_subparsers(dest="action", required=True)
    text = "each gate with value, threshold and verdict; soak remaining; approvals; target"
    status = actions.add_parser("status", help=text, description=text[0].upper() + text[1:] + ".")
    _common(status)
    status.add_argument("name", help="the ModelPromotion")
    status.add_argument("-w", "--watch", action="store_true", help="redraw until Ctrl-C")
    status.add_argument("--interval", type=float, default=2.0, help="seconds between redraws")
    status.set_defaults(func=_promotion_ctl)
    text = (
        "print a run's whole record (gates, approvers, Job results, source and target); "
        "kept on the target, so it works after the ModelPromotion is deleted"
    )
    evidence = actions.add_parser(
        "evidence", help=text, description=text[0].upper() + text[1:] + "."
    )
    _common(evidence)
    evidence.add_argument("name", help="the ModelPromotion (it may be deleted)")
    evidence.add_argument("-o", "--output", choices=["yaml", "json"], default="yaml")
    evidence.add_argument(
        "--run", type=int, metavar="N", help="run number (default: the last; 0: every run)"
    )
    evidence.add_argument(
        "--target-namespace",
        metavar="NS",
        help="where the target lives, for a deleted promotion (default: search every "
        "namespace you can list)",
    )
    evidence.set_defaults(func=_promotion_ctl)
    for name, text in (
        ("approve", "approve the promotion's waiting run as yourself (needs the approve verb)"),
        ("reject", "reject the promotion's waiting run as yourself: the run fails"),
    ):
        cmd = sub.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        _common(cmd)
        cmd.add_argument("name", help="the ModelPromotion")
        cmd.add_argument(
            "-m", "--message", required=name == "reject", help="why (recorded as evidence)"
        )
        cmd.set_defaults(func=_promotion_ctl)


_CTL_HELP = {
    "get": "list ModelDeployments with stable version, canary, readiness and phase",
    "status": "show revisions, steps, traffic weights, pods per track, conditions, analysis, "
    "drift, retraining, history",
    "promote": "pass the current step (a pause, or a weight still waiting); --full: promote now",
    "abort": "send all traffic back to stable and scale the canary to zero",
    "retry": "run an aborted canary again from its first step",
    "undo": "roll back (through a canary) to the previous or a given revision",
    "pause": "hold the canary where it is until resume",
    "resume": "continue a paused canary",
}


def _add_ctl_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for name, text in _CTL_HELP.items():
        cmd = sub.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        _common(cmd)
        if name == "get":
            cmd.add_argument("-A", "--all-namespaces", action="store_true")
        else:
            cmd.add_argument("name", help="the ModelDeployment")
        if name == "status":
            cmd.add_argument("-w", "--watch", action="store_true", help="redraw until Ctrl-C")
            cmd.add_argument("--interval", type=float, default=2.0, help="seconds between redraws")
        if name == "promote":
            cmd.add_argument("--full", action="store_true", help="skip every remaining step")
        if name == "undo":
            cmd.add_argument(
                "--to-revision",
                type=int,
                metavar="N",
                help="revision number from `status` history (default: previous)",
            )
        cmd.set_defaults(func=_ctl)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modelship",
        description="Run machine-learning models on Kubernetes with GPU-aware canaries.",
    )
    parser.add_argument("--version", action="version", version=f"modelship {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    op = sub.add_parser("operator", help="run the operator (kopf) against the current cluster")
    op.add_argument(
        "-n",
        "--namespace",
        action="append",
        help="watch only this namespace (repeatable); default: all namespaces",
    )
    shard_cli.add_arguments(op)
    op.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    op.add_argument(
        "--health-address",
        default=None,
        metavar="HOST:PORT",
        help="serve /healthz (liveness) and /readyz (readiness) at http://HOST:PORT",
    )
    op.add_argument(
        "--leader-elect",
        action="store_true",
        help="elect a leader through a Lease, so several replicas can run and only one "
        "writes (off: this process assumes it is the only operator)",
    )
    op.add_argument(
        "--leader-elect-namespace",
        default=None,
        metavar="NAMESPACE",
        help="namespace of the Lease (default: the pod's own, else the kubeconfig's)",
    )
    op.add_argument(
        "--leader-elect-lease-name",
        default=None,
        metavar="NAME",
        help=shard_cli.LEASE_HELP,
    )
    op.add_argument(
        "--leader-elect-lease-duration",
        type=float,
        default=LEASE_DURATION,
        metavar="SECONDS",
        help="how long a standby waits after the lease last changed before taking it "
        f"({LEASE_DURATION:g})",
    )
    op.add_argument(
        "--leader-elect-renew-deadline",
        type=float,
        default=RENEW_DEADLINE,
        metavar="SECONDS",
        help="a leader that has not renewed for this long stops writing and exits "
        f"({RENEW_DEADLINE:g})",
    )
    op.add_argument(
        "--leader-elect-retry-period",
        type=float,
        default=RETRY_PERIOD,
        metavar="SECONDS",
        help=f"how often the lease is renewed, or tried by a standby ({RETRY_PERIOD:g})",
    )
    op.add_argument(
        "--workers",
        type=int,
        default=8,
        metavar="N",
        help="ModelDeployment reconciles run at once (8; 1-64); 2 more take only objects "
        "whose spec or annotations changed. More workers keep analysis rounds on time for "
        "a larger fleet while the API server and Prometheus answer in time; watch "
        "modelship_workqueue_queue_duration_seconds",
    )
    op.add_argument(
        "--metrics-address",
        default=None,
        metavar="HOST:PORT",
        help="serve the operator's Prometheus metrics at http://HOST:PORT/metrics "
        "(reconciles, rollouts, analysis checks); off by default",
    )
    op.set_defaults(func=_operator)

    crds = sub.add_parser("crds", help="generate the CRD YAML from the API models")
    crds.add_argument("--output", default="crds", help="directory to write (default: crds)")
    crds.add_argument(
        "--check",
        action="store_true",
        help="exit 1 if the files in --output differ from the models",
    )
    crds.set_defaults(func=_crds)

    dev = sub.add_parser(
        "dev-cluster",
        help="a local control plane built from Go modules (etcd, kube-apiserver, kwok)",
        description="Manage the local control plane. The first `up` builds the binaries from "
        "Go modules (several minutes) and caches them in ~/.cache/modelship. Needs the "
        "modelship-testenv package (pip install -e testenv/ from a source checkout).",
    )
    dev.add_argument(
        "action",
        choices=["up", "down", "status", "env", "destroy", "build"],
        help="up: build if needed and start; down: stop the processes; status: "
        "show them (exit 1 unless ready); env: print the KUBECONFIG export; "
        "destroy: down and delete its data; build: only build the binaries",
    )
    dev.add_argument(
        "--state-dir",
        default=None,
        help="where kubeconfig, logs and data live "
        "(default: $MODELSHIP_DEV_CLUSTER_DIR or ~/.local/state/modelship/dev-cluster)",
    )
    dev.add_argument(
        "--no-gateway-api", action="store_true", help="do not install the Gateway API CRDs"
    )
    dev.set_defaults(func=_dev_cluster)

    ref = sub.add_parser(
        "reference",
        help="build a drift reference (the training distribution) from training data",
        description="Build the reference distribution drift monitoring compares live inputs "
        "with (docs/drift.md): per numeric column quantile bin edges and counts, per "
        "categorical column category counts.",
    )
    ref_sub = ref.add_subparsers(dest="reference_command", required=True)
    text = "from a CSV file with a header row"
    build = ref_sub.add_parser(
        "build",
        help=text,
        description="Build a drift reference from a UTF-8 CSV file with a header row. A "
        "column whose values are all numbers is numeric, one with text values categorical "
        "(said on stderr); --categorical and --numeric decide instead. Empty cells count "
        "as missing. Bad data exits 2 with one line naming the line, or column and row.",
    )
    build.add_argument("data", type=Path, help="training data: CSV with a header row")
    build.add_argument("--bins", type=int, default=10, help="quantile bins per numeric column")
    for flag, what in (
        ("--categorical", "categorical, whatever their values"),
        ("--numeric", "numeric: a text value is an error naming column and row"),
        ("--exclude", "left out of the reference"),
    ):
        build.add_argument(
            flag,
            action="append",
            default=[],
            metavar="COLUMN[,COLUMN...]",
            help=f"these columns are {what} (repeatable)",
        )
    build.add_argument("--prediction", metavar="COLUMN", help="the model's output column")
    build.add_argument("-o", "--output", type=Path, help="write here (default: stdout)")
    build.add_argument(
        "--configmap",
        metavar="NAME",
        help="print a ConfigMap NAME (key reference.json) instead of the bare JSON",
    )
    build.set_defaults(func=_reference_build)
    _add_ctl_commands(sub)
    _add_promotion_commands(sub)
    _add_dashboard_command(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
