"""The `modelship` command line (also installed as `kubectl-modelship`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from modelship import __version__


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

    import modelship.handlers  # noqa: F401 - registers the handlers
    from modelship.kube import connect

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
    namespaces = args.namespace or []
    asyncio.run(
        kopf.operator(
            clusterwide=not namespaces,
            namespaces=namespaces,
            standalone=True,
            liveness_endpoint=f"http://{args.health_address}/healthz"
            if args.health_address
            else None,
        )
    )
    return 0


def _dev_cluster(args: argparse.Namespace) -> int:
    from modelship.devcluster import Cluster, ClusterError

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
            from modelship.devcluster.cluster import build_binaries

            print(build_binaries())
    except ClusterError as exc:
        print(f"dev-cluster: {exc}", file=sys.stderr)
        return 1
    return 0


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
    op.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    op.add_argument(
        "--health-address",
        default=None,
        metavar="HOST:PORT",
        help="serve a liveness endpoint at http://HOST:PORT/healthz",
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
        "Go modules (several minutes) and caches them in ~/.cache/modelship.",
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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
