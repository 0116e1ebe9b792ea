"""What a ModelDeployment's first reconcile reads from the API server.

One created after this replica began to write has no child but those it wrote (they
are in the cache; its ControllerRevisions are remembered), so nothing is asked that can
only answer 404. One created before (by anyone, while another replica or process
wrote) is looked up as before: its stable Deployment and ControllerRevision may exist.
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


def first_reads(created: datetime, writing_since: datetime | None) -> list[str]:
    md = {
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
    kube = RecordingKube(md)
    observer = DeploymentObserver(kube, ChildCache())  # type: ignore[arg-type]
    observer.writing_since = writing_since
    target = observer.target("ns", "m")
    assert target is not None
    observer.observe(target, NOW)
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
