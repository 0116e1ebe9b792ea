"""What a ModelDeployment's first reconcile reads from the API server.

One created after this replica began to write has no child but those it wrote (they
are in the cache; its ControllerRevisions are remembered), so nothing is asked that can
only answer 404. One created before (by anyone, while another replica or process
wrote) is looked up as before: its stable Deployment and ControllerRevision may exist.
And an object without status is taken from its watch event for its first reconcile in
this process, not read again.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from modelship.cache import ChildCache
from modelship.observe.model_deployment import CLOCK_SKEW, DeploymentObserver
from tests.unit.factories import spec_dict

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


class RecordingKube:
    """The API server as far as a first reconcile reads it: the ModelDeployment, and
    nothing else exists."""

    def __init__(self, md: dict[str, Any]) -> None:
        self.md = md
        self.gets: list[str] = []

    def get(
        self, api_version: str, kind: str, namespace: str, name: str, cached: bool = False
    ) -> dict[str, Any] | None:
        self.gets.append(kind)
        return self.md if kind == "ModelDeployment" else None

    def serves(self, api_version: str, kind: str) -> bool:
        return True

    def list(self, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        return []


def model_deployment(created: datetime) -> dict[str, Any]:
    return {
        "apiVersion": "modelship.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {
            "name": "m",
            "namespace": "ns",
            "uid": "u-1",
            "generation": 1,
            "creationTimestamp": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
        "spec": spec_dict(),
    }


def first_reads(created: datetime, writing_since: datetime | None) -> list[str]:
    kube = RecordingKube(model_deployment(created))
    observer = DeploymentObserver(kube, ChildCache())  # type: ignore[arg-type]
    observer.writing_since = writing_since
    target = observer.target("ns", "m")
    assert target is not None
    snapshot = observer.observe(target, NOW)
    # Read or not, the decision sees the same: nothing stored, no stable Deployment.
    assert snapshot.stored == {} and snapshot.live_stable is None
    return kube.gets


def test_an_object_created_while_this_replica_writes_is_not_looked_up_further() -> None:
    since = NOW - timedelta(minutes=10)
    assert first_reads(since + CLOCK_SKEW, since) == ["ModelDeployment"]


def test_an_object_created_before_or_about_when_it_began_is_looked_up() -> None:
    since = NOW - timedelta(minutes=10)
    looked_up = ["ModelDeployment", "ControllerRevision", "Deployment"]
    assert first_reads(since - timedelta(minutes=1), since) == looked_up
    # Within the clock skew allowed between the API server and the operator.
    assert first_reads(since + CLOCK_SKEW / 2, since) == looked_up
    assert first_reads(since, None) == looked_up  # a standby, or not yet writing


def test_the_watch_event_of_an_object_without_status_serves_its_first_reconcile() -> None:
    md = model_deployment(NOW)
    kube = RecordingKube(md)
    observer = DeploymentObserver(kube, ChildCache())  # type: ignore[arg-type]
    observer.bodies.seen(md)
    first = observer.target("ns", "m")
    assert first is not None and first.uid == "u-1"
    assert kube.gets == [], "the event's object, not a GET"
    # Once looked at, an event sent before this process's status write may still arrive
    # without status: it is not taken for the object.
    observer.bodies.seen(md)
    assert observer.target("ns", "m") is not None
    assert kube.gets == ["ModelDeployment"]


def test_an_object_with_status_is_always_read_fresh() -> None:
    md = {**model_deployment(NOW), "status": {"observedGeneration": 1}}
    kube = RecordingKube(md)
    observer = DeploymentObserver(kube, ChildCache())  # type: ignore[arg-type]
    observer.bodies.seen(model_deployment(NOW))  # its first event, before its status
    observer.bodies.seen(md)  # the status write's event drops it
    assert observer.target("ns", "m") is not None
    assert kube.gets == ["ModelDeployment"]


def test_a_deleted_and_recreated_object_is_served_from_its_event_again() -> None:
    md = model_deployment(NOW)
    kube = RecordingKube(md)
    observer = DeploymentObserver(kube, ChildCache())  # type: ignore[arg-type]
    observer.bodies.seen(md)
    observer.target("ns", "m")
    observer.bodies.gone("ns", "m")
    observer.bodies.seen({**md, "metadata": {**md["metadata"], "uid": "u-2"}})
    again = observer.target("ns", "m")
    assert again is not None and again.uid == "u-2"
    assert kube.gets == []


def test_once_it_has_status_what_status_names_is_read_as_before() -> None:
    # A status write whose answer was lost: status names a stable revision this process
    # never remembered. It is asked for, not taken as missing.
    since = NOW - timedelta(minutes=10)
    md = model_deployment(since + CLOCK_SKEW)
    md["status"] = {
        "observedGeneration": 1,
        "stableRevision": {"name": "abc123", "modelVersion": "1.0.0", "number": 1},
    }
    kube = RecordingKube(md)
    observer = DeploymentObserver(kube, ChildCache())  # type: ignore[arg-type]
    observer.writing_since = since
    target = observer.target("ns", "m")
    assert target is not None
    observer.observe(target, NOW)
    assert "ControllerRevision" in kube.gets[1:]
