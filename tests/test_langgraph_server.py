"""The loop on LangGraph's own server: ``langgraph dev`` on 127.0.0.1 serves ``langgraph.json``; a thread runs
to an interrupt and resumes over its HTTP API (the server brings its own persistence)."""

from __future__ import annotations

import os
import subprocess

import pytest

from labelgraph.session.run import Project
from labelgraph.stores.labels import LabelStore
from tests.conftest import ROOT
from tests.service_helpers import console_script, free_port, wait_until_up

LANGGRAPH = console_script("langgraph")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if LANGGRAPH is None:
        pytest.fail("the langgraph command is missing: pip install 'langgraph-cli[inmem]' (make test installs it)")
    port = free_port()
    workdir = tmp_path_factory.mktemp("langgraph-dev")
    env = {**os.environ, "LANGGRAPH_CLI_NO_ANALYTICS": "1", "LANGGRAPH_NO_VERSION_CHECK": "1", "PYTHONPATH": str(ROOT)}
    log = (workdir / "server.log").open("w")
    process = subprocess.Popen(
        [LANGGRAPH, "dev", "--no-browser", "--no-reload", "--allow-blocking", "--host", "127.0.0.1",
         "--port", str(port), "--config",
         str(ROOT / "langgraph.json")],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,  # graph paths are relative to the repo
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    wait_until_up(f"{url}/ok", process, log=workdir / "server.log")
    yield url
    process.terminate()
    process.wait(timeout=30)


def test_interrupt_and_resume_over_the_langgraph_api(server, make_project, gold):
    from langgraph_sdk import get_sync_client

    run = Project.from_yaml(make_project(budget=20)).start()  # the run folder the thread works on
    context = {"run_dir": str(run.workspace.path)}
    client = get_sync_client(url=server)
    thread = client.threads.create()
    client.runs.wait(thread["thread_id"], "labelgraph", input={}, context=context)
    state = client.threads.get_state(thread["thread_id"])
    waiting = [item for interrupt in state["interrupts"] for item in interrupt["value"]["items"]]
    assert len(waiting) == 10 and state["next"] == ["human_review"]

    answers = {item["id"]: gold[item["id"]] for item in waiting}
    client.runs.wait(thread["thread_id"], "labelgraph", command={"resume": answers}, context=context)
    state = client.threads.get_state(thread["thread_id"])
    values = state["values"]
    assert values["round"] == 2 and values["human_labels"] == 10
    assert "labels" not in values  # labels live in the run folder's label store, not in the checkpoint
    stored = LabelStore(run.workspace.path / "labels.sqlite").human()
    assert all(stored[i].label == gold[i] and stored[i].kind != "seed" for i in answers)
