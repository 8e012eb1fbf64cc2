"""The run list and the review page's Continue button and learning curve in a real headless Chromium: the list shows
each run's phase and pending count and links to its review page; an interrupted run, or one answered elsewhere,
continues from the page; answering a round draws the learning curve."""

from __future__ import annotations

import re

import httpx

from labelgraph.session.run import Run
from tests.service_helpers import BROWSER_ARGS, serving, wait_for
from tests.test_service import interrupted_run


def test_the_run_list_opens_runs_and_an_interrupted_run_continues_from_the_page(make_project, gold, tmp_path, chromium):
    from playwright.sync_api import expect, sync_playwright

    runs = tmp_path / "runs"
    interrupted_run(make_project(name="stopped", run_dir=str(runs / "stopped"))).close()  # Ctrl-C mid-round
    auth = {"Authorization": "Bearer list-token"}
    with serving(runs, token="list-token") as url, sync_playwright() as playwright:
        client = httpx.Client(base_url=url, timeout=60, headers=auth)
        client.post("/runs", json={"project": str(make_project(name="waiting"))}).raise_for_status()
        status = wait_for(client, "waiting", {"paused"})
        keys = {label: str(n + 1) for n, label in enumerate(status["label_names"])}
        browser = playwright.chromium.launch(executable_path=chromium, args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 800})
        page.goto(f"{url}/#token=list-token")

        rows = page.locator("#runs tr")
        expect(rows).to_have_count(2)
        expect(rows.first).to_have_attribute("data-run", "waiting")  # waits for answers: on top
        expect(page.locator("tr[data-run='waiting'] .phase")).to_have_text("paused")
        expect(page.locator("tr[data-run='waiting'] .pending")).to_have_text("10")
        expect(page.locator("tr[data-run='waiting'] .human")).to_have_text("0/30")
        expect(page.locator("tr[data-run='stopped'] .phase")).to_have_text("interrupted")
        expect(page.locator("tr[data-run='stopped'] .pending")).to_have_text("0")
        page.screenshot(path=str(tmp_path / "runs.png"))

        page.click("tr[data-run='waiting'] a")  # the link opens the review page, token and all
        expect(page).to_have_url(re.compile(r"/review/waiting#token=list-token$"))
        expect(page.locator("#item")).to_be_visible()
        expect(page.locator("#continue")).to_have_count(0)  # items wait: nothing to continue
        page.click("#home")
        page.click("tr[data-run='stopped'] a")
        expect(page.locator("#continue")).to_be_visible()
        assert "labelgraph resume" in page.inner_text("#stopped")
        page.click("#continue")
        expect(page.locator("#item")).to_be_visible(timeout=120_000)  # the round's items, once it pauses for them
        assert client.get("/runs/stopped").json()["phase"] == "paused"

        # answers given elsewhere (a file, the terminal) leave the run paused with every item answered: Continue
        elsewhere = Run.open(runs / "stopped")
        elsewhere.answer({item.id: gold[item.id] for item in elsewhere.pending_reviews()}, reviewer="file")
        elsewhere.close()
        page.reload()
        expect(page.locator("#stopped-text")).to_contain_text("Every item of this round is answered")
        page.click("#continue")
        expect(page.locator("#item")).to_be_visible(timeout=120_000)
        assert client.get("/runs/stopped").json()["round"] == 2

        # answering a round on the page draws the learning curve as the next round pauses
        page.goto(f"{url}/review/waiting#token=list-token")
        for step in range(10):
            item_id = page.wait_for_selector("#item").get_attribute("data-id")
            page.keyboard.press(keys[gold[item_id]])
            expect(page.locator("#progress")).to_have_text(re.compile(rf"^{step + 1}/"))
        expect(page.locator("#curve-chart circle.f1")).to_have_count(1, timeout=120_000)
        expect(page.locator("#curve-chart circle.coverage")).to_have_count(1)
        expect(page.locator("#item")).to_be_visible(timeout=120_000)
        page.screenshot(path=str(tmp_path / "curve.png"))
        browser.close()
        history = client.get("/runs/waiting/metrics").json()
    assert [entry["round"] for entry in history] == [1] and history[0]["macro_f1"] is not None


def test_the_api_docs_render_with_no_internet(tmp_path, chromium):
    """/docs in Chromium with every request off this server refused: Swagger UI draws the API's routes, read with
    the token from the page's address (it loaded Swagger UI from a CDN: a blank page offline)."""
    from playwright.sync_api import expect, sync_playwright

    with serving(tmp_path / "runs", token="docs-token") as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=BROWSER_ARGS)
        page = browser.new_page()
        outside: list[str] = []

        def only_here(route) -> None:
            if route.request.url.startswith(url):
                route.continue_()
            else:
                outside.append(route.request.url)
                route.abort()

        page.route("**/*", only_here)
        page.goto(f"{url}/docs#token=docs-token")
        route = page.locator(".opblock-summary-path", has_text="/runs/{name}/answers").first
        expect(route).to_be_visible(timeout=30000)
        page.screenshot(path=str(tmp_path / "docs.png"))
        page.goto(f"{url}/docs")  # no token: the page says what it needs
        expect(page.locator("#message")).to_have_text("This server needs its token: open /docs#token=TOKEN")
        browser.close()
    assert outside == []
