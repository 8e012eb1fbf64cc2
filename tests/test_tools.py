"""Plug-in tools: dotted paths, entry points, the LLM's tool-calling loop over HTTP, labelling-function votes."""

from __future__ import annotations

import json
import os
import subprocess

import numpy as np
import pytest
import yaml

from labelgraph.agents.human import SimulatedHuman
from labelgraph.agents.llm_annotator import LLMAnnotator
from labelgraph.config import LLMSettings, ToolSettings
from labelgraph.data import Item
from labelgraph.errors import PluginError
from labelgraph.llm.client import LLMClient
from labelgraph.memory import Memory
from labelgraph.session.run import Project
from labelgraph.testing import ScriptedLLM
from labelgraph.tools import load_tools
from tests.service_helpers import console_script

LEXICON = "examples.custom_tool.lexicon:sentiment_lexicon"


def plain_function(text: str) -> str:
    """Says positive about everything."""
    return "positive"


def test_tools_by_path_entry_point_and_builtin(tmp_path, monkeypatch):
    dist = tmp_path / "my_tools-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: my-tools\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[labelgraph.tools]\nlexicon = {LEXICON}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    memory = Memory.embedded(tmp_path / "memory")
    specs = [
        ToolSettings.model_validate("search_memory"),
        ToolSettings(path="tests.test_tools:plain_function", vote=True),
        ToolSettings.model_validate("lexicon"),
    ]
    loaded = load_tools(specs, memory=memory)
    assert [one.name for one in loaded.tools] == ["search_memory", "plain_function", "sentiment_lexicon"]
    assert [one.name for one in loaded.voters] == ["plain_function"]
    assert loaded.tools[0].invoke({"query": "anything"}) == "(no labelled examples yet)"
    with pytest.raises(PluginError, match="unknown tool 'nope'"):
        load_tools([ToolSettings(path="nope")], memory=memory)
    with pytest.raises(PluginError, match="has no attribute"):
        load_tools([ToolSettings(path="tests.test_tools:missing")], memory=memory)


def test_llm_annotator_calls_a_tool_then_answers(tmp_path):
    loaded = load_tools([ToolSettings(path=LEXICON)], memory=Memory.embedded(tmp_path / "m"))
    with ScriptedLLM(labeller=lambda text: "negative") as server:
        client = LLMClient(LLMSettings(model="scripted", base_url=server.url), tmp_path / "cache.sqlite")
        annotator = LLMAnnotator({"positive": "", "negative": ""}, client, tools=loaded.tools)
        [one] = annotator.annotate([Item(id="1", text="a dull, lifeless film")], np.zeros((1, 2)), [[]])
    assert one.label == "negative"
    first, second = server.requests
    assert first["tools"][0]["function"]["name"] == "sentiment_lexicon"
    tool_message = [m for m in second["messages"] if m["role"] == "tool"]
    assert tool_message and tool_message[0]["content"] == "<text>\nnegative\n</text>"  # tool output is data


def test_a_voting_tool_is_weighed_and_reported(make_project, gold):
    from examples.custom_tool.lexicon import sentiment_lexicon

    project = make_project(budget=80, batch_size=20)
    config = yaml.safe_load(project.read_text())
    config["tools"] = [{"path": LEXICON, "vote": True}]
    project.write_text(yaml.safe_dump(config))
    run = Project.from_yaml(project).start()
    run.step()
    machine = run.store.machine()
    texts = {item.id: item.text for item in run.context.items(sorted(machine))}
    # every annotated text carries the function's own vote (an abstention casts none)
    expected = {i: sentiment_lexicon.invoke({"text": texts[i]}) for i in machine}
    assert {i: m.tool_votes for i, m in machine.items()} == {
        i: ({"sentiment_lexicon": vote} if vote else {}) for i, vote in expected.items()
    }
    voted = [i for i, vote in expected.items() if vote]
    assert voted and len(voted) < len(machine)

    # the annotator weighs the vote: the same items annotated without it give the voted label less probability
    ids = sorted(machine)
    vectors = run.context.vectors(ids)
    neighbours = run.context.memory.neighbours(vectors, run.config.neighbours)  # the seeds, as in round 1
    plain = {a.id: a for a in run.context.annotator.annotate(run.context.items(ids), vectors, neighbours)}
    for item_id in ids:
        vote = expected[item_id]
        if vote:
            assert machine[item_id].distribution[vote] > plain[item_id].distribution[vote], item_id
        else:
            assert machine[item_id].distribution == plain[item_id].distribution, item_id

    # the critic weighs it too: one signal, +1 for the machine's label, -1 against, and a reason when against
    verdicts = run.store.verdicts()
    judged = [i for i in ids if i in verdicts]
    assert judged
    against = [i for i in judged if expected[i] and expected[i] != verdicts[i].label]
    assert against, "the lexicon disagreed with none of the machine labels"
    for item_id in judged:
        vote = expected[item_id]
        assert verdicts[item_id].signals["tools"] == (0 if not vote else 1 if vote == verdicts[item_id].label else -1)
        assert ("labelling functions vote against (1)" in verdicts[item_id].reasons) == (item_id in against)
    human = SimulatedHuman(gold, run.config.label_names)
    shown: dict = {}  # the verdicts as the batch opens: a fix shows the one that drew it

    def at_present(node: str, update: dict) -> None:
        if node == "present":
            shown.update(run.store.verdicts())

    while not (fixes := [p for p in run.pending_reviews() if p.kind == "fix"]):  # round 1 draws no fix
        run.answer(human.answer(run.pending_reviews()))
        assert run.step(at_present).phase == "paused"
    assert all(p.reasons == shown[p.id].reasons for p in fixes)  # the person reads the same reasons

    status = run.run(human)
    assert status.phase == "done" and status.human_labels == 80
    machine = run.store.machine()
    texts = {item.id: item.text for item in run.context.items(sorted(machine))}
    votes = {i: vote for i in machine if (vote := sentiment_lexicon.invoke({"text": texts[i]}))}
    people = {h.id: h.label for h in run.store.human().values() if h.label is not None and h.id in votes}
    assert people  # some texts the lexicon voted on were labelled by the person
    lexicon = status.tools["sentiment_lexicon"]
    assert lexicon["votes"] == len(votes)
    assert lexicon["coverage"] == pytest.approx(len(votes) / len(machine), abs=1e-4)
    agreement = sum(votes[i] == gold[i] for i in people) / len(people)  # the person answers with gold labels
    assert lexicon["agreement"] == pytest.approx(agreement, abs=1e-4)
    assert set(status.tools) == {"sentiment_lexicon"}


def test_a_tool_module_in_the_current_folder_is_found_by_the_installed_command(make_project, tmp_path):
    (tmp_path / "my_votes.py").write_text(
        "from langchain_core.tools import tool\n\n\n@tool\ndef always_positive(text: str) -> str:\n"
        '    """Votes positive."""\n    return "positive"\n'
    )
    project = make_project(tools=[{"path": "my_votes:always_positive", "vote": True}], budget=10)
    command = console_script("labelgraph")
    assert command is not None
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}  # the command as users run it
    result = subprocess.run(
        [command, "run", str(project)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    status = json.loads(
        subprocess.run(
            [command, "status", str(project), "--json"], cwd=tmp_path, env=env, capture_output=True, text=True
        ).stdout
    )
    assert status["phase"] == "paused"  # the first round ran with the tool loaded (status loads it too)
