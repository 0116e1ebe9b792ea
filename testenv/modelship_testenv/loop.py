"""``python -m modelship_testenv.loop``: the demo's real serving loop, until SIGTERM.

Backs the runtime pods of one namespace with real modelship-runtime processes and
runs a Prometheus that scrapes them (its address goes to STATE/prometheus.address).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from modelship.kube import connect
from modelship_testenv.podrunner import PodRunner
from modelship_testenv.prometheus import PrometheusProcess


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--state-dir", required=True, type=Path)
    parser.add_argument("--namespace", required=True, help="whose runtime pods to back")
    args = parser.parse_args(argv)
    state: Path = args.state_dir
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    runner = PodRunner(
        connect(pool_size=2, kubeconfig=args.kubeconfig),
        state / "pods",
        targets_file=state / "targets.json",
        namespace=args.namespace,
    )
    prometheus = PrometheusProcess(state / "prometheus", state / "targets.json")
    runner.start()
    try:
        address = prometheus.start()
        (state / "prometheus.address").write_text(address)
        print(f"pod runner on namespace {args.namespace}, Prometheus at {address}", flush=True)
        done.wait()
    finally:
        prometheus.stop()
        runner.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
