"""The whole loop through an OpenAI-compatible endpoint: killed mid-round and resumed with zero repeated calls
(counted at the server), costs recorded per round and agent, and a cost budget that stops the loop."""

from __future__ import annotations

import json
import signal

import yaml

from labelgraph.agents.human import SimulatedHuman
from labelgraph.run import Project
from labelgraph.testing import ScriptedLLM
from tests.conftest import EXAMPLE, read_jsonl, run_cli
from tests.test_crash_resume import runner, write_project

TEXT_TO_ID = {row["text"]: row["id"] for row in read_jsonl(EXAMPLE / "pool.jsonl")}
GOLD = {row["id"]: row["label"] for row in read_jsonl(EXAMPLE / "gold.jsonl")}


def labeller(text: str) -> str:
    return GOLD.get(TEXT_TO_ID.get(text, ""), "positive")


def with_llm(project, server: ScriptedLLM, **llm) -> None:
    config = yaml.safe_load(project.read_text())
    config.update(annotator="llm", critic_llm=True, llm={"model": "scripted", "base_url": server.url, **llm})
    project.write_text(yaml.safe_dump(config))


def test_killed_llm_run_repeats_no_call(tmp_path):
    with ScriptedLLM(labeller=labeller) as server:
        write_project(tmp_path)
        with_llm(tmp_path / "project.yaml", server, samples=2, concurrency=4)
        killed = runner(tmp_path / "project.yaml", tmp_path / "labels.jsonl", "llm_annotate:2")
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        before = len(server.requests)
        assert before > 0
        resumed = runner(tmp_path / "project.yaml", tmp_path / "labels.jsonl")
        assert resumed.returncode == 0, resumed.stderr
        bodies = [json.dumps(body, sort_keys=True) for body in server.requests]
    assert len(bodies) > before  # the resumed run went on calling for new work
    assert len(set(bodies)) == len(bodies), "a request was sent twice"
    rows = read_jsonl(tmp_path / "labels.jsonl")
    assert len({row["id"] for row in rows}) == len(rows)


def test_costs_per_round_and_the_cost_budget(make_project, gold):
    with ScriptedLLM(labeller=labeller) as server:
        project = make_project(budget=60, max_rounds=10)
        with_llm(project, server, prices={"input": 50.0, "output": 50.0}, cost_budget=0.6)
        run = Project.from_yaml(project).start()
        status = run.run(SimulatedHuman(gold, run.config.label_names))
        calls = len(server.requests)
    assert status.stop_reason.startswith("LLM cost budget spent")
    assert status.human_labels < 60
    history = status.history
    assert sum(h["llm_calls"] for h in history) == calls
    assert sum(h["llm_cost"] for h in history) >= 0.6 > sum(h["llm_cost"] for h in history[:-1])
    assert set(status.llm_usage) == {"annotator", "critic"}
    text = run_cli("status", project)
    assert text.returncode == 0 and "llm" in text.stdout and "annotator" in text.stdout


def test_the_whole_loop_through_the_endpoint_with_tools(make_project, gold):
    with ScriptedLLM(labeller=labeller) as server:
        project = make_project(budget=20)
        with_llm(project, server)
        config = yaml.safe_load(project.read_text())
        config["tools"] = ["search_memory", {"path": "examples.custom_tool.lexicon:sentiment_lexicon", "vote": True}]
        project.write_text(yaml.safe_dump(config))
        run = Project.from_yaml(project).start()
        status = run.run(SimulatedHuman(gold, run.config.label_names))
        annotator_requests = [r for r in server.requests if "You label texts" in r["messages"][0]["content"]]
    assert status.phase == "done" and status.human_labels == 20
    offered = {tool["function"]["name"] for r in annotator_requests for tool in r.get("tools", [])}
    assert offered == {"search_memory", "sentiment_lexicon"}
    results = [m for r in annotator_requests for m in r["messages"] if m["role"] == "tool"]
    assert results and any("\t" in m["content"] for m in results)  # search_memory's label<TAB>similarity<TAB>text
    assert status.tools["sentiment_lexicon"]["votes"] > 0
