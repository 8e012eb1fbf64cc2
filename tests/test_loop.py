"""End to end through the Python API: real Chroma, real embeddings, real SQLite checkpoints, simulated human."""

from __future__ import annotations

import json

import pytest

from labelgraph.agents.human import SimulatedHuman
from labelgraph.errors import ConflictError, ReviewError
from labelgraph.run import Project, Run
from tests.conftest import read_jsonl


def simulated(run: Run, gold: dict[str, str], noise: float = 0.0) -> SimulatedHuman:
    return SimulatedHuman(gold, run.config.label_names, noise=noise, seed=1)


def test_runs_to_the_budget_with_provenance(make_project, gold, tmp_path):
    run = Project.from_yaml(make_project()).start()
    status = run.run(simulated(run, gold))

    assert status.phase == "done"
    assert status.stop_reason.startswith("human-label budget spent")
    assert status.human_labels == 30
    labels = run.labels()
    by_source = {source: [r for r in labels if r.source == source] for source in ("seed", "human", "annotator")}
    assert len(by_source["seed"]) == 6
    assert len(by_source["human"]) == 30
    # a noiseless person gives gold labels, and every human label records what the critic disputed
    assert all(r.label == gold[r.id] for r in by_source["human"])
    assert all(r.verdict == "dispute" and r.reasons for r in by_source["human"])
    assert all(r.verdict == "accept" and r.confidence is not None for r in by_source["annotator"])
    # the memory holds exactly the committed labels, once each
    assert run.memory.ids() == {r.id for r in labels}
    # one history entry per round, test metrics measured every round
    assert [h["round"] for h in status.history] == list(range(1, status.round + 1))
    assert all(0.0 <= h["macro_f1"] <= 1.0 for h in status.history)

    out = tmp_path / "labels.jsonl"
    assert run.export(out) == len(labels)
    rows = read_jsonl(out)
    assert {row["id"] for row in rows} == {r.id for r in labels}
    assert {"source", "round", "confidence", "verdict", "reasons"} <= set(rows[0])


def test_pauses_until_every_item_is_answered(make_project, gold):
    run = Project.from_yaml(make_project()).start()
    status = run.step()
    assert status.phase == "paused" and len(status.pending) == 10
    pending = run.pending_reviews()
    assert pending[0].candidates and pending[0].reasons

    first = {item.id: gold[item.id] for item in pending[:4]}
    assert run.answer(first) == 4
    status = run.step()  # takes the four, waits for the rest
    assert status.phase == "paused" and len(status.pending) == 6 and status.human_labels == 0

    with pytest.raises(ReviewError, match="not pending"):
        run.answer({"no-such-item": "positive"})
    with pytest.raises(ReviewError, match="unknown label"):
        run.answer({status.pending[0]: "neutral"})
    skipped = status.pending[0]
    run.answer({skipped: None})  # skipped: never labelled, never selected again
    with pytest.raises(ConflictError):
        run.answer({skipped: "positive"})
    rest = {item_id: gold[item_id] for item_id in status.pending[1:]}
    run.answer(rest)
    status = run.step()
    labels = {r.id: r for r in run.labels()}
    assert all(labels[i].label == gold[i] and labels[i].source == "human" for i in {**first, **rest})
    assert skipped not in labels
    assert skipped in run._snapshot().values["skipped"]
    assert run.status().history[0]["skipped"] == 1
    assert run.status().history[0]["human_labels"] == 9


def test_answers_survive_a_restart(make_project, gold):
    project = make_project()
    run = Project.from_yaml(project).start()
    run.step()
    waiting = run.pending_reviews()
    run.answer({item.id: gold[item.id] for item in waiting})
    run.close()
    again = Run.open(Project.from_yaml(project).config.run_dir)
    assert again.status().answered == [item.id for item in waiting]
    again.step()
    assert {r.id for r in again.labels() if r.source == "human"} == {item.id for item in waiting}


def test_cold_start_without_seeds_and_one_class(make_project, gold):
    run = Project.from_yaml(make_project(seed_size=0, test_size=0)).start()
    status = run.step()
    assert status.labels == 0 and len(status.pending) == 10  # nothing can vouch for a label yet
    first = run.pending_reviews()
    run.answer({item.id: "positive" for item in first})  # a single class first: the student must cope
    status = run.step()
    assert status.phase in {"paused", "done"} and status.labels >= 10
    assert run.run(simulated(run, gold)).phase == "done"


def test_stops_when_the_pool_is_exhausted(make_project, gold):
    run = Project.from_yaml(make_project(pool_size=25, budget=100)).start()
    status = run.run(simulated(run, gold))
    assert status.stop_reason == "pool exhausted"
    assert status.labels == 25 + 6


def test_stops_when_predictions_stabilise(make_project, gold):
    rule = {"kappa": 0.9, "rounds": 2, "sample": 100}
    project = make_project(pool_size=120, budget=100, max_rounds=12, stop_when_stable=rule)
    run = Project.from_yaml(project).start()
    status = run.run(simulated(run, gold))
    kappas = [entry["stability"] for entry in status.history]
    assert all(k is None or -1 <= k <= 1 for k in kappas) and any(k is not None and k < 1 for k in kappas)
    stable = [k is not None and k >= 0.9 for k in kappas]
    first = next(n for n in range(1, len(stable)) if stable[n - 1] and stable[n])  # the first two stable rounds
    assert status.stop_reason == "predictions stable (kappa >= 0.9 for 2 rounds)", (status.stop_reason, kappas)
    assert len(status.history) == first + 1 and status.human_labels < 100


def test_same_seed_same_labels(make_project, gold, tmp_path):
    exports = []
    for name in ("a", "b"):
        run = Project.from_yaml(make_project(run_dir=f"run-{name}", strategy="hybrid")).start()
        run.run(simulated(run, gold, noise=0.1))
        out = tmp_path / f"{name}.jsonl"
        run.export(out)
        exports.append([json.loads(line) for line in out.read_text().splitlines()])
    assert exports[0] == exports[1]


def test_pool_vectors_are_computed_once(make_project, gold, monkeypatch):
    from labelgraph.embeddings import SentenceTransformerEmbedder

    project = make_project()
    Project.from_yaml(project).start().close()  # embeds pool and test once
    embedded: list[int] = []
    real = SentenceTransformerEmbedder.embed
    monkeypatch.setattr(
        SentenceTransformerEmbedder, "embed", lambda self, texts: embedded.append(len(texts)) or real(self, texts)
    )
    run = Run.open(Project.from_yaml(project).config.run_dir)
    run.run(simulated(run, gold))
    assert run.status().phase == "done"
    assert embedded == [2]  # only the two label descriptions, for the annotator; no pool text again
