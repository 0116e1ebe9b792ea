"""`modelship dashboard` in a real browser: Debian's headless chromium driven by
Playwright against the dashboard process, on the local control plane with real objects
in every state (tests/integration/dashboard_states.py).

What is checked is what a person sees and does: the pages show what `kubectl get`
returns, a click on promote / abort / approve (after its confirmation) changes the object
on the cluster, a change made with kubectl reaches an open page without a reload, and a
user whose credentials may only read sees the API server's refusal. Every page is
screenshotted (full page, 1400x900) into the test's directory and, with
MODELSHIP_SCREENSHOTS=DIR, into DIR as well.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from modelship_testenv.harness import OperatorProcess
from tests.integration.conftest import Kubectl, wait_for
from tests.integration.dashboard_states import (
    CHECKS,
    Dashboard,
    States,
    delete_readonly,
    every_state,
    launch_chromium,
    readonly_kubeconfig,
    set_version,
)
from tests.integration.test_canary import canary_of
from tests.integration.test_promotion import mpromo
from tests.integration.test_real_runtime import trained
from tests.integration.test_serving import md

pytestmark = pytest.mark.cluster
__all__ = ["trained"]  # a fixture used by name

VIEWPORT = {"width": 1400, "height": 900}
TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def states(
    kubectl: Kubectl,
    operator: OperatorProcess,
    trained: Path,
    dashboard: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[States]:
    """Made while the dashboard runs: its charts of rounds and windows begin when it
    starts (status keeps only the last of each)."""
    if not operator.alive():
        operator.start()
    with every_state(kubectl, trained, tmp_path_factory.mktemp("dashboard-states")) as made:
        yield made


@pytest.fixture(scope="module")
def dashboard(kubectl: Kubectl, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    proc = Dashboard(kubectl.kubeconfig, tmp_path_factory.mktemp("dashboard") / "dashboard.log")
    try:
        yield proc.start()
    finally:
        proc.stop()
        print("---- dashboard log tail ----\n" + proc.log_tail())


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        chromium = launch_chromium(p)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield tab
    finally:
        context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("screenshots")


def shoot(page: Page, shots: Path, name: str) -> None:
    path = shots / f"dashboard-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    extra = os.environ.get("MODELSHIP_SCREENSHOTS")
    if extra:
        Path(extra).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(extra) / path.name)


def text(page: Page, selector: str) -> str:
    return page.locator(selector).first.inner_text().strip()


def cell(page: Page, key: str, name: str) -> str:
    return text(page, f'tr[data-md="{key}"] td[data-field={name}]')


# ----- what the pages show ------------------------------------------------------------------


def test_the_fleet_lists_every_state_as_kubectl_has_it(
    kubectl: Kubectl, states: States, dashboard: str, page: Page, shots: Path
) -> None:
    page.goto(dashboard)
    expect(page.locator("table#fleet")).to_be_visible()
    for name, ns in states.models.items():
        expect(page.locator(f'tr[data-md="{ns}/{name}"]')).to_have_count(1)
    # Compare each row with the object as kubectl returns it now; objects under traffic
    # move (analysis rounds, windows), so their rows are read right after their object.
    phases = set()
    for name, ns in states.models.items():
        key = f"{ns}/{name}"
        obj = md(kubectl, ns, name)
        st = obj["status"]
        phases.add(st["phase"])
        row = page.locator(f'tr[data-md="{key}"]')
        expect(row.locator("td[data-field=phase]")).to_have_text(st["phase"])
        expect(row.locator("td[data-field=stable]")).to_have_text(
            st["stableRevision"]["modelVersion"]
        )
        expect(row.locator(f'a[href="/md/{key}"]')).to_have_count(1)
        canary = st.get("canary")
        if canary:
            expect(row.locator("td[data-field=canary]")).to_contain_text(
                canary["revision"]["modelVersion"]
            )
            expect(row.locator("td[data-field=weight]")).to_contain_text(f"{canary['weight']}%")
        else:
            expect(row.locator("td[data-field=canary]")).to_have_text("")
        drift = st.get("drift")
        if drift:
            expect(row.locator("td[data-field=drift]")).to_contain_text(drift["verdict"])
        last = (st.get("retraining") or {}).get("last")
        if last:
            expect(row.locator("td[data-field=retraining]")).to_contain_text(last["name"])
        verdict = (st.get("analysis") or {}).get("verdict")
        if verdict:
            expect(row.locator("td[data-field=verdict]")).to_contain_text(verdict)
    assert phases == {"Healthy", "Progressing", "Paused", "Degraded"}, phases
    drifted = states.key("drifted")
    assert "Drifted" in cell(page, drifted, "drift")
    shoot(page, shots, "fleet")

    # The namespace filter shows that namespace's rows only.
    page.goto(f"{dashboard}?namespace={states.live}")
    expect(page.locator(f'tr[data-md="{states.key("stepping")}"]')).to_have_count(1)
    expect(page.locator(f'tr[data-md="{states.key("paused")}"]')).to_have_count(0)


def test_the_rollout_page_shows_steps_checks_verdicts_and_revisions(
    kubectl: Kubectl, states: States, dashboard: str, page: Page, shots: Path
) -> None:
    ns = states.models["stepping"]
    page.goto(f"{dashboard}md/{ns}/stepping")
    expect(page.locator("#phase")).to_contain_text("Progressing")
    expect(page.locator("#timeline svg").first).to_be_visible()
    st = md(kubectl, ns, "stepping")["status"]
    assert [c["name"] for c in st["analysis"]["checks"]] == [c["name"] for c in CHECKS]
    for check in CHECKS:
        chart = page.locator(f'#checks svg[data-check="{check["name"]}"]')
        expect(chart).to_be_visible()
        # One point per round the dashboard saw: at least the three waited for.
        assert chart.locator("circle[data-round]").count() >= 3
    expect(page.locator("#verdicts")).to_contain_text(st["analysis"]["verdict"])
    for result in st["analysis"]["checks"]:
        row = page.locator(f'#verdicts tr[data-check="{result["name"]}"]')
        expect(row.locator("td[data-field=verdict]")).to_have_text(result["verdict"])
    history = md(kubectl, ns, "stepping")["status"]["history"]
    for entry in history:
        expect(page.locator("#revisions")).to_contain_text(entry["modelVersion"])
    events = {e["reason"] for e in kubectl.json("get", "events", "-n", ns)["items"]}
    assert events, "the operator recorded no Events"
    expect(page.locator("#events")).to_contain_text(next(iter(sorted(events))))
    for action in ("promote", "promote-full", "abort", "pause"):
        expect(page.locator(f"button[data-action={action}]")).to_have_count(1)
    shoot(page, shots, "rollout")

    for name, phase, shot in (("paused", "Paused", "paused"), ("aborted", "Degraded", "aborted")):
        page.goto(f"{dashboard}md/{states.key(name)}")
        expect(page.locator("#phase")).to_contain_text(phase)
        shoot(page, shots, shot)
    # The aborted revision is in the history with its outcome, and its Event is shown.
    history = md(kubectl, states.plain, "aborted")["status"]["history"]
    assert ("2.0.0", "Aborted") in [(h["modelVersion"], h["outcome"]) for h in history], history
    expect(page.locator("#revisions")).to_contain_text("2.0.0")
    expect(page.locator("#revisions")).to_contain_text("Aborted")
    expect(page.locator("#events")).to_contain_text("Aborted")
    expect(page.locator("button[data-action=retry]")).to_have_count(1)


def test_the_drift_page_shows_features_scores_and_the_retraining_job(
    kubectl: Kubectl, states: States, dashboard: str, page: Page, shots: Path
) -> None:
    ns = states.models["drifted"]
    page.goto(f"{dashboard}md/{ns}/drifted/drift")
    st = md(kubectl, ns, "drifted")["status"]
    features = [f["name"] for f in st["drift"]["features"]]
    assert {"amount", "merchant_risk"} <= set(features), features
    for feature in features:
        histogram = page.locator(f'svg[data-feature="{feature}"]')
        expect(histogram).to_be_visible()
        # The reference's bars and the live ones (read through Prometheus) side by side.
        assert histogram.locator("rect.reference").count() >= 2
        expect(histogram.locator("rect.live").first).to_be_attached()
    expect(page.locator("#drift-scores svg").first).to_be_visible()
    expect(page.locator("#retraining-jobs")).to_contain_text(st["retraining"]["last"]["name"])
    expect(page.locator("#retraining-jobs")).to_contain_text("Succeeded")
    shoot(page, shots, "drift")


def test_the_promotion_pages_show_the_pipeline_and_the_waiting_gate(
    kubectl: Kubectl, states: States, dashboard: str, page: Page, shots: Path
) -> None:
    page.goto(f"{dashboard}promotions")
    link = page.locator(f'a[href="/promotion/{states.prod}/{states.promotion}"]')
    expect(link.first).to_be_visible()
    shoot(page, shots, "promotions")
    link.first.click()
    page.wait_for_url(f"**/promotion/{states.prod}/{states.promotion}")
    pipeline = page.locator("#pipeline")
    expect(pipeline.locator(f'[data-env="{states.plain}"]')).to_contain_text("1.4.0")
    expect(pipeline.locator(f'[data-env="{states.prod}"]')).to_contain_text("1.3.0")
    obj = mpromo(kubectl, states.prod, states.promotion)
    assert obj["status"]["phase"] == "WaitingForApproval"
    expect(page.locator("#gates")).to_contain_text("approval")
    expect(page.locator("#approvals")).to_be_visible()
    expect(page.locator("button[data-action=approve]")).to_have_count(1)
    expect(page.locator("button[data-action=reject]")).to_have_count(1)
    shoot(page, shots, "promotion")


# ----- a user without rights ----------------------------------------------------------------


def test_a_user_who_may_only_read_sees_the_refusal(
    kubectl: Kubectl, states: States, page: Page, tmp_path: Path
) -> None:
    viewer = readonly_kubeconfig(kubectl, states.prod, tmp_path / "viewer.kubeconfig")
    proc = Dashboard(viewer, tmp_path / "viewer-dashboard.log")
    ns = states.models["paused"]
    before = md(kubectl, ns, "paused")
    try:
        url = proc.start()
        page.goto(f"{url}md/{ns}/paused")
        expect(page.locator("#phase")).to_contain_text("Paused")
        page.locator("button[data-action=promote]").click()
        expect(page.locator("dialog#confirm")).to_be_visible()
        page.locator("#confirm-yes").click()
        expect(page.locator("#action-result")).to_contain_text("Forbidden")
    finally:
        proc.stop()
        delete_readonly(kubectl, states.prod)
    after = md(kubectl, ns, "paused")
    # The refusal came from the API server: nothing was written.
    assert after["metadata"].get("annotations") == before["metadata"].get("annotations")
    assert after["spec"] == before["spec"]
    assert canary_of(kubectl, ns, "paused")["step"] == 1


# ----- actions change the object ------------------------------------------------------------


def confirm(page: Page, action: str) -> str:
    page.locator(f"button[data-action={action}]").click()
    dialog = page.locator("dialog#confirm")
    expect(dialog).to_be_visible()
    page.locator("#confirm-yes").click()
    result = page.locator("#action-result")
    expect(result).not_to_be_empty()
    expect(result).not_to_contain_text("sending...")
    shown = result.inner_text()
    assert not shown.startswith(("Forbidden", "Error")), shown
    return shown


def test_promote_after_confirmation_moves_the_canary_to_its_next_step(
    kubectl: Kubectl, states: States, dashboard: str, page: Page
) -> None:
    ns = states.models["paused"]
    page.goto(f"{dashboard}md/{ns}/paused")
    expect(page.locator("#phase")).to_contain_text("Paused")
    # "No" changes nothing: the dialog closes, no result.
    page.locator("button[data-action=promote]").click()
    expect(page.locator("dialog#confirm")).to_be_visible()
    page.locator("#confirm-no").click()
    expect(page.locator("dialog#confirm")).to_be_hidden()
    expect(page.locator("#action-result")).to_be_empty()
    assert canary_of(kubectl, ns, "paused")["step"] == 1

    confirm(page, "promote")

    def next_pause() -> dict[str, Any] | None:
        c = canary_of(kubectl, ns, "paused")
        return c if c.get("step") == 3 and c.get("phase") == "Paused" else None

    c = wait_for("the canary at its next pause after promote", next_pause)
    assert c["weight"] == 60
    # The page follows by itself.
    expect(page.locator("#phase")).to_contain_text("Paused")


def test_abort_after_confirmation_rolls_the_canary_back(
    kubectl: Kubectl, states: States, dashboard: str, page: Page
) -> None:
    ns = states.models["hold"]
    page.goto(f"{dashboard}md/{ns}/hold")
    confirm(page, "abort")

    def aborted() -> dict[str, Any] | None:
        obj = md(kubectl, ns, "hold")
        c = obj["status"].get("canary") or {}
        return obj if c.get("phase") == "Aborted" else None

    obj = wait_for("the canary aborted from the dashboard", aborted)
    assert obj["status"]["phase"] == "Degraded"
    assert obj["status"]["stableRevision"]["modelVersion"] == "1.0.0"
    expect(page.locator("#phase")).to_contain_text("Degraded")


def test_approve_after_confirmation_lets_the_promotion_go_on(
    kubectl: Kubectl, states: States, dashboard: str, page: Page, shots: Path
) -> None:
    page.goto(f"{dashboard}promotion/{states.prod}/{states.promotion}")
    confirm(page, "approve")

    def approved() -> dict[str, Any] | None:
        obj = mpromo(kubectl, states.prod, states.promotion)
        status = obj.get("status", {})
        done = status.get("phase") in ("Promoting", "Succeeded")
        return obj if done and status.get("evidence", {}).get("approvals") else None

    obj = wait_for("the promotion approved from the dashboard", approved)
    approvals = obj["status"]["evidence"]["approvals"]
    assert len(approvals) == 1 and approvals[0]["user"], approvals
    expect(page.locator("#approvals")).to_contain_text(approvals[0]["user"])
    shoot(page, shots, "promotion-approved")


def test_a_change_made_with_kubectl_reaches_the_open_page_without_a_reload(
    kubectl: Kubectl, states: States, dashboard: str, page: Page
) -> None:
    ns = states.models["quiet"]
    key = f"{ns}/quiet"
    page.goto(f"{dashboard}?namespace={ns}")
    stable = page.locator(f'tr[data-md="{key}"] td[data-field=stable]')
    expect(stable).to_have_text("1.0.0")
    page.evaluate("window.__marker = 1")
    set_version(kubectl, ns, "quiet", "2.0.0")
    # No steps: the new version goes through and becomes the stable one.
    expect(stable).to_have_text("2.0.0", timeout=90_000)
    assert md(kubectl, ns, "quiet")["status"]["stableRevision"]["modelVersion"] == "2.0.0"
    assert page.evaluate("window.__marker") == 1, "the page was reloaded"
    # The ModelDeployment's own page follows a kubectl change the same way.
    page.goto(f"{dashboard}md/{ns}/quiet")
    expect(page.locator("#phase")).to_contain_text("Healthy")
    page.evaluate("window.__marker = 2")
    patch = json.dumps({"spec": {"model": {"version": "3.0.0", "uri": "s3://models/fraud/3.0.0/"}}})
    kubectl.run("patch", "md", "quiet", "-n", ns, "--type", "merge", "-p", patch)
    expect(page.locator("#revisions")).to_contain_text("3.0.0", timeout=90_000)
    assert page.evaluate("window.__marker") == 2, "the page was reloaded"


def test_healthz(dashboard: str, page: Page) -> None:
    response = page.request.get(f"{dashboard}healthz")
    assert response.status == 200
