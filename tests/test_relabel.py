"""Relabelling after the commit, with the real parts (SQLite label store, embedded Chroma memory, the embedded
annotator and critic): the new label reaches the store, the memory, the student and the critic; the old one stays
in a history the export carries; what cannot be relabelled is refused in one line and changes nothing."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
import yaml

from labelgraph.agents.human import SimulatedHuman
from labelgraph.critic import rounds
from labelgraph.data import LabelChange
from labelgraph.errors import ConflictError, ReviewError, RunError
from labelgraph.session.run import Project, Run
from tests.conftest import EXAMPLE, LABELS, invoke_cli, read_jsonl, write_jsonl

OTHER = {"positive": "negative", "negative": "positive"}


@pytest.fixture(scope="module")
def committed(tmp_path_factory, gold) -> Path:
    """A run folder paused in round 2: round 1's answers committed (one item set aside), round 2's waiting."""
    folder = tmp_path_factory.mktemp("committed")
    for name, size in (("pool", 120), ("seed", 6), ("test", 100)):
        write_jsonl(folder / f"{name}.jsonl", read_jsonl(EXAMPLE / f"{name}.jsonl")[:size])
    config = {"name": "t", "pool": "pool.jsonl", "seed": "seed.jsonl", "test": "test.jsonl", "labels": LABELS}
    (folder / "project.yaml").write_text(
        yaml.safe_dump({**config, "batch_size": 10, "budget": 30, "max_rounds": 6, "run_dir": "run"})
    )
    run = Project.from_yaml(folder / "project.yaml").start()
    run.step()
    answers = SimulatedHuman(gold, run.config.label_names).answer(run.pending_reviews())
    aside = next(item.id for item in run.pending_reviews() if item.kind == "explore")
    run.answer({**answers, aside: None})
    status = run.step()
    assert status.phase == "paused" and status.round == 2 and status.counts["set_aside"] == 1
    run.close()
    return folder / "run"


@pytest.fixture
def run(committed, tmp_path):
    """A copy of the committed run, opened."""
    shutil.copytree(committed, tmp_path / "run")
    opened = Run.open(tmp_path / "run")
    yield opened
    opened.close()


def state(run: Run) -> tuple:
    """What a relabel changes: people's answers, their history, the memory's labels."""
    human = run.store.human()
    return human, run.store.relabels(), run.memory.labels(sorted(human))


def audits_right(run: Run) -> int:
    """The audits the critic counts right, as the next look would (the run is a copy: the look may write)."""
    status = run.status()
    return rounds.look(run.context, status.round, status.human_labels).audits_right


def test_a_committed_answer_is_relabelled_everywhere_and_its_old_label_kept(run, gold, tmp_path):
    human = run.store.human()
    audit = next(h for h in human.values() if h.kind == "audit" and h.label == h.machine_label)
    aside = next(h.id for h in human.values() if h.label is None)
    seed = next(h for h in human.values() if h.kind == "seed")
    new = OTHER[audit.label]
    right_before = audits_right(run)
    assert run.memory.labels([audit.id]) == {audit.id: audit.label} and aside not in run.memory.ids()

    changed = run.relabel({audit.id: new, aside: "positive", seed.id: seed.label}, reviewer="ana", note="misread")
    assert sorted(changed) == sorted([audit.id, aside])  # the seed's label is the same: nothing to change
    assert changed[audit.id].old_label == audit.label and changed[aside].old_label is None

    again = Run.open(run.workspace.path)  # what the folder holds, not this object's memory
    stored = again.store.human()
    assert stored[audit.id].label == new and stored[aside].label == "positive"
    assert stored[audit.id].kind == "audit" and stored[audit.id].machine_label == audit.machine_label
    [change] = again.store.relabels()[audit.id]
    assert (change.by, change.old_label, change.new_label, change.note) == ("ana", audit.label, new, "misread")
    assert seed.id not in again.store.relabels()
    # the memory (the annotator's examples) holds the new labels, the set-aside item now too
    assert again.memory.labels([audit.id, aside]) == {audit.id: new, aside: "positive"}
    # the student learns the new label; the critic's blind audits count it: this audit now disagrees
    training = again.context.training_set()
    assert training[audit.id] == (new, 1.0) and training[aside] == ("positive", 1.0)
    assert audits_right(again) == right_before - 1

    out = tmp_path / "labels.jsonl"
    again.export(out)
    rows = {row["id"]: row for row in read_jsonl(out)}
    assert rows[audit.id]["label"] == new and rows[audit.id]["relabelled_from"] == audit.label
    assert rows[audit.id]["source"] == "human" and rows[audit.id]["kind"] == "audit"
    assert [LabelChange(**c) for c in rows[audit.id]["label_history"]] == [change]
    assert rows[aside]["label"] == "positive" and rows[aside]["relabelled_from"] is None
    assert rows[seed.id]["relabelled_from"] is None and rows[seed.id]["label_history"] == []
    sheet = tmp_path / "labels.csv"
    again.export(sheet)
    with sheet.open(newline="") as handle:
        cells = {row["id"]: row for row in csv.DictReader(handle)}
    assert cells[audit.id]["relabelled_from"] == audit.label
    assert json.loads(cells[audit.id]["label_history"])[0]["new_label"] == new
    assert cells[seed.id]["label_history"] == ""

    # the next round commits its own answers and leaves the relabelled ones as they are
    again.answer(SimulatedHuman(gold, again.config.label_names).answer(again.pending_reviews()))
    status = again.step()
    assert status.round == 3 or status.phase == "done"
    assert again.store.human()[audit.id].label == new and len(again.store.relabels()[audit.id]) == 1
    assert again.memory.labels([audit.id]) == {audit.id: new}
    assert status.counts["set_aside"] == 0
    assert {r.id: r.label for r in again.labels()}[audit.id] == new
    again.close()


def test_what_cannot_be_relabelled_is_refused_and_nothing_changes(run, gold):
    human = run.store.human()
    answered = next(h for h in human.values() if h.label is not None and h.kind != "seed")
    waiting = [item.id for item in run.pending_reviews()]
    run.answer({waiting[0]: gold[waiting[0]]})  # answered, not yet committed
    machine = next(v.id for v in run.store.verdicts().values() if v.id not in human and v.id not in waiting)
    before = state(run)
    refused = {
        "zzz": (ReviewError, "unknown item 'zzz'"),
        waiting[0]: (ReviewError, "answered but not yet committed: change its answer with 'labelgraph review"),
        waiting[1]: (ReviewError, "waits for review, unanswered"),
        machine: (ReviewError, "machine label, no person's"),
    }
    for item_id, (error, message) in refused.items():
        with pytest.raises(error, match=message):
            run.relabel([(answered.id, OTHER[answered.label]), (item_id, "positive")])  # all or none
        assert state(run) == before
    with pytest.raises(ReviewError, match="unknown label 'neutral'"):
        run.relabel({answered.id: "neutral"})
    with run.workspace.lock(), pytest.raises(RunError, match="a process is running this run"):
        Run.open(run.workspace.path).relabel({answered.id: OTHER[answered.label]})
    assert state(run) == before
    # the store's own guard: a change made from an answer that is no longer the committed one
    stale = LabelChange(at="now", by="x", old_label=OTHER[answered.label], new_label=answered.label)
    with pytest.raises(ConflictError, match="changed meanwhile"):
        run.store.relabel([(answered.id, stale)])
    assert state(run) == before


def test_the_memory_catches_up_with_a_relabel_it_missed(run, gold):
    """Killed between the label store's write and the memory's: the next step puts the new label in the memory."""
    answer = next(h for h in run.store.human().values() if h.label is not None and h.kind != "seed")
    change = LabelChange(at="now", by="x", old_label=answer.label, new_label=OTHER[answer.label])
    run.store.relabel([(answer.id, change)])  # the store only, as if the process died before the memory's write
    assert run.memory.labels([answer.id]) == {answer.id: answer.label}
    run.answer(SimulatedHuman(gold, run.config.label_names).answer(run.pending_reviews()))
    run.step()
    assert run.memory.labels([answer.id]) == {answer.id: change.new_label}


def one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, (result.stdout, result.stderr, result.exception)
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr)


def test_relabel_and_review_answers_through_the_cli(run, gold, tmp_path):
    folder = run.workspace.path
    human = run.store.human()
    first, second = [h for h in human.values() if h.label is not None and h.kind != "seed"][:2]
    before = state(run)
    one_line_error(invoke_cli("relabel", folder, "zzz", "positive"), "unknown item 'zzz'")
    one_line_error(invoke_cli("relabel", folder, first.id, "neutral"), "unknown label 'neutral'")
    with run.workspace.lock():
        one_line_error(invoke_cli("relabel", folder, first.id, OTHER[first.label]), "running this run")
    assert state(run) == before

    done = invoke_cli("relabel", folder, first.id, OTHER[first.label], "--note", "sarcasm", "--reviewer", "ana")
    assert done.exit_code == 0, done.stderr
    assert f"relabelled {first.id}: {first.label} -> {OTHER[first.label]}" in done.stdout
    assert f"labelgraph resume {folder}" in done.stdout
    same = invoke_cli("relabel", folder, first.id, OTHER[first.label])
    assert same.exit_code == 0 and "nothing changed" in same.stdout
    [change] = run.store.relabels()[first.id]
    assert (change.by, change.note) == ("ana", "sarcasm")

    # a spreadsheet kept past the commit: the committed rows are the same answers again, or corrections
    waiting = [item.id for item in run.pending_reviews()]
    rows = [{"id": h.id, "label": h.label} for h in (second,)] + [{"id": i, "label": gold[i]} for i in waiting[:2]]
    sheet = write_jsonl(tmp_path / "answers.jsonl", rows)
    grown = invoke_cli("review", folder, "--answers", sheet)
    assert grown.exit_code == 0 and "recorded 2 answers (1 given before, unchanged)" in grown.stdout, grown.stderr
    corrected = write_jsonl(tmp_path / "corrected.jsonl", [{**rows[0], "label": OTHER[second.label]}, *rows[1:]])
    before = state(run)
    one_line_error(
        invoke_cli("review", folder, "--answers", corrected),
        "corrected.jsonl, line 1",
        "already committed",
        "--correct",
    )
    assert state(run) == before
    fixed = invoke_cli("review", folder, "--answers", corrected, "--correct", "--reviewer", "bo")
    assert fixed.exit_code == 0, fixed.stderr
    assert "(2 given before, unchanged) (1 committed ones relabelled, the old labels kept)" in fixed.stdout
    assert run.store.human()[second.id].label == OTHER[second.label]
    assert [(c.by, c.old_label) for c in run.store.relabels()[second.id]] == [("bo", second.label)]
    assert run.memory.labels([second.id]) == {second.id: OTHER[second.label]}
    unchanged = invoke_cli("review", folder, "--answers", corrected, "--correct")
    assert unchanged.exit_code == 0 and "(3 given before, unchanged)" in unchanged.stdout
    assert len(run.store.relabels()[second.id]) == 1

    out = tmp_path / "labels.jsonl"
    assert invoke_cli("export", folder, "-o", out).exit_code == 0
    exported = {row["id"]: row for row in read_jsonl(out)}
    assert exported[first.id]["label"] == OTHER[first.label] and exported[first.id]["relabelled_from"] == first.label
    assert exported[second.id]["label_history"][0]["by"] == "bo"
