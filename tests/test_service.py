"""The HTTP API against a real uvicorn server on 127.0.0.1: tokens, runs, answers (first wins, 409 after),
exactly-once commits under 50 concurrent submissions, export and server-sent events."""

from __future__ import annotations

import json
import re
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from labelgraph.service.serve import is_loopback
from labelgraph.session.run import Project, Run
from tests.conftest import invoke_cli
from tests.service_helpers import serving, wait_for


def test_token_is_required_and_checked(tmp_path):
    with serving(tmp_path / "runs", token="s3cret") as url:
        assert httpx.get(f"{url}/runs").status_code == 401
        assert httpx.get(f"{url}/runs", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert httpx.get(f"{url}/runs", headers={"Authorization": "Bearer s3cret"}).json() == []
        assert httpx.get(f"{url}/").status_code == 200  # the page itself; its data calls carry the token


def test_binding_elsewhere_needs_a_token(monkeypatch):
    monkeypatch.delenv("LABELGRAPH_TOKEN", raising=False)
    result = invoke_cli("serve", "--host", "0.0.0.0", "--port", "9")
    assert result.exit_code == 2 and "refusing to bind 0.0.0.0 without a token" in result.stderr
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.0.0.1")


def test_review_over_http_then_resume(make_project, gold, tmp_path):
    project = make_project(budget=20)
    with serving(tmp_path / "runs") as url, httpx.Client(base_url=url, timeout=60) as client:
        created = client.post("/runs", json={"project": str(project)})
        assert created.status_code == 201, created.text
        name = created.json()["name"]
        status = wait_for(client, name, {"paused"})
        items = client.get(f"/runs/{name}/reviews").json()
        assert len(items) == 10 and items[0]["reasons"] and items[0]["candidates"]

        first = items[0]["id"]
        ok = client.post(f"/runs/{name}/answers", json={"answers": [{"id": first, "label": gold[first]}]})
        assert ok.status_code == 200 and ok.json() == {"recorded": 1, "pending": 9, "resuming": False}
        again = client.post(f"/runs/{name}/answers", json={"answers": [{"id": first, "label": "positive"}]})
        assert again.status_code == 409 and "already answered" in again.json()["detail"]
        bad = client.post(f"/runs/{name}/answers", json={"answers": [{"id": items[1]["id"], "label": "meh"}]})
        assert bad.status_code == 422 and "unknown label" in bad.json()["detail"]
        ghost = client.post(f"/runs/{name}/answers", json={"answers": [{"id": "ghost", "label": "positive"}]})
        assert ghost.status_code == 422 and "not pending" in ghost.json()["detail"]
        assert client.delete(f"/runs/{name}/answers/{first}").status_code == 200  # undo, then answer again

        rest = [{"id": i["id"], "label": gold[i["id"]]} for i in items]
        done = client.post(f"/runs/{name}/answers", json={"answers": rest})
        assert done.json()["resuming"] is True
        now = client.get(f"/runs/{name}").json()
        assert now["phase"] == "running" or not now["busy"], now  # never "paused" or "done" while it works
        status = wait_for(client, name, {"paused", "done"})
        assert status["human_labels"] == 10 and status["round"] == 2
        late = client.post(f"/runs/{name}/answers", json={"answers": [{"id": first, "label": "negative"}]})
        assert late.status_code == 409 and "already committed" in late.json()["detail"]
        changed = client.post("/runs", json={"project": str(make_project(budget=20, random_seed=7))})
        assert changed.status_code == 409 and "started with other" in changed.json()["detail"]
        assert "random_seed" in changed.json()["detail"]

        exported = client.get(f"/runs/{name}/export").text.splitlines()
        counts = status["counts"]
        assert len(exported) == sum(counts[k] for k in ("seed", "human", "accepted", "proposed"))
        assert {json.loads(row)["status"] for row in exported} <= {"seed", "human", "accepted", "proposed"}
        assert client.get(f"/runs/{name}/metrics").json()[0]["round"] == 1
        with client.stream("GET", f"/runs/{name}/events") as events:
            line = next(line for line in events.iter_lines() if line.startswith("data: "))
        assert json.loads(line[6:])["name"] == name
        assert client.get("/runs/nope").status_code == 404
        assert client.get("/runs/nope/events").status_code == 404  # before any stream starts


def test_fifty_concurrent_submissions_commit_exactly_once(make_project, gold, tmp_path):
    project = make_project(budget=20, batch_size=20)
    with serving(tmp_path / "runs") as url, httpx.Client(base_url=url, timeout=60) as client:
        name = client.post("/runs", json={"project": str(project)}).json()["name"]
        wait_for(client, name, {"paused"})
        items = [i["id"] for i in client.get(f"/runs/{name}/reviews").json()]
        assert len(items) == 20
        # 50 submissions: every item answered by two or three reviewers at once, with different labels
        jobs = [(items[n % 20], ["positive", "negative"][n % 2]) for n in range(50)]

        def submit(job):
            item_id, label = job
            with httpx.Client(base_url=url, timeout=60) as own:
                return (
                    item_id,
                    label,
                    own.post(f"/runs/{name}/answers", json={"answers": [{"id": item_id, "label": label}]}),
                )

        with ThreadPoolExecutor(50) as pool:
            results = list(pool.map(submit, jobs))
        codes = [r.status_code for _, _, r in results]
        assert codes.count(200) == 20 and codes.count(409) == 30, codes
        winners = {item_id: label for item_id, label, r in results if r.status_code == 200}
        status = wait_for(client, name, {"done"})
        labels = [json.loads(line) for line in client.get(f"/runs/{name}/export").text.splitlines()]
        human = {row["id"]: row["label"] for row in labels if row["source"] == "human"}
        assert human == winners  # each item once, with the first answer that landed
        assert status["human_labels"] == 20


def test_status_is_computed_once_per_checkpoint_and_answers_show_at_once(make_project, gold, tmp_path, monkeypatch):
    from labelgraph.service.runs import RunRegistry
    from labelgraph.session.run import Run

    computed = []
    real_status = Run.status
    monkeypatch.setattr(Run, "status", lambda run: computed.append(1) or real_status(run))
    registry = RunRegistry(tmp_path / "runs", [tmp_path])
    try:
        name = registry.create(str(make_project(budget=20))).config.name
        registry.step(name)
        registry.wait(name, timeout=300)
        computed.clear()
        first = registry.status(name)
        assert first.phase == "paused" and len(first.pending) == 10
        assert all(registry.status(name) is first for _ in range(20)) and len(computed) == 1  # one per checkpoint
        item = first.pending[0]
        registry.get(name).answer({item: gold[item]})
        after = registry.status(name)  # an answer changes no checkpoint, but shows at once
        assert after.answered == [item] and item not in after.pending and len(computed) == 1
        registry.get(name).answer({i: gold[i] for i in after.pending})
        registry.step(name)
        registry.wait(name, timeout=300)
        computed.clear()  # the step computed its own status at its end
        moved = registry.status(name)  # a new checkpoint: computed again, once
        assert moved.round == 2 and moved.human_labels == 10 and registry.status(name) is moved
        assert len(computed) == 1
    finally:
        registry.close()


def interrupted_run(project: Path) -> Run:
    """A run stopped by Ctrl-C after its first node, as ``labelgraph run`` leaves it: phase "interrupted"."""
    run = Project.from_yaml(project).start()

    def stop_after_select(node: str, update: dict) -> None:
        if node == "select":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run.step(stop_after_select)
    return run


def test_the_run_list_tells_each_runs_phase_and_needs_first(make_project, tmp_path):
    runs = tmp_path / "runs"
    interrupted_run(make_project(name="stopped", run_dir=str(runs / "stopped"))).close()
    (runs / "broken").mkdir()
    (runs / "broken" / "run.json").write_text("{")
    with serving(runs) as url, httpx.Client(base_url=url, timeout=60) as client:
        client.post("/runs", json={"project": str(make_project(name="waiting"))}).raise_for_status()
        wait_for(client, "waiting", {"paused"})
        listed = client.get("/runs").json()
        page = client.get("/")
        review = client.get("/review/waiting")
        moved = client.get("/?run=waiting", follow_redirects=False)
    assert [run["name"] for run in listed] == ["waiting", "stopped", "broken"]  # answers, Continue, unreadable
    waiting, stopped, broken = listed
    assert waiting["phase"] == "paused" and waiting["pending"] == 10 and waiting["answered"] == 0
    assert waiting["round"] == 1 and waiting["human_labels"] == 0 and waiting["budget"] == 30
    assert waiting["coverage"] == 0.0 and waiting["error"] is None  # seeds: not the pool
    changed = datetime.fromisoformat(waiting["updated"])  # ISO 8601 in UTC, not seconds since the epoch
    assert changed.utcoffset() == timedelta(0) and abs(datetime.now(UTC) - changed) < timedelta(minutes=10)
    assert {"accuracy", "accuracy_lower", "stop_reason", "busy"} <= set(waiting)
    assert stopped["phase"] == "interrupted" and stopped["pending"] == 0 and not stopped["busy"]
    assert broken["phase"] is None and "run.json" in broken["error"]
    assert page.status_code == 200 and "labelgraph runs" in page.text
    assert review.status_code == 200 and "labelgraph review" in review.text
    for answer in (page, review):  # the shared script is inside the page's one script, which the policy allows
        scripts = re.findall(r"<script>(.*?)</script>", answer.text, re.DOTALL)
        assert len(scripts) == 1 and "function api(" in scripts[0] and "/* common.js */" not in scripts[0]
        assert "script-src 'sha256-" in answer.headers["content-security-policy"]
    assert moved.status_code == 307 and moved.headers["location"] == "/review/waiting"  # the old address


def test_answers_wait_for_the_rest_of_the_batch_and_stay_undoable(make_project, gold, tmp_path):
    """A step asked for with 4 answers of 10 takes none (it used to hand the 4 to the graph, where no undo or
    correction reached them): they stay answered, undoable; the last answer lets the batch go, whole."""
    project = make_project(budget=20)
    with serving(tmp_path / "runs") as url, httpx.Client(base_url=url, timeout=60) as client:
        name = client.post("/runs", json={"project": str(project)}).json()["name"]
        wait_for(client, name, {"paused"})
        items = [item["id"] for item in client.get(f"/runs/{name}/reviews").json()]
        first = [{"id": i, "label": gold[i]} for i in items[:4]]
        assert client.post(f"/runs/{name}/answers", json={"answers": first}).json()["pending"] == 6
        assert client.post(f"/runs/{name}/step").status_code == 202
        status = wait_for(client, name, {"paused"})
        assert status["answered"] == items[:4] and status["pending"] == items[4:] and status["round"] == 1
        assert client.delete(f"/runs/{name}/answers/{items[0]}").status_code == 200  # still theirs to change
        rest = [{"id": i, "label": gold[i]} for i in items[:1] + items[4:]]
        assert client.post(f"/runs/{name}/answers", json={"answers": rest}).json()["resuming"] is True
        status = wait_for(client, name, {"paused", "done"})
    assert status["round"] == 2 and status["human_labels"] == 10


def test_rounds_answered_but_not_committed_go_on_when_the_service_starts(make_project, gold, tmp_path):
    """A service stopped between a round's last answer and its commit left the round paused with every answer in
    the inbox (or a run stopped after the graph took them): on start the service goes on with both; a run stopped
    with no answer to commit is left as it is."""
    runs = tmp_path / "runs"
    answered = Project.from_yaml(make_project(name="answered", run_dir=str(runs / "answered"))).start()
    answered.step()
    answered.answer({item.id: gold[item.id] for item in answered.pending_reviews()})
    answered.close()
    taken = Project.from_yaml(make_project(name="taken", run_dir=str(runs / "taken"))).start()
    taken.step()
    taken.answer({item.id: gold[item.id] for item in taken.pending_reviews()})

    def stop_after_review(node: str, update: dict) -> None:
        if node == "human_review":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        taken.step(stop_after_review)
    assert taken.phase == "interrupted" and taken.answers_to_commit()
    taken.close()
    said = invoke_cli("status", runs / "taken").stdout
    assert (
        f"round 1 stopped after taking its answers, before committing them: labelgraph resume {runs / 'taken'} "
        "commits them" in said
    )
    said = invoke_cli("status", runs / "answered").stdout
    assert f"every item of round 1 is answered: labelgraph resume {runs / 'answered'} commits them" in said
    interrupted_run(make_project(name="stopped", run_dir=str(runs / "stopped"))).close()
    with serving(runs) as url, httpx.Client(base_url=url, timeout=60) as client:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            statuses = {name: client.get(f"/runs/{name}").json() for name in ("answered", "taken", "stopped")}
            if all(statuses[name]["round"] == 2 and not statuses[name]["busy"] for name in ("answered", "taken")):
                break
            time.sleep(0.5)
    for name in ("answered", "taken"):
        assert statuses[name]["round"] == 2 and statuses[name]["human_labels"] == 10, statuses[name]
    assert statuses["stopped"]["phase"] == "interrupted" and statuses["stopped"]["round"] == 1


def test_the_api_docs_need_no_internet_and_their_description_needs_the_token(tmp_path):
    """/docs loads Swagger UI from this server (it loaded it from a CDN: blank offline); the page holds no data
    and reads /openapi.json with the token from its address, which /openapi.json requires."""
    with serving(tmp_path / "runs", token="s3cret") as url:
        page = httpx.get(f"{url}/docs")
        assert page.status_code == 200
        linked = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert linked and all(link.startswith("/docs/assets/") for link in linked), linked
        assert "http" not in page.headers["content-security-policy"]
        for link in linked:
            asset = httpx.get(f"{url}{link}")
            assert asset.status_code == 200 and len(asset.content) > 1000, link
        assert "SwaggerUIBundle" in httpx.get(f"{url}/docs/assets/swagger-ui-bundle.js").text
        assert httpx.get(f"{url}/openapi.json").status_code == 401
        spec = httpx.get(f"{url}/openapi.json", headers={"Authorization": "Bearer s3cret"}).json()
        assert "/runs/{name}/answers" in spec["paths"]
    with serving(tmp_path / "open") as url:  # no token: the description is open like every route
        assert httpx.get(f"{url}/openapi.json").status_code == 200


def test_slow_clients_are_cut_off(tmp_path):
    """Clients sending their headers, or their body, a few bytes at a time stayed connected past 20 s: each
    request now has request_seconds to arrive whole; a normal request is answered meanwhile."""
    with serving(tmp_path / "runs", request_seconds=2) as url:
        port = int(url.rsplit(":", 1)[1])
        slow_headers = [socket.create_connection(("127.0.0.1", port)) for _ in range(20)]
        slow_bodies = [socket.create_connection(("127.0.0.1", port)) for _ in range(20)]
        for sock in slow_headers:
            sock.sendall(f"GET /runs HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n".encode())
        for sock in slow_bodies:
            head = f"POST /runs HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            sock.sendall((head + "Content-Length: 1000\r\n\r\n{").encode())
        started = time.monotonic()
        open_ones = slow_headers + slow_bodies
        closed: dict[socket.socket, float] = {}
        assert httpx.get(f"{url}/runs", timeout=5).status_code == 200  # others are served meanwhile
        while open_ones and time.monotonic() - started < 10:
            for sock in list(open_ones):
                try:
                    sock.sendall(b"X-Slow: 1\r\n" if sock in slow_headers else b" ")
                    sock.settimeout(0.01)
                    if sock.recv(1024) == b"":
                        raise ConnectionResetError
                except TimeoutError:
                    continue
                except OSError:
                    closed[sock] = time.monotonic() - started
                    open_ones.remove(sock)
            time.sleep(0.2)
        for sock in slow_headers + slow_bodies:
            sock.close()
    assert not open_ones, f"{len(open_ones)} slow connections still open after 10 s"
    assert max(closed.values()) < 6, sorted(closed.values())
