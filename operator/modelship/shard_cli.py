"""`modelship operator`'s shard: ``-l/--selector`` beside ``-n/--namespace``, and the
Lease name a selector shard gets by default (docs/reliability.md, "Sharding")."""

from __future__ import annotations

import argparse

from modelship.decisions.shard import DEFAULT_LEASE, SelectorError, Shard


def add_arguments(op: argparse.ArgumentParser) -> None:
    op.add_argument(
        "-l",
        "--selector",
        default=None,
        metavar="SELECTOR",
        help="serve only the ModelDeployments and ModelPromotions whose labels match "
        "this label selector (kubectl's syntax: 'modelship.io/shard=a', 'tier in "
        "(gold,silver)', '!canary'); with -n, only those in its namespaces. Objects no "
        "operator's selector matches are not reconciled at all",
    )


def shard_of(args: argparse.Namespace) -> Shard | str:
    """The shard, or for a bad selector one line naming the flag."""
    try:
        return Shard.of(args.namespace, args.selector)
    except SelectorError as exc:
        return f"modelship operator: --selector {args.selector!r}: {exc}"


def lease_name(args: argparse.Namespace, shard: Shard) -> str:
    """--leader-elect-lease-name if given; else one per selector shard."""
    return str(args.leader_elect_lease_name or shard.lease_name(DEFAULT_LEASE))


LEASE_HELP = (
    f"name of the Lease (default: {DEFAULT_LEASE}; with --selector, "
    f"{DEFAULT_LEASE}-<selector>-<hash>, one per shard)"
)
