"""The operator's health endpoint (``--health-address``): /healthz and /readyz.

/healthz (liveness) answers 200 while the event loop runs and the leader election, when
on, has not died; a hung loop answers nothing and the kubelet restarts the container.
/readyz (readiness) answers 200 once the operator has started its watches. A standby is
ready too: it is a healthy replica waiting for the lease, and its metrics
(``modelship_leader 0``) should be scraped like the leader's. Both answer a small JSON
body that says which role the replica has.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web


@dataclass(frozen=True)
class Report:
    started: bool  # watches and queues set up
    leader: bool  # writes allowed now (always, without leader election)
    election_failed: str = ""  # the leader election loop died: why


async def serve(address: str, report: Callable[[], Report]) -> web.AppRunner:
    """Serve at HOST:PORT until the returned runner is cleaned up."""

    def answer(ok: bool, r: Report) -> web.Response:
        body: dict[str, object] = {"started": r.started, "leader": r.leader}
        if r.election_failed:
            body["electionFailed"] = r.election_failed
        return web.Response(
            status=200 if ok else 503, text=json.dumps(body), content_type="application/json"
        )

    async def healthz(_: web.Request) -> web.Response:
        r = report()
        return answer(not r.election_failed, r)

    async def readyz(_: web.Request) -> web.Response:
        r = report()
        return answer(r.started and not r.election_failed, r)

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    host, _, port = address.rpartition(":")
    await web.TCPSite(runner, host or "0.0.0.0", int(port)).start()
    return runner
