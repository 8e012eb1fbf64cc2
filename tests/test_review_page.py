"""The review page in a real headless Chromium (Debian's chromium, driven by Playwright): a reviewer clears the
queue with the keyboard (pick, undo, skip) and the run resumes."""

from __future__ import annotations

import json
import re

import httpx

from tests.service_helpers import BROWSER_ARGS, serving, wait_for


def test_a_reviewer_clears_the_queue_and_the_run_resumes(make_project, gold, tmp_path, chromium):
    from playwright.sync_api import expect, sync_playwright

    project = make_project(budget=20)
    with serving(tmp_path / "runs", token="page-token") as url, sync_playwright() as playwright:
        client = httpx.Client(base_url=url, timeout=60, headers={"Authorization": "Bearer page-token"})
        name = client.post("/runs", json={"project": str(project)}).json()["name"]
        status = wait_for(client, name, {"paused"})
        keys = {label: str(n + 1) for n, label in enumerate(status["label_names"])}
        browser = playwright.chromium.launch(executable_path=chromium, args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1000, "height": 800})
        page.goto(f"{url}/?run={name}#token=page-token")
        answered = []
        for step in range(10):
            item = page.wait_for_selector("#item")
            item_id = item.get_attribute("data-id")
            assert item_id not in answered
            if step == 0:
                page.screenshot(path=str(tmp_path / "review.png"))
                assert page.inner_text("#item").startswith(client.get(f"/runs/{name}/reviews").json()[0]["text"][:20])
            if step == 3:  # a wrong key, then undo, then the right one
                wrong = keys[next(label for label in keys if label != gold[item_id])]
                page.keyboard.press(wrong)
                expect(page.locator("#progress")).to_have_text(re.compile(rf"^{step + 1}/"))
                page.keyboard.press("u")
                page.wait_for_selector(f"#item[data-id='{item_id}']")
            if step == 5:
                page.keyboard.press("s")
            else:
                page.keyboard.press(keys[gold[item_id]])
            answered.append(item_id)
            expect(page.locator("#progress")).to_have_text(re.compile(rf"^{step + 1}/"))
        page.wait_for_selector("#empty")
        browser.close()
        status = wait_for(client, name, {"paused", "done"})
        rows = [json.loads(line) for line in client.get(f"/runs/{name}/export").text.splitlines()]
        labels = {row["id"]: row for row in rows}
    assert status["round"] == 2 and status["human_labels"] == 9  # one set aside with "s"
    assert answered[5] not in labels
    assert all(labels[i]["label"] == gold[i] and labels[i]["source"] == "human" for i in answered if i != answered[5])
