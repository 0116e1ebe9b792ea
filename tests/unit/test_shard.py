"""Shards: the label selector (Kubernetes' grammar), what a shard admits, its Lease name,
how child events are sorted by owner, and the operator refusing a bad selector."""

from __future__ import annotations

import logging
import re

import pytest

from modelship.cache import ChildCache
from modelship.cli import main
from modelship.decisions.shard import DEFAULT_LEASE, LabelSelector, SelectorError, Shard
from modelship.leader import SCOPE_ANNOTATION, LeaderElector
from modelship.sharding import FOREIGN, SERVED, UNKNOWN, Membership
from tests.unit.test_leadership import Leases


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("modelship.io/shard=a", "modelship.io/shard=a"),
        ("modelship.io/shard==a", "modelship.io/shard=a"),
        ("tier!=gold", "tier!=gold"),
        ("tier in (silver, gold,silver)", "tier in (gold,silver)"),
        ("tier notin (a)", "tier notin (a)"),
        ("canary", "canary"),
        ("!canary", "!canary"),
        ("  b=1 , a=2 ", "a=2,b=1"),
        ("team=", "team="),
        ("weight>3", "weight>3"),
        ("weight < -2", "weight<-2"),
        ("example.com/x_y.z-1=A.b_c-9", "example.com/x_y.z-1=A.b_c-9"),
    ],
)
def test_selectors_parse_to_their_canonical_form(text: str, canonical: str) -> None:
    assert str(LabelSelector.parse(text)) == canonical
    # The canonical form parses to itself: what the watches send means the same.
    assert str(LabelSelector.parse(canonical)) == canonical


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("a in b", "expected '('"),
        ("a in ()", "list of values is empty"),
        ("a in (x", "expected ',' or ')'"),
        ("a=b=c", "expected ',' between requirements"),
        ("a b", "a: expected =, ==, !=, in, notin, > or < after the key, found 'b'"),
        ("=b", "expected a label key"),
        ("a,", "expected a label key"),
        ("Foo/x=y", "prefix must be a DNS subdomain"),
        ("/x=y", "empty prefix"),
        ("-x=y", "alphanumeric at both ends"),
        ("x" * 64 + "=y", "1-63 characters"),
        ("x=" + "y" * 64, "at most 63 characters"),
        ("x=-y", "label value"),
        ("x>y", "expected an integer"),
        ("x~y", "label key 'x~y'"),
        ("in=x", "expected a label key"),
    ],
)
def test_bad_selectors_say_why(text: str, problem: str) -> None:
    with pytest.raises(SelectorError, match=re.escape(problem)):
        LabelSelector.parse(text)


@pytest.mark.parametrize(
    ("selector", "labels", "matches"),
    [
        ("s=a", {"s": "a"}, True),
        ("s=a", {"s": "b"}, False),
        ("s=a", {}, False),
        ("s!=a", {}, True),  # Kubernetes: a missing label is "not a"
        ("s!=a", {"s": "a"}, False),
        ("s in (a,b)", {"s": "b"}, True),
        ("s notin (a,b)", {"s": "c"}, True),
        ("s notin (a,b)", {}, True),
        ("s", {"s": ""}, True),
        ("!s", {"s": ""}, False),
        ("!s", {"t": "x"}, True),
        ("w>3", {"w": "4"}, True),
        ("w>3", {"w": "3"}, False),
        ("w<3", {"w": "x"}, False),  # not an integer: never matches
        ("s=a,t=b", {"s": "a", "t": "b"}, True),
        ("s=a,t=b", {"s": "a"}, False),
        ("s=", {"s": ""}, True),
    ],
)
def test_selector_matching_follows_kubernetes(
    selector: str, labels: dict[str, str], matches: bool
) -> None:
    assert LabelSelector.parse(selector).matches(labels) is matches


def obj(namespace: str, labels: dict[str, str] | None = None) -> dict[str, object]:
    return {"metadata": {"name": "m", "namespace": namespace, "labels": labels or {}}}


@pytest.mark.parametrize(
    ("namespaces", "selector", "o", "admitted"),
    [
        ([], None, obj("x"), True),
        (["a"], None, obj("a"), True),
        (["a"], None, obj("b"), False),
        ([], "shard=1", obj("x", {"shard": "1"}), True),
        ([], "shard=1", obj("x", {"shard": "2"}), False),
        ([], "shard=1", obj("x"), False),  # matches no shard: nobody reconciles it
        (["a"], "shard=1", obj("b", {"shard": "1"}), False),
        (["a", "b"], "shard=1", obj("b", {"shard": "1"}), True),
    ],
)
def test_a_shard_admits_its_namespaces_and_labels(
    namespaces: list[str], selector: str | None, o: dict[str, object], admitted: bool
) -> None:
    assert Shard.of(namespaces, selector).admits_object(o) is admitted


def test_lease_names_differ_per_selector_shard_and_stay_put_without_one() -> None:
    assert Shard().lease_name() == DEFAULT_LEASE
    assert Shard.of(["a"], None).lease_name() == DEFAULT_LEASE  # an upgrade keeps its Lease
    a = Shard.of([], "modelship.io/shard=a").lease_name()
    b = Shard.of([], "modelship.io/shard=b").lease_name()
    upper = Shard.of([], "modelship.io/shard=A").lease_name()
    same = Shard.of([], "modelship.io/shard==a").lease_name()
    assert len({a, b, upper}) == 3 and same == a
    assert a.startswith("modelship-operator-modelship.io-shard-a-"), a
    long = Shard.of(["ns"], "x in (" + ",".join(f"value{i}" for i in range(40)) + ")")
    name = long.lease_name()
    assert len(name) <= 253 and name == name.lower() and name[-1].isalnum(), name
    assert Shard.of([], "!x").lease_name().startswith("modelship-operator-x-")
    assert Shard.of(["b", "a"], "s=1").key() == "namespaces=a,b;selector=s=1"
    assert Shard().key() == "all"


def test_child_events_are_sorted_by_owner() -> None:
    members = Membership(sharded=True, settle=10)
    mine, theirs, late = ("ns", "mine"), ("ns", "theirs"), ("ns", "late")
    assert members.serve(mine) is False
    assert members.child(mine, 0) == SERVED
    assert members.child(theirs, 0) == UNKNOWN  # cached until its shard is known
    assert members.child(late, 5) == UNKNOWN
    assert members.settled(9) == []
    assert members.settled(10) == [theirs]  # unknown for 10 s: another shard's
    assert members.child(theirs, 11) == FOREIGN
    assert members.serves(theirs) is False
    # Relabelled into this shard: its children were dropped, so they must be read.
    assert members.serve(theirs) is True
    assert members.child(theirs, 12) == SERVED
    # Its event came before it settled: served, its cached children kept.
    assert members.serve(late) is False
    assert members.settled(100) == []
    # Deleted or relabelled away: its children are another shard's from now on.
    members.leave(mine)
    assert members.child(mine, 101) == FOREIGN


def test_without_a_selector_every_owner_is_served() -> None:
    members = Membership(sharded=False)
    assert members.child(("ns", "any"), 0) == SERVED
    assert members.serves(("ns", "any"))
    members.leave(("ns", "any"))
    assert members.child(("ns", "any"), 1) == SERVED
    assert members.settled(1e9) == []


def test_the_cache_drops_an_owners_children() -> None:
    cache = ChildCache()
    labels = {"modelship.io/model-deployment": "m"}
    for kind, name in (("Deployment", "m-stable"), ("Service", "m"), ("Pod", "m-1")):
        meta = {"name": name, "namespace": "ns", "labels": labels, "resourceVersion": "1"}
        cache.put({"apiVersion": "v1", "kind": kind, "metadata": meta})
    other = {"name": "o", "namespace": "ns", "labels": {"modelship.io/model-deployment": "o"}}
    cache.put({"apiVersion": "v1", "kind": "Service", "metadata": other})
    assert len(cache.children("ns", "m")) == 2 and cache.pods("ns", "m", {})
    cache.drop_owner("ns", "m")
    assert cache.children("ns", "m") == [] and cache.pods("ns", "m", {}) == []
    assert len(cache.children("ns", "o")) == 1


def test_the_operator_refuses_a_bad_selector_naming_the_flag(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["operator", "-l", "tier in gold"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == (
        "modelship operator: --selector 'tier in gold': tier in: expected '(' and a list of values"
    )
    assert "Traceback" not in err


def test_the_lease_says_which_shard_holds_it(caplog: pytest.LogCaptureFixture) -> None:
    """Two namespace shards left with one Lease name: the second waits as a standby
    for ever, so it says why; the same shard's standby does not."""
    leases = Leases()
    now = [0.0]
    team_a = Shard.of(["team-a"], None).key()
    a = LeaderElector(leases, "ns", "l", "a_1", clock=lambda: now[0], scope=team_a)  # type: ignore[arg-type]
    same = LeaderElector(leases, "ns", "l", "s_1", clock=lambda: now[0], scope=team_a)  # type: ignore[arg-type]
    b = LeaderElector(
        leases,  # type: ignore[arg-type]
        "ns",
        "l",
        "b_1",
        clock=lambda: now[0],
        scope=Shard.of(["team-b"], None).key(),
    )
    assert a._acquire_or_renew()
    assert leases.obj is not None
    assert leases.obj["metadata"]["annotations"] == {SCOPE_ANNOTATION: "namespaces=team-a"}
    with caplog.at_level(logging.WARNING, logger="modelship.leader"):
        assert not same._acquire_or_renew()
        assert caplog.records == []
        for _ in range(3):
            assert not b._acquire_or_renew()
    (record,) = caplog.records  # once per holder, not at every retry
    assert "held by a_1, which serves namespaces=team-a" in record.getMessage()
    assert "--leader-elect-lease-name" in record.getMessage()
