"""End to end through the Python API: real Chroma, real embeddings, real SQLite checkpoints, simulated human."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
import yaml

from labelgraph.agents.human import SimulatedHuman
from labelgraph.critic.rounds import designs
from labelgraph.errors import ConflictError, ReviewError, RunError
from labelgraph.session.run import Project, Run
from tests.conftest import LABELS, read_jsonl


def simulated(run: Run, gold: dict[str, str], noise: float = 0.0) -> SimulatedHuman:
    return SimulatedHuman(gold, run.config.label_names, noise=noise, seed=1)


def check_provenance(run: Run, gold: dict[str, str]):
    """What every run owes its labels, whatever the critic accepted: returns (status, labels by status)."""
    status = run.status()
    labels = run.labels()
    by_status = {name: [r for r in labels if r.status == name] for name in ("seed", "human", "accepted", "proposed")}
    assert len(labels) == sum(map(len, by_status.values())) == len({r.id for r in labels})  # one each, no other
    assert len(by_status["seed"]) == 6 and all(r.source == "seed" and r.round == 0 for r in by_status["seed"])
    # a noiseless person gives gold labels; each records why it was asked and the machine label it answered
    answers = run.store.human()
    for record in by_status["human"]:
        assert record.source == "human" and record.label == gold[record.id] and record.p_correct is None
        assert record.kind in {"fix", "audit", "explore"} and answers[record.id].kind == record.kind
        assert record.annotator_label is not None  # the machine lane labelled the whole pool in round 1
        # only a fix shows the machine label; audits and explores are answered blind
        shown = answers[record.id].shown
        assert shown == (record.annotator_label if record.kind == "fix" else None), record
    # the machine lane labelled every other pool text once, and the critic scored each
    machine = by_status["accepted"] + by_status["proposed"]
    pool_ids = {row["id"] for row in read_jsonl(Path(run.config.pool))}
    assert sorted(r.id for r in machine + by_status["human"]) == sorted(pool_ids)
    for record in machine:
        assert record.source == "annotator" and record.verdict == record.status and record.kind is None
        assert 0.0 <= record.p_correct <= 1.0 and record.confidence is not None
        assert record.annotator_label == record.label and record.reasons[0].startswith("p_correct")
    accepted = len(by_status["accepted"])
    estimate = status.estimate
    assert estimate is not None and estimate.accepted == accepted
    # every answer was drawn with a known probability, and every draw on a machine label is a check
    draws = run.store.draws()
    answered = {r.id for r in by_status["human"]}
    assert answered <= {item_id for _, item_id, _, _ in draws}
    assert all(0 < probability <= 1 for _, _, probability, _ in draws)
    assert estimate.checks == sum(item_id in answered for _, item_id, _, _ in draws)
    # each round kept its whole design, which gives every draw the probability it was recorded with
    pool = run.context.pool_ids
    column = {item_id: row for row, item_id in enumerate(pool)}
    design = designs(run.store, pool, column, [d[0] for d in draws])
    assert design is not None and design.probability.sum(axis=1) == pytest.approx(1.0, abs=1e-4)
    kept = [design.probability[design.round_of_draw[k], column[d[1]]] for k, d in enumerate(draws)]
    assert kept == pytest.approx([d[2] for d in draws], rel=1e-5)
    assert "within the set under its round's design" in estimate.basis
    audits = [item_id for _, item_id, _, rule in draws if item_id in answered and rule in {"audit", "floor"}]
    right = {r.id for r in by_status["human"] if r.label == r.annotator_label}
    assert estimate.audits == len(audits) and estimate.audits_right == sum(i in right for i in audits)
    # the status counts the same labels
    assert status.counts == {
        "seed": 6,
        "human": len(by_status["human"]),
        "set_aside": 0,
        "accepted": accepted,
        "proposed": len(by_status["proposed"]),
        "rejected": 0,
        "failed": 0,
    }
    assert status.labels == 6 + len(by_status["human"]) + accepted  # the labels the run vouches for: no proposals
    assert status.coverage == round((len(by_status["human"]) + accepted) / len(pool_ids), 4)
    assert status.by_source == dict(Counter(r.source for r in labels if r.status != "proposed"))
    # the memory holds exactly people's labels and seeds, never a machine label
    assert run.memory.ids() == {r.id for r in by_status["seed"] + by_status["human"]}
    history = status.history
    assert [h["round"] for h in history] == list(range(1, status.round + 1))
    assert history[0]["machine_annotated"] == len(pool_ids)  # the whole pool in bulk, in the first round
    assert all(sum(h["by_kind"].values()) == h["reviewed"] for h in history)
    assert history[-1]["accepted"] == accepted and history[-1]["coverage"] == status.coverage
    # the student learns from seeds, people's and accepted labels, and (student_learns_from: auto) from the
    # proposals too when the machine was right more often than the student on the blind checks
    with_proposals = run.store.meta("student_uses_proposals") == "yes"
    assert history[-1]["labels"] == status.labels + with_proposals * len(by_status["proposed"])
    return status, by_status


@pytest.mark.parametrize("strategy", ["hybrid", "random"])
def test_runs_to_the_budget_with_provenance(make_project, gold, tmp_path, strategy):
    run = Project.from_yaml(make_project(strategy=strategy)).start()
    status = run.run(simulated(run, gold))

    assert status.phase == "done"
    assert status.stop_reason.startswith("human-label budget spent")
    assert status.human_labels == 30 and status.machine_todo == 0
    status, by_status = check_provenance(run, gold)
    assert len(by_status["human"]) == 30 and len(by_status["accepted"] + by_status["proposed"]) == 90
    assert {r.kind for r in by_status["human"]} >= {"audit", "explore"}
    # every answer on a machine label estimates (weighted by its draw's probability); the estimate has a figure
    # exactly when it accepted some
    estimate = status.estimate
    assert estimate.target == 0.95 and estimate.checks >= 30
    assert (estimate.accuracy is None) == (estimate.lower is None) == (estimate.accepted == 0)
    # one history entry per round, the budget spent 10 at a time, test metrics measured every round
    assert [h["human_labels"] for h in status.history] == [10, 20, 30]
    assert all(h["reviewed"] == 10 and 0.0 <= h["macro_f1"] <= 1.0 for h in status.history)

    out = tmp_path / "labels.jsonl"
    labels = run.labels()
    assert run.export(out) == len(labels) == 126  # proposals included by default
    rows = read_jsonl(out)
    assert {row["id"] for row in rows} == {r.id for r in labels}
    assert {"source", "status", "round", "p_correct", "kind", "confidence", "verdict", "reasons"} <= set(rows[0])
    summary = json.loads((tmp_path / "labels.jsonl.summary.json").read_text())
    assert summary["labels"] == len(rows)
    assert summary["by_status"] == dict(Counter(row["status"] for row in rows))
    assert summary["estimate"]["accepted"] == status.counts["accepted"]
    vouched = tmp_path / "vouched.jsonl"
    assert run.export(vouched, include_proposed=False) == status.labels
    assert all(row["status"] != "proposed" for row in read_jsonl(vouched))


def test_accepted_machine_labels_are_labels_the_run_vouches_for(make_project, gold, tmp_path):
    """With the quality target off every machine label is accepted: they count, train the student and are
    exported as accepted, but never enter the memory; people are asked blind audits and explores, no fixes."""
    run = Project.from_yaml(make_project(quality={"enabled": False})).start()
    assert run.run(simulated(run, gold)).phase == "done"
    status, by_status = check_provenance(run, gold)
    assert len(by_status["accepted"]) == 90 and not by_status["proposed"]
    assert status.coverage == 1.0 and status.labels == 126 and status.history[-1]["labels"] == 126
    kinds = Counter(r.kind for r in by_status["human"])
    assert kinds["audit"] > 0 and kinds["explore"] > 0 and kinds["fix"] == 0  # nothing proposed: nothing to fix
    assert status.estimate.basis.startswith("quality target off")
    out = tmp_path / "labels.jsonl"
    assert run.export(out, include_proposed=False) == 126
    summary = json.loads((tmp_path / "labels.jsonl.summary.json").read_text())
    assert summary["by_status"] == {"seed": 6, "human": 30, "accepted": 90}


def test_the_per_label_estimate_counts_the_accepted_labels(make_project, gold):
    run = Project.from_yaml(make_project(quality={"enabled": False}, budget=10, max_rounds=1)).start()
    status = run.run(simulated(run, gold))
    accepted = Counter(r.label for r in run.labels() if r.status == "accepted")
    assert sum(accepted.values()) == status.estimate.accepted == 110
    assert {name: figures.accepted for name, figures in status.estimate.per_label.items()} == {
        name: accepted[name] for name in run.config.label_names
    }


def test_export_with_the_students_predictions_for_the_rest(make_project, gold, tmp_path):
    run = Project.from_yaml(make_project(budget=10, max_rounds=1)).start()
    status = run.run(simulated(run, gold))
    out = tmp_path / "all.jsonl"
    count = run.export(out, include_proposed=False, predictions=True)
    rows = read_jsonl(out)
    vouched = [row for row in rows if row["status"] != "predicted"]
    predicted = [row for row in rows if row["status"] == "predicted"]
    assert len(vouched) == status.labels and count == len(rows) == len({row["id"] for row in rows})
    pool = {row["id"] for row in read_jsonl(Path(run.config.pool))}
    assert {row["id"] for row in predicted} == pool - {row["id"] for row in vouched}  # every other pool text
    assert predicted and all(row["source"] == "student" and row["label"] in run.config.label_names for row in predicted)
    assert all(1 / len(run.config.label_names) <= row["confidence"] <= 1 for row in predicted)


def test_pauses_until_every_item_is_answered(make_project, gold):
    run = Project.from_yaml(make_project()).start()
    status = run.step()
    assert status.phase == "paused" and len(status.pending) == 10
    pending = run.pending_reviews()
    assert [item.id for item in pending] == status.pending
    assert status.pending_items == pending  # status --json carries the items themselves, texts and candidates
    assert all(item.candidates and item.reasons and item.round == 1 for item in pending)
    assert {item.kind for item in pending} <= {"fix", "audit", "explore"}
    for item in pending:
        if item.kind == "fix":  # the machine label is shown, to be fixed
            assert item.annotator_label in run.config.label_names and 0.0 <= item.p_correct <= 1.0
        else:  # audits and explores are blind: nothing of the machine's opinion may sway the answer
            assert item.annotator_label is None and item.p_correct is None
            assert all(c.probability is None for c in item.candidates)
    # round 1 has no calibrated critic yet: audits drawn uniformly, and the strategy's picks (fixes come later)
    assert any(item.kind == "audit" for item in pending) and any(item.kind == "explore" for item in pending)

    first = {item.id: gold[item.id] for item in pending[:4]}
    assert run.answer(first) == 4
    status = run.step()  # takes the four, waits for the rest
    assert status.phase == "paused" and len(status.pending) == 6 and status.human_labels == 0

    with pytest.raises(ReviewError, match="not pending"):
        run.answer({"no-such-item": "positive"})
    with pytest.raises(ReviewError, match="unknown label"):
        run.answer({status.pending[0]: "neutral"})
    skipped = status.pending[0]
    run.answer({skipped: None})  # set aside: never labelled, never asked again
    with pytest.raises(ConflictError):
        run.answer({skipped: "positive"})
    rest = {item_id: gold[item_id] for item_id in status.pending[1:]}
    run.answer(rest)
    status = run.step()
    labels = {r.id: r for r in run.labels()}
    assert all(labels[i].label == gold[i] and labels[i].source == "human" for i in {**first, **rest})
    assert skipped not in labels  # neither a person's label nor a machine label any more
    assert run.store.human()[skipped].label is None
    assert status.counts["set_aside"] == 1 and status.counts["human"] == 9
    assert status.history[0]["skipped"] == 1 and status.history[0]["reviewed"] == 9
    assert status.history[0]["human_labels"] == 9 == status.human_labels  # a set-aside costs no budget
    with pytest.raises(ConflictError, match="already committed"):
        run.answer({skipped: "positive"})

    asked_later: set[str] = set()
    while status.phase == "paused":
        asked_later |= set(status.pending)
        run.answer(simulated(run, gold).answer(run.pending_reviews()))
        status = run.step()
    assert status.phase == "done" and skipped not in asked_later
    assert status.human_labels == 30 and status.counts["set_aside"] == 1
    assert skipped not in {r.id for r in run.labels()}


def test_answers_survive_a_restart(make_project, gold):
    project = make_project()
    run = Project.from_yaml(project).start()
    run.step()
    waiting = run.pending_reviews()
    run.answer({item.id: gold[item.id] for item in waiting})
    run.close()
    again = Run.open(Project.from_yaml(project).config.run_dir)
    assert again.status().answered == [item.id for item in waiting]
    status = again.step()
    assert status.human_labels == 10
    humans = {r.id: r for r in again.labels() if r.source == "human"}
    assert {i: (r.label, r.kind) for i, r in humans.items()} == {
        item.id: (gold[item.id], item.kind) for item in waiting
    }
    assert again.memory.ids() == {r.id for r in again.labels() if r.status in {"seed", "human"}}


def test_cold_start_without_seeds_and_one_class(make_project, gold):
    run = Project.from_yaml(make_project(seed_size=0, test_size=0)).start()
    status = run.step()
    # nothing can vouch for a label yet: no seed, no answer, so no machine label is accepted
    assert status.labels == 0 and status.counts["accepted"] == 0 and len(status.pending) == 10
    assert status.counts["proposed"] == 120 and run.memory.count() == 0
    first = run.pending_reviews()
    run.answer({item.id: "positive" for item in first})  # a single class first: the student must cope
    status = run.step()
    assert status.phase in {"paused", "done"} and status.labels >= 10
    assert status.history[0]["human_labels"] == 10 and status.history[0]["macro_f1"] is None  # no test set
    assert run.run(simulated(run, gold)).phase == "done"


def test_stops_when_the_pool_is_exhausted(make_project, gold):
    run = Project.from_yaml(make_project(pool_size=25, budget=100)).start()
    status = run.run(simulated(run, gold))
    assert status.stop_reason == "pool exhausted"
    assert status.human_labels == 25 and status.labels == 25 + 6
    # people labelled every pool text: no machine label is left open
    assert status.counts["accepted"] == status.counts["proposed"] == 0
    assert {r.status for r in run.labels()} == {"seed", "human"}


def test_stops_when_predictions_stabilise(make_project, gold):
    rule = {"kappa": 0.7, "rounds": 2, "sample": 100}
    project = make_project(pool_size=120, budget=100, max_rounds=12, stop_when_stable=rule)
    run = Project.from_yaml(project).start()
    status = run.run(simulated(run, gold))
    kappas = [entry["stability"] for entry in status.history]
    assert kappas[0] is None  # nothing to compare with in the first round
    assert all(-1 <= k <= 1 for k in kappas[1:]) and any(k < 0.7 for k in kappas[1:])
    assert status.stop_reason == "predictions stable (kappa >= 0.7 for 2 rounds)", (status.stop_reason, kappas)
    stable = [k is not None and k >= 0.7 for k in kappas]
    first = next(n for n in range(1, len(stable)) if stable[n - 1] and stable[n])  # the first two stable rounds
    assert len(status.history) == first + 1 and status.human_labels < 100


def test_same_seed_same_labels(make_project, gold, tmp_path):
    exports, summaries = [], []
    for name in ("a", "b"):
        run = Project.from_yaml(make_project(run_dir=f"run-{name}", strategy="hybrid")).start()
        run.run(simulated(run, gold, noise=0.1))
        out = tmp_path / f"{name}.jsonl"
        run.export(out)
        exports.append(read_jsonl(out))
        summaries.append(json.loads((tmp_path / f"{name}.jsonl.summary.json").read_text()))
    statuses = {row["status"] for row in exports[0]}
    assert {"seed", "human"} < statuses <= {"seed", "human", "accepted", "proposed"}  # machine labels too
    assert exports[0] == exports[1]
    assert summaries[0] == summaries[1]


def test_pool_vectors_are_computed_once(make_project, gold, monkeypatch):
    from labelgraph.encoding.embedders import SentenceTransformerEmbedder

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


def test_ctrl_c_leaves_an_interrupted_run_that_resumes(make_project, gold):
    """Ctrl-C mid-round: the run says "interrupted" (not "running": no process runs it) and resumes."""
    run = Project.from_yaml(make_project()).start()

    def stop_after_select(node: str, update: dict) -> None:
        if node == "select":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run.step(stop_after_select)
    assert run.status().phase == "interrupted"
    with run.workspace.lock():  # while a process holds the run it is running
        assert run.phase == "running"
    assert run.run(simulated(run, gold)).phase == "done"


def test_a_finished_run_grows_with_new_run_time_settings(make_project, gold):
    """Raising max_rounds and budget continues a finished run (recorded in run.json); a new label set is refused."""
    project = make_project(budget=10, max_rounds=1)
    run = Project.from_yaml(project).start()
    first = run.run(simulated(run, gold))
    assert first.phase == "done" and first.round == 1 and first.stop_reason.startswith("human-label budget")
    run.close()

    config = yaml.safe_load(project.read_text())
    config.update(budget=20, max_rounds=2)
    project.write_text(yaml.safe_dump(config))
    run = Project.from_yaml(project).start()
    grown = run.run(simulated(run, gold))
    assert grown.phase == "done" and grown.round == 2 and grown.human_labels == 20
    history = json.loads((run.workspace.path / "run.json").read_text())["settings_history"]
    assert history[-1]["changed"] == {"budget": [10, 20], "max_rounds": [1, 2]}
    run.close()

    config["labels"] = {**config["labels"], "mixed": "both"} if isinstance(config["labels"], dict) else [
        *config["labels"], "mixed"]  # fmt: skip
    project.write_text(yaml.safe_dump(config))
    with pytest.raises(RunError, match="labels, which give its labels their meaning"):
        Project.from_yaml(project).start()


def test_a_batch_an_earlier_version_took_in_part_goes_on(make_project, gold, tmp_path):
    """A folder paused by an earlier version, whose graph took 4 answers of 10 at a partial resume: the 4 count as
    answered (status showed them lost), a sheet repeating them is given again, a change to one is refused in one
    line (the graph holds it), and the last answers commit all 10."""
    from langgraph.types import Command

    from labelgraph.cli.review_file import read_back

    run = Project.from_yaml(make_project()).start()
    run.step()
    waiting = [item.id for item in run.pending_reviews()]
    first = {item_id: gold[item_id] for item_id in waiting[:4]}
    run.answer(first)
    with run.workspace.lock():  # what the earlier step did with a partly answered batch
        run.store.claim_answers(list(first))
        for _ in run.graph.stream(Command(resume=first), run._thread, context=run.context, durability="sync"):
            pass
    status = run.status()
    assert status.phase == "paused" and status.answered == waiting[:4] and status.pending == waiting[4:]
    assert run.held() == set(waiting[:4])

    changed = {**{i: gold[i] for i in waiting}, waiting[0]: next(x for x in LABELS if x != gold[waiting[0]])}
    sheet = tmp_path / "answers.jsonl"
    sheet.write_text("".join(json.dumps({"id": i, "label": label}) + "\n" for i, label in changed.items()))
    with pytest.raises(ConflictError, match="already answered"):
        read_back(run, sheet, reviewer="t")
    with pytest.raises(ConflictError, match="already with the run, to be committed with its round"):
        read_back(run, sheet, reviewer="t", correct=True)
    assert run.status().pending == waiting[4:]  # nothing stored by the refused files
    sheet.write_text("".join(json.dumps({"id": i, "label": gold[i]}) + "\n" for i in waiting))
    read = read_back(run, sheet, reviewer="t")
    assert (read.recorded, read.unchanged, read.waiting) == (6, 4, 0)
    status = run.step()
    assert status.round == 2 and status.human_labels == 10
    assert {r.id: r.label for r in run.labels() if r.source == "human"} == {i: gold[i] for i in waiting}
