"""The two lanes end to end: the machine labels the pool, the critic accepts what meets the target, the person
fixes, audits and explores; the checkpoint stays small; the plan counts the prompts."""

from __future__ import annotations

import hashlib
import json
import sqlite3

import yaml
from sklearn.metrics import roc_auc_score

from labelgraph.agents.human import SimulatedHuman
from labelgraph.config import load_project
from labelgraph.evals.annotators import ReplayAnnotator
from labelgraph.session.plan import ANSWER_TOKENS, plan_costs
from labelgraph.session.run import Project
from tests.conftest import LABELS, invoke_cli, read_jsonl, write_jsonl


def flipped(item_id: str, rate: float) -> bool:
    return int(hashlib.sha256(item_id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF < rate


def recorded_llm(tmp_path, gold, rate: float):
    """A replay file: the gold label, flipped for ``rate`` of the texts (fixed by the id's hash)."""
    texts = {row["id"]: row["text"] for row in read_jsonl(tmp_path / "pool.jsonl")}
    other = {"positive": "negative", "negative": "positive"}
    rows = [
        {"text": text, "llm_label": other[gold[i]] if flipped(i, rate) else gold[i]}
        for i, text in texts.items()
        if i in gold
    ]
    return write_jsonl(tmp_path / "recorded.jsonl", rows)


def test_machine_lane_labels_the_pool_and_accepts_to_the_target(make_project, gold, tmp_path):
    project = make_project(
        pool_size=400, budget=120, batch_size=20, max_rounds=8, quality={"target_accuracy": 0.85, "min_checks": 20}
    )
    annotator = ReplayAnnotator(recorded_llm(tmp_path, gold, 0.06), list(LABELS))
    run = Project.from_yaml(project).start(annotator=annotator)
    status = run.run(SimulatedHuman(gold, list(LABELS), seed=1))
    assert status.phase == "done" and status.human_labels == 120
    records = run.labels()
    by_status = {s: [r for r in records if r.status == s] for s in ("seed", "human", "accepted", "proposed")}
    pool_ids = {row["id"] for row in read_jsonl(tmp_path / "pool.jsonl")}
    # the machine lane labelled the whole pool, not a batch a round
    assert {r.id for r in records} >= pool_ids - {r.id for r in by_status["human"]} - set(
        i for i in pool_ids if i not in gold
    )
    accepted = by_status["accepted"]
    assert len(accepted) > 100 and all(r.p_correct is not None for r in accepted)
    truth = sum(r.label == gold[r.id] for r in accepted) / len(accepted)
    assert truth >= 0.85  # the target held
    estimate = status.estimate
    assert estimate is not None and estimate.lower >= 0.85 and abs(estimate.accuracy - truth) < 0.05
    assert estimate.audits > 0 and estimate.per_label and estimate.curve
    kinds = {r.kind for r in by_status["human"]}
    assert kinds <= {"explore", "fix", "audit"} and "audit" in kinds
    # the critic ranks errors: p_correct puts the machine's wrong labels below its right ones (over every scored
    # machine label; the dozen fixes alone are too few to tell, one wrong fix more or less decides)
    scored = [r for r in records if r.p_correct is not None and r.id in gold]
    machine_right = [(r.annotator_label if r.status == "human" else r.label) == gold[r.id] for r in scored]
    assert 0 < sum(machine_right) < len(scored)
    assert roc_auc_score(machine_right, [r.p_correct for r in scored]) > 0.6
    assert status.coverage == round((len(accepted) + len(by_status["human"])) / len(pool_ids), 4)

    out = tmp_path / "labels.jsonl"
    assert run.export(out) == len(records)
    summary = json.loads((tmp_path / "labels.jsonl.summary.json").read_text())
    assert summary["estimate"]["accepted"] == len(accepted)
    statuses = {row["status"] for row in read_jsonl(out)}
    assert {"seed", "human", "accepted"} <= statuses <= {"seed", "human", "accepted", "proposed"}

    # the checkpoint holds the round's ids only: no checkpoint comes near the size of the labels
    with sqlite3.connect(run.workspace.checkpoints) as db:
        largest = db.execute("SELECT MAX(LENGTH(checkpoint)) FROM checkpoints").fetchone()[0]
    assert largest < 40_000 < len(out.read_bytes())


def test_a_run_without_an_annotator_is_classic_active_learning(make_project, gold):
    run = Project.from_yaml(make_project(annotator="none", budget=20)).start()
    status = run.run(SimulatedHuman(gold, list(LABELS)))
    assert status.human_labels == 20 and status.counts["accepted"] == status.counts["proposed"] == 0
    assert {r.kind for r in run.labels() if r.status == "human"} == {"explore"}
    assert run.store.machine_ids() == set()


def test_plan_shows_what_one_more_sample_would_add(make_project):
    llm = {"model": "m", "base_url": "http://127.0.0.1:9/v1", "prices": {"input": 1.0, "output": 2.0}}
    plan = plan_costs(load_project(make_project(pool_size=50, annotator="llm", llm=llm)))
    (annotator,), (more,) = plan.lines, plan.doubt
    assert annotator.calls == more.calls == 50 and more.cost == annotator.cost and plan.cost == annotator.cost
    assert more.agent.startswith("one more sample a text")


def test_plan_counts_the_prompts_before_any_call(make_project, tmp_path):
    project = make_project(
        pool_size=50,
        annotator="llm",
        critic_llm=True,
        llm={"model": "m", "base_url": "http://127.0.0.1:9/v1", "samples": 3, "prices": {"input": 1.0, "output": 2.0}},
    )
    plan = plan_costs(load_project(project))
    lines = {line.agent: line for line in plan.lines}
    assert plan.texts == 50 and lines["annotator"].calls == 150 and lines["critic"].calls == 50
    assert lines["annotator"].output_tokens == 150 * ANSWER_TOKENS
    longer = yaml.safe_load(project.read_text())
    write_jsonl(
        tmp_path / "pool.jsonl", [{**row, "text": row["text"] * 3} for row in read_jsonl(tmp_path / "pool.jsonl")]
    )
    assert plan_costs(load_project(project)).lines[0].input_tokens > lines["annotator"].input_tokens  # from the texts
    expected = (lines["annotator"].input_tokens * 1.0 + lines["annotator"].output_tokens * 2.0) / 1e6
    assert abs(lines["annotator"].cost - expected) < 1e-3 and longer["annotator"] == "llm"
    printed = invoke_cli("plan", project)
    assert printed.exit_code == 0 and "annotator: 150 calls" in printed.output
    doubt = plan.doubt[0]  # the samples after the first: 2 of the 3 a text, inside the annotator's line
    assert doubt.agent == "self-consistency: samples 2-3" and doubt.calls == 100
    assert abs(doubt.cost - lines["annotator"].cost * 2 / 3) < 1e-3
    assert "self-consistency: samples 2-3: 100 calls" in printed.output and "logprobs" in printed.output
    assert invoke_cli("run", project, "--dry-run").exit_code == 0 and not (tmp_path / "run").exists()


def test_the_machine_lane_annotates_a_page_at_a_time_to_the_same_labels(make_project, gold, tmp_path, monkeypatch):
    """A round that (re)labels more texts than a page writes them page by page, to the labels of one page."""
    import labelgraph.graphs.annotate as annotate_node

    def finished(folder: str) -> tuple[dict, dict]:
        project = make_project(pool_size=60, budget=20, run_dir=folder)
        run = Project.from_yaml(project).start()
        run.run(SimulatedHuman(gold, run.config.label_names, seed=1))
        machine = {i: (m.round, m.label, m.distribution) for i, m in run.store.machine().items()}
        verdicts = {i: (v.status, round(v.p_correct, 9)) for i, v in run.store.verdicts().items()}
        run.close()
        return machine, verdicts

    whole = finished("whole")
    monkeypatch.setattr(annotate_node, "ANNOTATE_PAGE", 7)
    paged = finished("paged")
    assert paged == whole
    machine, _ = paged
    assert len(machine) > 7 * 3 and max(r for r, _, _ in machine.values()) >= 2  # pages, and a refreshing round
