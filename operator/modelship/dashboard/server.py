"""The dashboard's HTTP server (aiohttp.web, already installed as kopf's dependency).

aiohttp rather than the standard library's http.server: Server-Sent Events need one
long-lived response per browser tab, which an asyncio server holds for the price of a
coroutine (http.server would need a thread per tab), and the watch threads hand their
events to the same loop. Routes (the URL contract the browser tests rely on):

  GET  /                         fleet (?namespace=NS)
  GET  /md/NS/NAME               one ModelDeployment
  GET  /md/NS/NAME/drift         its drift and retraining
  GET  /promotions               every ModelPromotion as pipelines
  GET  /promotion/NS/NAME        one ModelPromotion
  GET  /events?page=PATH         Server-Sent Events: fragments of PATH when they change
  POST /api/action               {"kind", "namespace", "name", "action"[, "message"]}
  GET  /healthz                  "ok"
  GET  /static/app.js|app.css    the page's script and style, from the package
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import secrets
import signal
import sys
import time
import webbrowser
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiohttp import web

from modelship.dashboard import actions, guard
from modelship.dashboard.live import LiveFeatures
from modelship.dashboard.store import Change, Store
from modelship.dashboard.views import deployment, drift, fleet, promotions
from modelship.dashboard.views.markup import e, page
from modelship.drift.reference import InvalidReferenceError, Reference, parse
from modelship.kube import Kube
from modelship.render.labels import MODEL_DEPLOYMENT
from modelship.render.retraining import RETRAINING

log = logging.getLogger("modelship.dashboard")

Obj = dict[str, Any]
Fragments = dict[str, str]
NAME = r"[a-z0-9](?:[-a-z0-9.]*[a-z0-9])?"
COALESCE = 0.1  # seconds of changes gathered into one live update
HISTORY_NOTE = (
    "Charts of earlier rounds and windows start when this dashboard started: status keeps "
    "only the last analysis round and drift window."
)


@dataclass(frozen=True)
class View:
    """A page's live parts: how to render its fragments, and which changes touch it."""

    fragments: Callable[[], Awaitable[Fragments | None]]
    relevant: Callable[[Change], bool]


class Dashboard:
    def __init__(self, kube: Kube, namespace: str | None, address: str) -> None:
        self.kube = kube
        self.store = Store(kube, namespace)
        self.address = address
        self.csrf = secrets.token_urlsafe(32)
        self.allowed: frozenset[str] = frozenset()
        self.live = LiveFeatures()

    # ----- data the cache does not hold (read as the user, per render) ------------------

    async def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.to_thread(fn, *args)

    async def events_of(self, ns: str, name: str) -> list[Obj]:
        selector = f"involvedObject.kind=ModelDeployment,involvedObject.name={name}"
        try:
            result: list[Obj] = await self._call(self.kube.list, "v1", "Event", ns, None, selector)
        except Exception as exc:
            log.info("events of %s/%s: %s", ns, name, exc)
            return []
        return result

    async def reference_of(self, obj: Obj) -> Reference | str | None:
        ref = (((obj.get("spec") or {}).get("drift") or {}).get("reference") or {}).get(
            "configMapRef"
        ) or {}
        if not ref:
            return None
        ns = obj["metadata"]["namespace"]
        try:
            cm = await self._call(self.kube.get, "v1", "ConfigMap", ns, ref.get("name", ""))
        except Exception as exc:
            return f"ConfigMap {ref.get('name')} could not be read: {exc}"
        if cm is None:
            return f"ConfigMap {ref.get('name')} not found"
        text = (cm.get("data") or {}).get(ref.get("key", ""))
        if text is None:
            return f"ConfigMap {ref.get('name')} has no key {ref.get('key')}"
        try:
            return parse(text)
        except InvalidReferenceError as exc:
            return f"invalid reference: {exc}"

    async def drift_fragments(self, obj: Obj) -> Fragments:
        ns, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
        reference = await self.reference_of(obj)
        live: dict[str, list[float]] | None = None
        note = ""
        if isinstance(reference, Reference):
            try:
                live, note = await self._call(self.live.read, obj, reference)
            except Exception as exc:  # the page still shows the reference and scores
                note = f"could not be read: {exc}"
        jobs = await self.jobs_of(ns, name)
        return drift.fragments(obj, reference, live, note, jobs, self.store.history(ns, name))

    async def jobs_of(self, ns: str, name: str) -> list[Obj]:
        try:
            jobs: list[Obj] = await self._call(
                self.kube.list, "batch/v1", "Job", ns, {MODEL_DEPLOYMENT: name}
            )
        except Exception as exc:
            log.info("jobs of %s/%s: %s", ns, name, exc)
            return []
        return [j for j in jobs if RETRAINING in (j["metadata"].get("labels") or {})]

    def note(self, *kinds: str) -> str:
        return "; ".join(f"{k}: {s.error}" for k in kinds if (s := self.store.kinds[k]).error)

    # ----- pages -------------------------------------------------------------------------

    def view(self, path: str, query: dict[str, list[str]]) -> View | None:
        """The live view of a page path, or None for an unknown page."""
        if path == "/":
            ns = (query.get("namespace") or [""])[0] or None

            async def fleet_fragments() -> Fragments:
                return fleet.fragments(self.store.objects("ModelDeployment"), ns)

            return View(
                fleet_fragments,
                lambda c: c.kind == "ModelDeployment" and (ns is None or c.namespace == ns),
            )
        if m := re.fullmatch(rf"/md/({NAME})/({NAME})(/drift)?", path):
            md_ns, name, is_drift = m.group(1), m.group(2), bool(m.group(3))

            async def md_fragments() -> Fragments | None:
                obj = self.store.get("ModelDeployment", md_ns, name)
                if obj is None:
                    return None
                if is_drift:
                    return await self.drift_fragments(obj)
                events = await self.events_of(md_ns, name)
                history = self.store.history(md_ns, name)
                return deployment.fragments(obj, events, history, time.time())

            return View(
                md_fragments,
                lambda c: c.kind == "ModelDeployment" and (c.namespace, c.name) == (md_ns, name),
            )
        if path == "/promotions":

            async def list_fragments() -> Fragments:
                return promotions.list_fragments(
                    self.store.objects("ModelPromotion"), self._deployments()
                )

            return View(list_fragments, lambda c: True)
        if m := re.fullmatch(rf"/promotion/({NAME})/({NAME})", path):
            mp_ns, mp_name = m.group(1), m.group(2)

            async def promotion_fragments() -> Fragments | None:
                obj = self.store.get("ModelPromotion", mp_ns, mp_name)
                if obj is None:
                    return None
                return promotions.fragments(
                    obj, self.store.objects("ModelPromotion"), self._deployments()
                )

            return View(promotion_fragments, lambda c: True)
        return None

    def _deployments(self) -> dict[str, Obj]:
        return {
            f"{o['metadata']['namespace']}/{o['metadata']['name']}": o
            for o in self.store.objects("ModelDeployment")
        }

    def _not_found(self, what: str) -> web.Response:
        body = f'<p>{e(what)} is not there, or not yours to see. <a href="/">Fleet</a></p>'
        html = page("Not found", "Not found", body + self._note_html(), self.csrf, "missing")
        return web.Response(status=404, text=html, content_type="text/html")

    def _note_html(self) -> str:
        note = self.note("ModelDeployment", "ModelPromotion")
        return f'<p class="note">{e(note)}</p>' if note else ""

    async def fleet_page(self, request: web.Request) -> web.Response:
        await self.store.ready("ModelDeployment")
        ns = request.query.get("namespace") or None
        objs = self.store.objects("ModelDeployment")
        namespaces = sorted({o["metadata"]["namespace"] for o in objs} | ({ns} if ns else set()))
        html = fleet.render(objs, ns, namespaces, self.csrf, self.note("ModelDeployment"))
        return web.Response(text=html, content_type="text/html")

    async def md_page(self, request: web.Request) -> web.Response:
        await self.store.ready("ModelDeployment")
        ns, name = request.match_info["ns"], request.match_info["name"]
        obj = self.store.get("ModelDeployment", ns, name)
        if obj is None:
            return self._not_found(f"ModelDeployment {ns}/{name}")
        events = await self.events_of(ns, name)
        history = self.store.history(ns, name)
        html = deployment.render(obj, events, history, time.time(), self.csrf, HISTORY_NOTE)
        return web.Response(text=html, content_type="text/html")

    async def drift_page(self, request: web.Request) -> web.Response:
        await self.store.ready("ModelDeployment")
        ns, name = request.match_info["ns"], request.match_info["name"]
        obj = self.store.get("ModelDeployment", ns, name)
        if obj is None:
            return self._not_found(f"ModelDeployment {ns}/{name}")
        html = drift.render(obj, await self.drift_fragments(obj), self.csrf)
        return web.Response(text=html, content_type="text/html")

    async def promotions_page(self, request: web.Request) -> web.Response:
        await self.store.ready("ModelPromotion")
        await self.store.ready("ModelDeployment")
        html = promotions.render_list(
            self.store.objects("ModelPromotion"),
            self._deployments(),
            self.csrf,
            self.note("ModelPromotion"),
        )
        return web.Response(text=html, content_type="text/html")

    async def promotion_page(self, request: web.Request) -> web.Response:
        await self.store.ready("ModelPromotion")
        await self.store.ready("ModelDeployment")
        ns, name = request.match_info["ns"], request.match_info["name"]
        obj = self.store.get("ModelPromotion", ns, name)
        if obj is None:
            return self._not_found(f"ModelPromotion {ns}/{name}")
        html = promotions.render(
            obj, self.store.objects("ModelPromotion"), self._deployments(), self.csrf
        )
        return web.Response(text=html, content_type="text/html")

    # ----- live updates ------------------------------------------------------------------

    async def events(self, request: web.Request) -> web.StreamResponse:
        target = urlsplit(request.query.get("page", "/"))
        view = self.view(target.path, parse_qs(target.query))
        if view is None:
            raise web.HTTPNotFound(text="unknown page")
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            }
        )
        await response.prepare(request)
        queue = self.store.subscribe()
        try:
            await response.write(b"retry: 2000\nevent: hello\ndata: {}\n\n")
            while True:
                try:
                    first = await asyncio.wait_for(queue.get(), 15)
                except TimeoutError:
                    await response.write(b": keep-alive\n\n")
                    continue
                if first is None:
                    break
                # Changes come in bursts (a re-list, a fleet's analysis rounds): gather
                # what arrives within COALESCE seconds into one render.
                await asyncio.sleep(COALESCE)
                changes = [first]
                closing = False
                while not queue.empty():
                    more = queue.get_nowait()
                    if more is None:
                        closing = True
                        break
                    changes.append(more)
                if closing:
                    break
                if not any(view.relevant(c) for c in changes):
                    continue
                fragments = await view.fragments()
                if fragments is None:
                    data = json.dumps({"gone": True})
                else:
                    data = json.dumps({"fragments": fragments, "at": time.time()})
                await response.write(f"data: {data}\n\n".encode())
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.store.unsubscribe(queue)
        return response

    # ----- actions -----------------------------------------------------------------------

    async def action(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        checked = actions.validate(body)
        if isinstance(checked, str):
            return web.json_response({"text": f"error: {checked}"}, status=400)
        result = await asyncio.to_thread(actions.perform, self.kube, *checked)
        log.info("action %s: %s %s", checked[:4], result.status, result.text)
        return web.json_response({"text": result.text}, status=result.status)

    async def healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def static(self, request: web.Request) -> web.Response:
        name = request.match_info["file"]
        types = {"app.js": "text/javascript", "app.css": "text/css"}
        if name not in types:
            raise web.HTTPNotFound()
        text = resources.files("modelship.dashboard").joinpath("static", name).read_text()
        return web.Response(
            text=text, content_type=types[name], headers={"Cache-Control": "max-age=3600"}
        )

    # ----- the application ---------------------------------------------------------------

    @web.middleware
    async def guard_middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        why = guard.refusal(request.method, request.headers, self.csrf, self.allowed, self.address)
        if why is not None:
            log.warning("refused %s %s: %s", request.method, request.path, why)
            if request.path.startswith("/api/"):
                return web.json_response({"text": f"Refused: {why}"}, status=403)
            return web.Response(status=403, text=f"Refused: {why}\n")
        response = await handler(request)
        # The page is not to be framed (clickjacking of the buttons) nor to load
        # anything from elsewhere.
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'",
        )
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        return response

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self.guard_middleware])
        ns, name = "{ns:" + NAME + "}", "{name:" + NAME + "}"
        app.router.add_get("/", self.fleet_page)
        app.router.add_get(f"/md/{ns}/{name}", self.md_page)
        app.router.add_get(f"/md/{ns}/{name}/drift", self.drift_page)
        app.router.add_get("/promotions", self.promotions_page)
        app.router.add_get(f"/promotion/{ns}/{name}", self.promotion_page)
        app.router.add_get("/events", self.events)
        app.router.add_post("/api/action", self.action)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/static/{file}", self.static)
        return app


async def serve(kube: Kube, namespace: str | None, address: str, port: int, open_: bool) -> None:
    dashboard = Dashboard(kube, namespace, address)
    dashboard.store.start()
    runner = web.AppRunner(dashboard.app(), shutdown_timeout=1.0, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, address, port)
    await site.start()
    bound = runner.addresses[0][1] if runner.addresses else port
    dashboard.allowed = guard.allowed_hosts(address, int(bound))
    host = "127.0.0.1" if address in ("0.0.0.0", "") else address
    host = f"[{host}]" if ":" in host else host
    url = f"http://{host}:{bound}/"
    print(f"modelship dashboard: serving on {url}", flush=True)
    if open_:
        webbrowser.open(url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    dashboard.store.stop()
    for queue in list(dashboard.store.subscribers):
        queue.put_nowait(None)
    await runner.cleanup()
    print("modelship dashboard: stopped", file=sys.stderr, flush=True)
