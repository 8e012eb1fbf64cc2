"""The whole loop through an OpenAI-compatible endpoint: killed mid-round and resumed with zero repeated calls
(counted at the server), costs recorded per round and agent, and a cost budget that stops the loop."""

from __future__ import annotations

import json
import signal

import pytest
import yaml

from labelgraph.agents.human import SimulatedHuman
from labelgraph.session.run import Project
from labelgraph.testing import ScriptedLLM
from tests.conftest import EXAMPLE, read_jsonl, run_cli
from tests.test_crash_resume import runner, write_project

TEXT_TO_ID = {row["text"]: row["id"] for row in read_jsonl(EXAMPLE / "pool.jsonl")}
GOLD = {row["id"]: row["label"] for row in read_jsonl(EXAMPLE / "gold.jsonl")}


def labeller(text: str) -> str:
    return GOLD.get(TEXT_TO_ID.get(text, ""), "positive")


def with_llm(project, server: ScriptedLLM, *, per_round: int | None = None, **llm) -> None:
    """The LLM annotator and judge through ``server``; ``per_round`` spreads the machine lane over rounds."""
    config = yaml.safe_load(project.read_text())
    config.update(annotator="llm", critic_llm=True, llm={"model": "scripted", "base_url": server.url, **llm})
    if per_round is not None:
        config["machine"] = {"per_round": per_round}
    project.write_text(yaml.safe_dump(config))


def labelled_through(folder, kill: str | None = None) -> tuple[list[dict], list[str], int]:
    """Run the crash project with the LLM lanes (killed at ``kill`` and resumed, if given): the export,
    every request body the server saw, and how many arrived before the kill."""
    folder.mkdir()
    with ScriptedLLM(labeller=labeller) as server:
        write_project(folder)
        with_llm(folder / "project.yaml", server, per_round=20, samples=2, concurrency=4)
        before = 0
        if kill is not None:
            killed = runner(folder / "project.yaml", folder / "labels.jsonl", kill)
            assert killed.returncode == -signal.SIGKILL, killed.stderr
            assert not (folder / "labels.jsonl").exists()
            before = len(server.requests)
        done = runner(folder / "project.yaml", folder / "labels.jsonl")
        assert done.returncode == 0, done.stderr
        bodies = [json.dumps(body, sort_keys=True) for body in server.requests]
    return read_jsonl(folder / "labels.jsonl"), bodies, before


def test_killed_llm_run_repeats_no_call(tmp_path):
    # 20 texts a round: the annotator is called every round, and the kill lands in round 2's, after its
    # requests were answered and before the labels reached the store
    rows, bodies, before = labelled_through(tmp_path / "killed", "llm_annotate:2")
    assert before > 0
    assert len(bodies) > before  # the resumed run went on calling for new work
    assert len(set(bodies)) == len(bodies), "a request was sent twice"
    assert len({row["id"] for row in rows}) == len(rows)
    machine = [row for row in rows if row["status"] in {"accepted", "proposed"}]
    assert len(machine) > 20  # the machine lane went past round 1 after the resume
    expected, uninterrupted, _ = labelled_through(tmp_path / "whole")
    assert rows == expected  # the same labels as a run never killed...
    assert sorted(bodies) == sorted(uninterrupted)  # ...from exactly the same requests


def test_costs_per_round_and_the_cost_budget(make_project, gold):
    with ScriptedLLM(labeller=labeller) as server:
        project = make_project(budget=60, max_rounds=10)
        # 10 texts a round, each annotated and judged: the budget runs out after a few rounds, not in the first
        with_llm(project, server, per_round=10, prices={"input": 50.0, "output": 50.0}, cost_budget=2.0)
        run = Project.from_yaml(project).start()
        status = run.run(SimulatedHuman(gold, run.config.label_names))
        calls = len(server.requests)
        by_agent = {"annotator": server.count("annotator"), "critic": server.count("critic")}
    assert status.stop_reason.startswith("LLM cost budget spent")
    assert status.human_labels < 60 and status.machine_todo > 0  # both lanes stopped with work left
    history = status.history
    assert len(history) >= 2
    assert sum(h["llm_calls"] for h in history) == calls
    assert all(h["llm_calls"] > 0 and h["llm_cost"] > 0 for h in history)
    assert sum(h["llm_cost"] for h in history) >= 2.0 > sum(h["llm_cost"] for h in history[:-1])
    assert status.cost == pytest.approx(sum(h["llm_cost"] for h in history), abs=1e-5)
    assert {agent: used.calls for agent, used in status.llm_usage.items()} == by_agent
    assert status.expected_cost_to_finish is not None and status.expected_cost_to_finish > 0
    text = run_cli("status", project)
    assert text.returncode == 0 and "llm" in text.stdout and "annotator" in text.stdout


def judge(text: str, label: str) -> str:
    """The scripted judge: rejects every label of a text that names a "movie", accepts the rest."""
    return "reject" if "movie" in text.split() else "accept"


def test_the_whole_loop_through_the_endpoint_with_tools(make_project, gold):
    with ScriptedLLM(labeller=labeller, judge=judge) as server:
        project = make_project(budget=20)
        with_llm(project, server)
        config = yaml.safe_load(project.read_text())
        config["tools"] = ["search_memory", {"path": "examples.custom_tool.lexicon:sentiment_lexicon", "vote": True}]
        project.write_text(yaml.safe_dump(config))
        run = Project.from_yaml(project).start()
        status = run.run(SimulatedHuman(gold, run.config.label_names))
        annotator_requests = [r for r in server.requests if "You label texts" in r["messages"][0]["content"]]
        machine = run.store.machine()
        verdicts = run.store.verdicts()
        texts = {item.id: item.text for item in run.context.items(sorted(machine))}
    assert status.phase == "done" and status.human_labels == 20
    # the judge's verdict is stored with each machine label and weighed as one signal, never the decision
    assert all(m.judge == judge(texts[i], m.label or "") for i, m in machine.items() if m.label is not None)
    doubted = [i for i, v in verdicts.items() if machine[i].judge == "reject"]
    trusted = [i for i, v in verdicts.items() if machine[i].judge == "accept"]
    assert doubted and trusted
    assert all(verdicts[i].signals["judge"] == 0.0 for i in doubted)
    assert all("the LLM judge rejects it" in verdicts[i].reasons for i in doubted)
    assert all(verdicts[i].signals["judge"] == 1.0 for i in trusted)
    assert all(verdicts[i].status in {"accepted", "proposed", "checked"} for i in doubted)  # "rejected": synthetic
    offered = {tool["function"]["name"] for r in annotator_requests for tool in r.get("tools", [])}
    assert offered == {"search_memory", "sentiment_lexicon"}
    results = [m for r in annotator_requests for m in r["messages"] if m["role"] == "tool"]
    assert results and any("\t" in m["content"] for m in results)  # search_memory's label<TAB>similarity<TAB>text
    assert status.tools["sentiment_lexicon"]["votes"] > 0
