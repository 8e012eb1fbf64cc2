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
from labelgraph.llm import LLMClient
from labelgraph.memory import Memory
from labelgraph.run import Project
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
    project = make_project(budget=40, batch_size=20)
    config = yaml.safe_load(project.read_text())
    config["tools"] = [{"path": LEXICON, "vote": True}]
    project.write_text(yaml.safe_dump(config))
    run = Project.from_yaml(project).start()
    run.step()
    annotations = run._snapshot().values["annotations"]
    voted = {i: a for i, a in annotations.items() if a["tool_votes"]}
    assert voted, "the lexicon voted on none of the batch"
    for item_id, annotation in voted.items():
        review = next((p for p in run.pending_reviews() if p.id == item_id), None)
        if annotation["tool_votes"]["sentiment_lexicon"] != annotation["label"]:
            assert review is not None and any("labelling functions disagree" in r for r in review.reasons)
    status = run.run(SimulatedHuman(gold, run.config.label_names))
    lexicon = status.tools["sentiment_lexicon"]
    assert 0 < lexicon["coverage"] <= 1 and 0 <= lexicon["agreement"] <= 1
    assert lexicon["votes"] == sum(h["tools"]["sentiment_lexicon"]["voted"] for h in status.history)


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
