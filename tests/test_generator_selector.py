"""The generator and the LLM selector in the loop, through the scripted OpenAI-compatible server."""

from __future__ import annotations

import yaml

from labelgraph.agents.human import SimulatedHuman
from labelgraph.run import Project
from labelgraph.testing import ScriptedLLM
from tests.conftest import EXAMPLE, read_jsonl

POOL = read_jsonl(EXAMPLE / "pool.jsonl")
TEXT_TO_ID = {row["text"]: row["id"] for row in POOL}
GOLD = {row["id"]: row["label"] for row in read_jsonl(EXAMPLE / "gold.jsonl")}
NEW = {
    "positive": ["a warm , witty and wonderful comedy .", "one of the year 's most delightful films ."],
    "negative": ["a tedious , joyless slog .", "a tedious , joyless slog ."],  # the second is a duplicate
}


def labeller(text: str) -> str:
    if text in TEXT_TO_ID:
        return GOLD[TEXT_TO_ID[text]]
    if "(now " in text:  # counterfactual edits say what they were turned into; the annotator disagrees
        return "positive"
    return "negative" if "tedious" in text or "dull" in text else "positive"


def writer(label: str, count: int) -> list[str]:
    return (NEW[label] + [POOL[0]["text"]])[:count]  # a pool text comes back too: it must be dropped


def project_with(make_project, server: ScriptedLLM, **settings):
    project = make_project(budget=30, max_rounds=3)
    config = yaml.safe_load(project.read_text())
    config.update(annotator="llm", llm={"model": "scripted", "base_url": server.url}, **settings)
    project.write_text(yaml.safe_dump(config))
    return project


def test_generator_adds_deduplicated_synthetic_items(make_project, gold):
    with ScriptedLLM(labeller=labeller, writer=writer) as server:
        project = project_with(make_project, server, generator={"per_round": 4, "counterfactuals": True})
        run = Project.from_yaml(project).start()
        run.step()
        batch = run._snapshot().values["batch"]
        synthetic = [i for i in batch if i.startswith("syn-")]
        texts = {item.id: item for item in run.context.items(synthetic)}
        assert server.count("generator") >= 1
        assert len(batch) == 10 + len(synthetic)
        assert POOL[0]["text"] not in {t.text for t in texts.values()}  # duplicate of a pool text dropped
        assert sum(t.text == "a tedious , joyless slog ." for t in texts.values()) <= 1  # and of each other
        assert all(t.meta["synthetic"] and t.meta["intended"] in {"positive", "negative"} for t in texts.values())
        verdicts = run._snapshot().values["verdicts"]
        for item_id, item in texts.items():
            if item.meta["prompt"] == "counterfactual" and item.meta["intended"] == "negative":
                assert verdicts[item_id]["decision"] == "reject"
                assert "written as 'negative'" in verdicts[item_id]["reasons"][0]
        rejected = {i for i in synthetic if verdicts[i]["decision"] == "reject"}
        human = SimulatedHuman(gold, run.config.label_names, unknown=lambda item: labeller(item.text))
        status = run.run(human)
        records = {r.id: r for r in run.labels()}
        values = run._snapshot().values
    made = [r for r in records.values() if r.id.startswith("syn-")]
    assert made, "no synthetic item was labelled"
    assert all(r.source in {"synthetic", "human"} and r.synthetic for r in made)  # provenance, whoever labelled it
    assert not any(r.synthetic for r in records.values() if not r.id.startswith("syn-"))
    assert rejected <= set(values["skipped"])  # a rejected text is never proposed again
    rare = [r for r in server.requests if "new, varied texts" in str(r["messages"][-1]["content"])]
    assert len(rare) == status.round  # a fresh draw each round, not round 1's answer from the cache
    assert all(r["temperature"] == 0.7 for r in rare)
    for record in made:
        item = run.context.items([record.id])[0]
        assert record.parent == item.meta["parent"]
        assert (record.parent is None) == (item.meta["prompt"] == "rare_label")
    assert sum(h["synthetic"] for h in status.history) >= len(synthetic)
    assert status.llm_usage["generator"].calls == server.count("generator")


def test_llm_selector_picks_from_the_shortlist_and_says_why(make_project):
    with ScriptedLLM(labeller=labeller, chooser=lambda n, k: list(range(n))[-k:]) as server:
        project = project_with(make_project, server, strategy="llm")
        run = Project.from_yaml(project).start()
        run.step()
        values = run._snapshot().values
    assert server.count("selector") == 1
    assert len(values["batch"]) == 10
    assert all(reason.startswith("llm: scripted pick") for reason in values["why"].values())
    assert set(values["why"]) == set(values["batch"])
