"""`modelship dashboard` as a real process against the real control plane, over HTTP.

The pages show what the cluster holds, an action changes the object (and the change
arrives on the live-update stream), and a POST without the CSRF token, from a foreign
Origin or to a foreign Host is refused; a user without the right to patch gets the API
server's 403 as "Forbidden: ...". The browser tests (test_dashboard_browser.py) drive the
same server through Chromium.
"""

from __future__ import annotations

import queue
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelship_testenv.dashboard import DashboardProcess
from modelship_testenv.harness import OperatorProcess
from tests.integration.conftest import Kubectl, wait_for
from tests.integration.manifests import dump, model_deployment
from tests.integration.test_promotion import user_kubeconfig
from tests.integration.test_serving import md

pytestmark = pytest.mark.cluster

SERVING_LINE = "modelship dashboard: serving on {}"


class Dashboard:
    """The dashboard for one namespace, with an HTTP client on its URL."""

    def __init__(self, kubeconfig: Path, namespace: str, log: Path) -> None:
        self.process = DashboardProcess(kubeconfig, log, "-n", namespace, "-v")
        self.url = self.process.start(timeout=30)
        self.port = self.process.port
        # The serving line is the first and only thing it prints on stdout.
        assert self.process.lines == [SERVING_LINE.format(self.url)], self.process.lines
        self.client = httpx.Client(base_url=self.url, timeout=20)

    def stop(self) -> None:
        self.process.stop()

    def csrf(self, path: str) -> str:
        page = self.client.get(path)
        assert page.status_code == 200, page.text
        m = re.search(r'<meta name="modelship-csrf" content="([^"]+)">', page.text)
        assert m, "no CSRF token in the page"
        return m.group(1)

    def post(self, body: dict[str, Any], headers: dict[str, str]) -> httpx.Response:
        return self.client.post("/api/action", json=body, headers=headers)


@pytest.fixture
def canary_paused(kubectl: Kubectl, running_operator: OperatorProcess, namespace: str) -> str:
    """A ModelDeployment whose canary 1.1.0 waits at an indefinite pause (step 1)."""
    obj = model_deployment("dash", rollout={"steps": [{"setWeight": 20}, {"pause": {}}]})
    assert kubectl.apply(dump(obj), namespace).returncode == 0
    kubectl.run("wait", "--for=condition=Ready", "md/dash", "-n", namespace, "--timeout=90s")
    kubectl.run(
        "patch", "md", "dash", "-n", namespace, "--type", "merge", "-p",
        '{"spec":{"model":{"version":"1.1.0","uri":"s3://models/fraud/1.1.0/"}}}',
    )  # fmt: skip

    def paused() -> bool:
        c = md(kubectl, namespace, "dash").get("status", {}).get("canary") or {}
        return c.get("phase") == "Paused" and c.get("step") == 1

    wait_for("canary paused at step 1", paused, 60)
    return "dash"


@pytest.fixture
def dashboard(kubectl: Kubectl, namespace: str, tmp_path: Path) -> Iterator[Dashboard]:
    d = Dashboard(kubectl.kubeconfig, namespace, tmp_path / "dashboard.log")
    try:
        yield d
    finally:
        d.stop()
        print("---- dashboard log ----\n" + (tmp_path / "dashboard.log").read_text()[-3000:])


def test_pages_action_live_update_and_refusals(
    kubectl: Kubectl, namespace: str, canary_paused: str, dashboard: Dashboard, tmp_path: Path
) -> None:
    name, d = canary_paused, dashboard
    assert d.client.get("/healthz").text == "ok"

    fleet = d.client.get("/").text
    found = re.search(rf'<tr data-md="{namespace}/{name}">(.*?)</tr>', fleet, re.S)
    assert found, fleet
    row, canary = found.group(1), md(kubectl, namespace, name)["status"]["canary"]
    assert re.search(r'data-field="phase"><span[^>]*>Paused<', row), row
    assert '<td data-field="stable">1.0.0</td>' in row, row
    assert '<td data-field="canary">1.1.0</td>' in row, row
    assert f'<td data-field="weight">set {canary["weight"]}% / actual ' in row, row
    assert f'href="/md/{namespace}/{name}"' in row, row

    selector = f"involvedObject.kind=ModelDeployment,involvedObject.name={name}"
    events = kubectl.json("get", "events", "-n", namespace, "--field-selector", selector)
    page = d.client.get(f"/md/{namespace}/{name}").text
    assert re.search(r'id="phase">Paused<', page)
    assert '<div id="timeline"><svg' in page and 'data-action="promote"' in page
    shown = re.search(r'<ul id="events">(.*?)</ul>', page, re.S)
    assert shown and events["items"], page
    for event in events["items"]:
        assert f"<b>{event['reason']}</b>" in shown.group(1), (event, shown.group(1))
    assert d.client.get(f"/md/{namespace}/nope").status_code == 404

    # Live updates: a stream of this page's fragments, read in a thread.
    updates: queue.Queue[str] = queue.Queue()

    def listen() -> None:
        stream = httpx.Client(base_url=d.url, timeout=httpx.Timeout(20, read=None))
        with stream.stream("GET", "/events", params={"page": f"/md/{namespace}/{name}"}) as r:
            for line in r.iter_lines():
                updates.put(line)

    threading.Thread(target=listen, daemon=True).start()

    def hello() -> bool:
        try:
            return updates.get(timeout=5) == "event: hello"
        except queue.Empty:
            return False

    wait_for("the stream's hello", hello, 20)

    token = d.csrf(f"/md/{namespace}/{name}")
    body = {"kind": "ModelDeployment", "namespace": namespace, "name": name, "action": "promote"}
    own = {"X-Modelship-CSRF": token, "Origin": d.url.rstrip("/")}
    refused = [
        d.post(body, {"Origin": own["Origin"]}),  # no token
        d.post(body, {"X-Modelship-CSRF": "wrong", "Origin": own["Origin"]}),
        d.post(body, {**own, "Origin": "http://evil.example"}),
        d.post(body, {**own, "Sec-Fetch-Site": "cross-site"}),
        d.post(body, {**own, "Host": f"rebind.example:{d.port}"}),
    ]
    assert [r.status_code for r in refused] == [403] * 5, [r.text for r in refused]
    annotations = md(kubectl, namespace, name)["metadata"].get("annotations") or {}
    assert "modelship.io/promote" not in annotations
    assert d.client.get("/", headers={"Host": "rebind.example"}).status_code == 403

    done = d.post(body, own)
    assert done.status_code == 200, done.text
    assert done.json()["text"] == f"{name}: promote requested"
    assert "modelship.io/promote" in md(kubectl, namespace, name)["metadata"]["annotations"]

    def promoted() -> bool:
        st = md(kubectl, namespace, name).get("status", {})
        return not st.get("canary") and st["stableRevision"]["modelVersion"] == "1.1.0"

    wait_for("1.1.0 promoted", promoted, 60)

    def healthy_pushed() -> bool:
        try:
            line = updates.get(timeout=5)
        except queue.Empty:
            return False
        return line.startswith("data: ") and '"phase": "Healthy"' in line

    wait_for("Healthy on the live stream", healthy_pushed, 60)
    again = d.post(body, own)  # nothing to promote now: ctl.py's own check and words
    assert again.status_code == 409 and "no canary to promote" in again.json()["text"]

    # A user who may read but not patch: the API server's 403, shown as such.
    kubectl.run("create", "serviceaccount", "viewer", "-n", namespace)
    kubectl.run(
        "create", "role", "md-viewer", "-n", namespace, "--verb=get,list,watch",
        "--resource=modeldeployments.modelship.io,events",
    )  # fmt: skip
    kubectl.run(
        "create", "rolebinding", "md-viewer", "-n", namespace, "--role=md-viewer",
        f"--serviceaccount={namespace}:viewer",
    )  # fmt: skip
    config = user_kubeconfig(kubectl, namespace, "viewer", tmp_path / "viewer.kubeconfig")
    viewer = Dashboard(config, namespace, tmp_path / "viewer.log")
    try:
        wait_for(
            "the viewer's fleet",
            lambda: f'data-md="{namespace}/{name}"' in viewer.client.get("/").text,
            30,
        )
        token = viewer.csrf(f"/md/{namespace}/{name}")
        abort = {**body, "action": "undo"}
        started = time.monotonic()
        refused_by_rbac = viewer.post(abort, {"X-Modelship-CSRF": token})
        assert time.monotonic() - started < 10
        assert refused_by_rbac.status_code == 403, refused_by_rbac.text
        text = refused_by_rbac.json()["text"]
        assert text.startswith("Forbidden: ") and "cannot patch" in text, text
    finally:
        viewer.stop()
