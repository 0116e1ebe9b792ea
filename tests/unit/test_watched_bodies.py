"""When a watched ModelDeployment may stand for a GET (observe/watched.py): only once
it includes this process's last status write, or, with no status at all, for its first
reconcile."""

from __future__ import annotations

from typing import Any

from modelship.kernel.plan import ObjectRef
from modelship.observe.watched import RECENT, WatchedBodies

REF = ObjectRef("modelship.io/v1alpha1", "ModelDeployment", "ns", "m")


def md(version: int, status: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "metadata": {"namespace": "ns", "name": "m", "uid": "u", "resourceVersion": str(version)},
        "spec": spec,
    }
    if status is not None:
        obj["status"] = status
    return obj


STATUS = {"observedGeneration": 1}


def wrote(bodies: WatchedBodies, version: int) -> None:
    bodies.writing(REF)
    bodies.written(REF, md(version, STATUS))


def test_nothing_is_taken_before_this_process_has_written_or_seen_it() -> None:
    bodies = WatchedBodies()
    assert bodies.take("ns", "m") is None
    bodies.seen(md(5, STATUS))
    assert bodies.take("ns", "m") is None, "a status this process never wrote: read it"


def test_taken_once_the_event_of_its_own_last_write_arrived() -> None:
    bodies = WatchedBodies()
    bodies.seen(md(5, STATUS))
    wrote(bodies, 6)
    assert bodies.take("ns", "m") is None, "its write's event is still on its way"
    bodies.seen(md(6, STATUS))
    taken = bodies.take("ns", "m")
    assert taken is not None and taken["metadata"]["resourceVersion"] == "6"
    # Another client's change after it is the newest body, and still taken.
    bodies.seen(md(7, STATUS, replicas=3))
    taken = bodies.take("ns", "m")
    assert taken is not None and taken["spec"] == {"replicas": 3}


def test_an_event_that_arrives_before_the_answer_is_recorded_counts() -> None:
    bodies = WatchedBodies()
    bodies.writing(REF)
    bodies.seen(md(6, STATUS))  # the watch was faster than the PATCH's answer
    assert bodies.take("ns", "m") is None, "not while the write is unanswered"
    bodies.written(REF, md(6, STATUS))
    assert bodies.take("ns", "m") is not None


def test_a_write_whose_answer_was_lost_is_read_again() -> None:
    bodies = WatchedBodies()
    wrote(bodies, 6)
    bodies.seen(md(6, STATUS))
    bodies.writing(REF)  # the next write fails: no answer
    bodies.seen(md(7, STATUS))  # it may or may not have been made
    assert bodies.take("ns", "m") is None


def test_a_version_that_left_the_remembered_ones_is_read_again() -> None:
    bodies = WatchedBodies()
    wrote(bodies, 1)
    for version in range(1, RECENT + 2):
        bodies.seen(md(version, STATUS))
    assert bodies.take("ns", "m") is None


def test_an_object_without_status_serves_only_its_first_reconcile() -> None:
    bodies = WatchedBodies()
    bodies.seen(md(3))
    assert bodies.take("ns", "m") is not None
    bodies.seen(md(3))  # an event sent before a status write may still arrive
    assert bodies.take("ns", "m") is None
    bodies.gone("ns", "m")  # deleted, and created again under the name
    bodies.seen(md(9))
    assert bodies.take("ns", "m") is not None


def test_a_deleted_object_forgets_its_writes() -> None:
    bodies = WatchedBodies()
    wrote(bodies, 6)
    bodies.seen(md(6, STATUS))
    bodies.gone("ns", "m")
    bodies.seen(md(6, STATUS))
    assert bodies.take("ns", "m") is None


def test_what_is_taken_is_a_copy() -> None:
    bodies = WatchedBodies()
    event = md(6, STATUS)
    wrote(bodies, 6)
    bodies.seen(event)
    event["spec"]["changed"] = True  # kopf's dict, after the handler
    taken = bodies.take("ns", "m")
    assert taken is not None and taken["spec"] == {}
    taken["spec"]["changed"] = True  # a reconcile's copy
    again = bodies.take("ns", "m")
    assert again is not None and again["spec"] == {}
