"""Leader election over a coordination.k8s.io/v1 Lease, on asyncio, beside kopf.

kopf's own peering pauses every peer of equal priority and takes up to a minute to fail
over, so the operator elects its leader itself, the way controller-runtime does
(decisions/leadership.py has the rules). Every replica watches and fills its caches
(a warm standby); only the leader's work queues run, and every write in the process
goes through the fence (modelship.fence), which this elector opens only while its last
renewal is younger than the renew deadline. A leader that loses the lease, or cannot
renew it in time, stops writing at once and asks the operator to exit: it restarts as
a standby rather than carry state from a term that another replica has since changed.

The Lease's reads and writes run on a thread of their own, so reconciles that fill the
worker pool cannot delay a renewal.

The leader stamps the Lease with the shard it serves (``scope``, SCOPE_ANNOTATION): a
candidate serving another shard that finds it held says so in its log, since it would
wait as a standby for ever (two namespace shards left with the default Lease name). It
still waits: during a rolling update that changes the shard, the new replica is
meant to take over when the old one lets go.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from modelship.decisions.leadership import LeaseRecord, Timing, may_acquire, still_leading
from modelship.errors import AlreadyExistsError, ModelshipError
from modelship.kube import Kube

log = logging.getLogger("modelship.leader")

SCOPE_ANNOTATION = "modelship.io/serves"

Obj = dict[str, Any]


def _micro_time(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _record(lease: Obj | None) -> LeaseRecord | None:
    if lease is None:
        return None
    spec = lease.get("spec") or {}
    return LeaseRecord(
        holder=str(spec.get("holderIdentity") or ""),
        lease_duration=float(spec.get("leaseDurationSeconds") or 0),
        renew_time=str(spec.get("renewTime") or ""),
        transitions=int(spec.get("leaseTransitions") or 0),
    )


class LeaderElector:
    def __init__(
        self,
        kube: Kube,
        namespace: str,
        name: str,
        identity: str,
        timing: Timing | None = None,
        clock: Callable[[], float] = time.monotonic,
        scope: str = "",
    ) -> None:
        self.kube = kube
        self.scope = scope
        self._warned_about = ""  # the holder last named in a warning about its shard
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.timing = timing or Timing()
        self.clock = clock
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="leader-lease")
        self._renewed_at: float | None = None  # last successful acquire or renew
        self._seen: tuple[LeaseRecord | None, float] = (None, 0.0)  # record, seen changing at
        self._stopped = False  # released or lost: never writes again in this process
        self._displaced = False  # the lease names another holder while this one leads
        self.lost = False

    # ----- the fence ------------------------------------------------------------------

    def may_write(self) -> bool:
        return not self._stopped and still_leading(self._renewed_at, self.clock(), self.timing)

    # ----- the loop -------------------------------------------------------------------

    async def run(self, on_started: Callable[[], None], on_lost: Callable[[], None]) -> None:
        """Campaign until this replica holds the lease, call ``on_started``, renew every
        retry period; once it can no longer lead, stop writing and call ``on_lost``."""
        log.info("waiting to lead: lease %s/%s as %s", self.namespace, self.name, self.identity)
        while not await self._try(acquiring=True):
            await asyncio.sleep(self.timing.retry_period)
        log.info("leading: lease %s/%s acquired by %s", self.namespace, self.name, self.identity)
        on_started()
        while True:
            await asyncio.sleep(self.timing.retry_period)
            if self._stopped:
                return
            renewed = await self._try(acquiring=False)
            if not renewed and (self._displaced or not self.may_write()):
                self._stopped = True
                self.lost = True
                why = (
                    f"it names {self._seen[0].holder if self._seen[0] else 'nobody'}"
                    if self._displaced
                    else f"no renewal for {self.timing.renew_deadline:.0f}s"
                )
                log.error(
                    "lost leadership of lease %s/%s (%s): "
                    "writes stopped, exiting so a restart joins as a standby",
                    self.namespace,
                    self.name,
                    why,
                )
                on_lost()
                return

    async def release(self) -> None:
        """Give the lease up (SIGTERM): stop writing first, then clear the holder so a
        standby takes over at its next retry instead of waiting for the lease to
        expire."""
        was_leading = self.may_write()
        self._stopped = True
        if not was_leading:
            return
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._io, self._release)
            log.info("released lease %s/%s", self.namespace, self.name)
        except ModelshipError as exc:
            log.warning("could not release lease %s/%s: %s", self.namespace, self.name, exc)

    # ----- Lease I/O (on the lease thread) -----------------------------------------------

    async def _try(self, acquiring: bool) -> bool:
        loop = asyncio.get_running_loop()
        started = self.clock()
        try:
            held = await loop.run_in_executor(self._io, self._acquire_or_renew)
        except ModelshipError as exc:
            level = logging.DEBUG if acquiring else logging.WARNING
            log.log(level, "lease %s/%s: %s", self.namespace, self.name, exc)
            return False
        if held and not self._stopped:
            # The renewal counts from when it was sent: the API server may have taken
            # the request a while ago, and the lease's expiry runs from then.
            self._renewed_at = started
        return held

    def _timeout(self) -> float:
        return max(1.0, self.timing.renew_deadline - self.timing.retry_period)

    def _acquire_or_renew(self) -> bool:
        lease = self.kube.lease(self.namespace, self.name, timeout=self._timeout())
        record = _record(lease)
        now = self.clock()
        seen, seen_at = self._seen
        if record != seen:
            self._seen = (record, now)
            seen_at = now
        if not may_acquire(record, seen_at, now, self.identity):
            # While leading, another holder in the lease means this term is over,
            # whatever the clock says.
            self._displaced = self._renewed_at is not None
            self._other_shard(lease, record)
            return False
        stamp = _micro_time(datetime.now(UTC))
        spec: Obj = {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": int(self.timing.lease_duration),
            "renewTime": stamp,
        }
        if record is None or record.holder != self.identity:
            spec["acquireTime"] = stamp
            spec["leaseTransitions"] = (record.transitions + 1) if record else 0
        body: Obj = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": {**((lease or {}).get("spec") or {}), **spec},
        }
        if self.scope:
            body["metadata"]["annotations"] = {SCOPE_ANNOTATION: self.scope}
        if lease is not None:
            body["metadata"]["resourceVersion"] = lease["metadata"]["resourceVersion"]
        try:
            written = self.kube.write_lease(body, timeout=self._timeout())
        except AlreadyExistsError:
            return False  # another candidate created it first
        self._seen = (_record(written), self.clock())
        return True

    def _other_shard(self, lease: Obj | None, record: LeaseRecord | None) -> None:
        """Warn, once per holder, when the lease is held for a shard other than ours."""
        notes = ((lease or {}).get("metadata") or {}).get("annotations") or {}
        theirs = str(notes.get(SCOPE_ANNOTATION) or "")
        holder = record.holder if record else ""
        if not theirs or not self.scope or theirs == self.scope or not holder:
            return
        if holder == self._warned_about:
            return
        self._warned_about = holder
        log.warning(
            "lease %s/%s is held by %s, which serves %s; this operator serves %s and "
            "waits for the lease. If both shards are meant to run, give each its own "
            "--leader-elect-lease-name",
            self.namespace,
            self.name,
            holder,
            theirs,
            self.scope,
        )

    def _release(self) -> None:
        lease = self.kube.lease(self.namespace, self.name, timeout=self._timeout())
        record = _record(lease)
        if lease is None or record is None or record.holder != self.identity:
            return
        lease["spec"] = {
            **lease["spec"],
            "holderIdentity": "",
            "leaseDurationSeconds": 1,
            "renewTime": _micro_time(datetime.now(UTC)),
        }
        self.kube.write_lease(lease, timeout=self._timeout())
