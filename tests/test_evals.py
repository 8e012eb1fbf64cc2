"""Evals: the figures, the simulated annotators, and a small eval through the CLI (real loop, real files)."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console
from sklearn.metrics import roc_auc_score

from labelgraph.data import Item
from labelgraph.evals.annotators import (
    DifficultyAnnotator,
    DifficultyLLM,
    NoAnnotator,
    ReplayAnnotator,
    SimulatedAnnotator,
    text_model_probabilities,
)
from labelgraph.evals.frontier import baseline_coverage, frontier_size, oracle_coverage
from labelgraph.evals.metrics import aulc, labels_to_reach, mean_std
from labelgraph.evals.report import print_report, sections
from labelgraph.stores.labels import LabelStore
from tests.conftest import EXAMPLE, ROOT, cli_env, invoke_cli, read_jsonl, write_jsonl


def test_figures():
    assert aulc([0, 10, 20], [0.5, 0.5, 1.0]) == pytest.approx((5 + 7.5) / 20)
    assert aulc([0, 10], [0.8, 0.8]) == pytest.approx(0.8)
    # over the budget: a run that stops early is carried flat, one that overshoots is cut
    assert aulc([0, 20], [0.5, 0.9], until=200) == pytest.approx((0.7 * 20 + 0.9 * 180) / 200)
    assert aulc([0, 20, 200], [0.5, 0.9, 0.9], until=200) == pytest.approx(aulc([0, 20], [0.5, 0.9], until=200))
    assert aulc([0, 0, 0], [0.2, 0.5, 0.8], until=100) == pytest.approx(0.8)  # no human label: the last value
    assert aulc([0, 10, 30], [0.0, 1.0, 1.0], until=20) == pytest.approx((5 + 10) / 20)
    assert labels_to_reach([0, 10, 20], [0.1, 0.6, 0.9], 0.5) == 10
    assert labels_to_reach([0, 10], [0.1, 0.2], 0.5) is None
    assert mean_std([1.0, 3.0, None]) == {"mean": 2.0, "std": 1.0, "n": 2}
    assert mean_std([None]) == {"mean": None, "std": None, "n": 0}


def test_replay_and_simulated_annotators(tmp_path):
    recorded = write_jsonl(
        tmp_path / "llm.jsonl",
        [{"text": "good", "llm_label": "positive"}, {"text": "meh", "llm_label": None}],
    )
    items = [Item(id="a", text="good"), Item(id="b", text="meh"), Item(id="c", text="unseen")]
    answers = ReplayAnnotator(recorded, ["negative", "positive"]).annotate(items, np.zeros((3, 2)), [[], [], []])
    assert [a.label for a in answers] == ["positive", None, None]
    assert "abstained" in answers[1].error and "no recorded answer" in answers[2].error
    assert NoAnnotator().annotate(items[:1], np.zeros((1, 2)), [[]])[0].label is None

    gold = {f"i{n}": "positive" if n % 2 else "negative" for n in range(2000)}
    reference = {k: np.array([0.3, 0.7]) for k in gold}
    simulated = SimulatedAnnotator(gold, reference, ["negative", "positive"], accuracy=0.8, seed=1)
    many = [Item(id=k, text="t") for k in gold]
    labels = [a.label for a in simulated.annotate(many, np.zeros((2000, 2)), [[]] * 2000)]
    right = np.mean([label == gold[k] for k, label in zip(gold, labels, strict=True)])
    assert 0.77 < right < 0.83
    again = [a.label for a in simulated.annotate(many, np.zeros((2000, 2)), [[]] * 2000)]
    assert labels == again  # the same answers every time

    # simulated:ACC:flat: the same answers, but a stated confidence that says nothing (1.0, a one-hot distribution)
    flat = SimulatedAnnotator(gold, reference, ["negative", "positive"], accuracy=0.8, seed=1, informative=False)
    answers = flat.annotate(many, np.zeros((2000, 2)), [[]] * 2000)
    assert [a.label for a in answers] == labels
    assert all(a.confidence == 1.0 and a.distribution[a.label] == 1.0 for a in answers)
    informative = simulated.annotate(many[:4], np.zeros((4, 2)), [[]] * 4)
    assert {a.confidence for a in informative} <= {0.3, 0.7}  # the reference probability of the label given


def eval_data(tmp_path):
    """The example pool (with its gold labels) as an eval's train file, and 100 test texts."""
    gold = {row["id"]: row["label"] for row in read_jsonl(EXAMPLE / "gold.jsonl")}
    train = write_jsonl(
        tmp_path / "train.jsonl",
        [{"text": r["text"], "label": gold[r["id"]]} for r in read_jsonl(EXAMPLE / "pool.jsonl")],
    )
    return train, write_jsonl(tmp_path / "test.jsonl", read_jsonl(EXAMPLE / "test.jsonl")[:100])


def run_folder_figures(run: Path) -> dict:
    """What a finished eval run's own files say, read straight from its label store against its pool's gold."""
    gold = {row["id"]: row["label"] for row in read_jsonl(run.parent / "pool.jsonl")}
    seeds = len(read_jsonl(run.parent / "seed.jsonl"))
    store = LabelStore(run / "labels.sqlite")
    try:
        human, verdicts = store.human(), store.verdicts()
    finally:
        store.close()
    people = [h for h in human.values() if h.kind != "seed" and h.label is not None]
    open_labels = {i: v for i, v in verdicts.items() if i not in human and v.status != "rejected"}
    accepted = [v for v in open_labels.values() if v.status == "accepted"]
    return {
        "pool": len(gold),
        "people": people,
        "by_kind": dict(Counter(h.kind for h in people)),
        "people_right": all(h.label == gold[h.id] for h in people),
        "accepted": len(accepted),
        "accepted_right": sum(v.label == gold[v.id] for v in accepted),
        "coverage": round((seeds + len(people) + len(accepted)) / len(gold), 4),
        "annotator_alone": round(float(np.mean([v.label == gold[i] for i, v in open_labels.items()])), 4),
    }


def test_small_eval_through_the_cli(tmp_path):
    train, test = eval_data(tmp_path)
    out = tmp_path / "eval"
    args = ["eval", "--train", train, "--test", test, "--strategies", "random,margin", "--annotator", "simulated:0.85",
            "--seed-size", "6", "--batch-size", "10", "--budget", "20", "--seeds", "2", "--pool-size", "150",
            "--audit", "0.1", "--student-learns-from", "accepted", "--out", out]  # fmt: skip
    result = invoke_cli(*args)
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    results = json.loads((out / "results.json").read_text())
    assert set(results) >= {"curves", "summary", "reference", "lanes", "simulation", "spec"}
    assert "routing" not in results
    assert results["simulation"]["annotator_is_simulated"] is True
    spec = results["spec"]
    assert (spec["quality_target"], spec["audit"], spec["student_learns_from"]) == (0.95, 0.1, "accepted")
    for strategy in ("random", "margin"):
        assert set(results["curves"][strategy]) == {"0", "1"}
        for seed, points in results["curves"][strategy].items():
            assert [p["human_labels"] for p in points] == [0, 10, 20]
            assert {"human_labels", "labels", "coverage", "accepted", "estimated_accuracy", "macro_f1", "accuracy",
                    "by_kind", "llm_calls", "llm_cost"} <= set(points[-1])  # fmt: skip
            assert all(sum(p["by_kind"].values()) == 10 for p in points[1:])  # a full batch each round
            # the student learns from the seeds, people's labels and the accepted machine labels
            assert all(p["labels"] == 6 + p["human_labels"] + p["accepted"] for p in points[1:])
            assert all(0 <= p["macro_f1"] <= 1 for p in points)
            lane = results["lanes"][f"{strategy}-s{seed}"]
            figures = run_folder_figures(out / "runs" / f"{strategy}-s{seed}" / "run")
            assert lane["pool"] == figures["pool"] == 150
            assert lane["human_labels"] == len(figures["people"]) == 20 and figures["people_right"]
            assert lane["human_by_kind"] == figures["by_kind"]
            assert set(figures["by_kind"]) <= {"explore", "fix", "audit"}
            # 20 answers cannot give a set the 30 checks it needs inside: nothing is accepted yet
            assert lane["machine_accepted"] == figures["accepted"] == points[-1]["accepted"] == 0
            assert lane["accepted_accuracy"] is None and lane["estimated_label_accuracy"] is None
            assert lane["final_label_accuracy"] == 1.0  # seeds and a noiseless person's labels only
            assert lane["coverage"] == figures["coverage"] == points[-1]["coverage"] == round(26 / 150, 4)
            assert lane["annotator_alone"] == figures["annotator_alone"]
            assert lane["routing_auroc"] is None or 0 <= lane["routing_auroc"] <= 1
            assert lane["accuracy_coverage"] and lane["accuracy_coverage"][-1]["coverage"] == 1.0
            assert lane["labels"] == 6 + 20 and lane["seed_labels"] == 6  # the seed set counted, as in the summary
        summary = results["summary"][strategy]
        assert summary["labels"]["mean"] == 26
        assert summary["aulc"]["n"] == 2 and summary["aulc"]["std"] >= 0
        assert summary["human_labels"]["mean"] == 20 and summary["machine_accepted"]["mean"] == 0
        assert summary["accepted_accuracy"]["n"] == 0  # no seed accepted anything: no figure, not a zero
        lanes = [results["lanes"][f"{strategy}-s{seed}"] for seed in (0, 1)]
        assert summary["annotator_alone_accuracy"]["mean"] == pytest.approx(
            np.mean([lane["annotator_alone"] for lane in lanes]), abs=1e-4
        )
    assert set(results["lanes"]) == {"random-s0", "random-s1", "margin-s0", "margin-s1"}
    assert 0 < results["reference"]["macro_f1"] <= 1
    for name in ("learning_curves.png", "coverage.png", "accuracy_coverage.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = (out / "report.md").read_text()
    assert "| random |" in report and "| margin |" in report
    assert " ± " in report and "2 seeds [0, 1]" in report
    assert "## The two lanes" not in report  # shown once some run accepted machine labels

    again = invoke_cli(*args)  # finished runs are reused: the same figures
    assert again.exit_code == 0
    reread = json.loads((out / "results.json").read_text())
    assert reread["curves"] == results["curves"] and reread["lanes"] == results["lanes"]
    other = invoke_cli(*[("100" if arg == "150" else arg) for arg in args])  # another pool in the same folder
    assert other.exit_code == 2 and "was simulated on other data (pool.jsonl differs" in other.stderr, other.stderr


def test_eval_reports_the_accepted_machine_labels_against_gold(tmp_path):
    train, test = eval_data(tmp_path)
    out = tmp_path / "eval"
    result = invoke_cli(
        "eval", "--train", train, "--test", test, "--strategies", "random", "--annotator", "simulated:0.85",
        "--seed-size", "6", "--batch-size", "20", "--budget", "100", "--seeds", "1", "--pool-size", "400",
        "--quality-target", "0.85", "--out", out,
    )  # fmt: skip
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    results = json.loads((out / "results.json").read_text())
    assert results["spec"]["quality_target"] == 0.85
    lane = results["lanes"]["random-s0"]
    figures = run_folder_figures(out / "runs" / "random-s0" / "run")
    points = results["curves"]["random"]["0"]
    # 100 answers, about half of them blind: the critic accepts machine labels, measured against gold
    assert lane["machine_accepted"] == figures["accepted"] == points[-1]["accepted"] > 0
    assert lane["accepted_accuracy"] == round(figures["accepted_right"] / figures["accepted"], 4)
    assert lane["accepted_accuracy"] >= 0.85  # the quality target holds for the labels taken
    assert lane["estimate_lower"] >= 0.85  # accepted because the lower bound met the target
    assert lane["estimate_lower"] <= lane["estimated_label_accuracy"] <= lane["estimate_upper"]
    error = lane["estimated_label_accuracy"] - lane["accepted_accuracy"]
    assert lane["estimate_error"] == pytest.approx(error, abs=2e-4)
    assert lane["coverage"] == figures["coverage"] == points[-1]["coverage"]
    assert lane["coverage"] > round(106 / 400, 4)  # more of the pool than seeds and people's labels
    assert lane["human_labels"] == 100 and lane["human_by_kind"] == figures["by_kind"]
    assert lane["annotator_alone"] == figures["annotator_alone"]
    assert lane["routing_auroc"] > 0.8  # p_correct ranks the right machine labels above the wrong ones
    curve = lane["accuracy_coverage"]
    assert [p["labels"] for p in curve] == sorted(p["labels"] for p in curve)
    assert curve[-1]["true_accuracy"] == lane["annotator_alone"]  # every open machine label taken
    summary = results["summary"]["random"]
    assert summary["machine_accepted"]["mean"] == lane["machine_accepted"]
    assert summary["accepted_accuracy"]["mean"] == lane["accepted_accuracy"]
    # both tables count the same labels: the seed set, people's and the accepted machine labels
    assert lane["labels"] == 6 + 100 + lane["machine_accepted"] == summary["labels"]["mean"]
    report = (out / "report.md").read_text()
    assert "## The two lanes" in report
    row = (
        f"| random-s0 | {lane['coverage']:.1%} | {lane['frontier_coverage']:.1%} | {lane['frontier_share']:.2f} "
        f"| {lane['uniform_audit_coverage']:.1%} | {lane['oracle_coverage']:.1%} | {lane['machine_accepted']} "
        f"| {lane['accepted_accuracy']:.1%} |"
    )
    assert row in report
    summary_row = next(line for line in report.splitlines() if line.startswith("| random |"))
    assert f" | {lane['labels']} | " in summary_row
    assert "±" not in report and "1 seed [0]" in report  # one seed: no spread to show
    assert (out / "accuracy_coverage.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # piped into a log, 80 columns: every table row on one line, no cell cut short
    piped = io.StringIO()
    print_report(results, Console(file=piped, width=80, highlight=False, soft_wrap=True))
    lines = piped.getvalue().splitlines()
    assert "…" not in piped.getvalue()
    rows = [row for block in sections(results) if isinstance(block, tuple) for row in [block[0], *block[1]]]
    assert len(rows) == 4  # two tables, a header and a row each
    for row in rows:
        assert any(re.fullmatch(r"\s+".join(map(re.escape, row)) + r"\s*", line) for line in lines), (row, lines)


def test_critic_off_accepts_every_annotation(tmp_path):
    train, test = eval_data(tmp_path)
    out = tmp_path / "eval"
    result = invoke_cli(
        "eval", "--train", train, "--test", test, "--strategies", "random", "--annotator", "simulated:0.85",
        "--seed-size", "6", "--batch-size", "10", "--budget", "20", "--seeds", "1", "--pool-size", "150",
        "--critic", "off", "--out", out,
    )  # fmt: skip
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    lane = json.loads((out / "results.json").read_text())["lanes"]["random-s0"]
    figures = run_folder_figures(out / "runs" / "random-s0" / "run")
    # the baseline for the critic: every machine label nobody checked is taken as it is
    assert lane["coverage"] == 1.0
    assert lane["machine_accepted"] == figures["accepted"] == 150 - 6 - 20
    assert lane["accepted_accuracy"] == lane["annotator_alone"]


def test_eval_names_the_files_it_wrote(tmp_path):
    train, test = eval_data(tmp_path)
    out = tmp_path / "eval"
    result = invoke_cli(
        "eval", "--train", train, "--test", test, "--strategies", "random", "--annotator", "none",
        "--seed-size", "6", "--batch-size", "10", "--budget", "10", "--seeds", "1", "--pool-size", "60", "--out", out,
    )  # fmt: skip
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    line = next(line for line in result.stdout.splitlines() if line.startswith("wrote "))
    named = {name.strip().rsplit("/", 1)[-1] for name in line.removeprefix("wrote ").split(",")}
    assert named == {path.name for path in out.iterdir() if path.is_file()}
    assert "accuracy_coverage.png" not in named  # no machine labels: no accuracy to plot against coverage


def test_unknown_dataset_is_a_clear_error(tmp_path):
    result = invoke_cli("eval", "no-such-dataset", "--out", tmp_path)
    assert result.exit_code == 2 and "dataset 'no-such-dataset' not found" in result.stderr


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        (["--critic", "x"], "field 'critic'"),
        (["--budget", "10"], "budget (10) is smaller than one batch (20)"),
        (["--annotator", "llm"], "needs a model"),
        (["--annotator", "magic"], "unknown annotator 'magic'"),
        (["--annotator", "replay:nowhere.jsonl"], "no such file 'nowhere.jsonl'"),
        (["--annotator", "simulated:high"], "give an accuracy from 0 to 1"),
        (["--seeds", "0"], "field 'seeds'"),
        (["--strategies", ","], "field 'strategies'"),
        (["--strategies", "random,psychic"], "unknown strategy 'psychic'"),
    ],
)
def test_bad_eval_options_are_one_line_before_any_work(tmp_path, options, fragment):
    result = invoke_cli("eval", "no-such-dataset", "--out", tmp_path, *options)  # options fail before the data
    assert result.exit_code == 2 and fragment in result.stderr, (result.stderr, result.exception)
    assert "Traceback" not in result.stderr + result.stdout and not any(tmp_path.iterdir())


def test_eval_with_the_llm_annotator_counts_calls_and_cost(tmp_path):
    from labelgraph.testing import ScriptedLLM

    gold = {row["id"]: row["label"] for row in read_jsonl(EXAMPLE / "gold.jsonl")}
    pool = read_jsonl(EXAMPLE / "pool.jsonl")
    by_text = {r["text"]: gold[r["id"]] for r in pool}
    train = write_jsonl(tmp_path / "train.jsonl", [{"text": r["text"], "label": gold[r["id"]]} for r in pool])
    test = write_jsonl(tmp_path / "test.jsonl", read_jsonl(EXAMPLE / "test.jsonl")[:60])
    with ScriptedLLM(labeller=lambda text: by_text.get(text, "positive")) as server:
        result = invoke_cli(
            "eval", "--train", train, "--test", test, "--strategies", "random", "--annotator", "llm",
            "--llm-model", "scripted", "--llm-base-url", server.url, "--seed-size", "10", "--batch-size", "10",
            "--budget", "10", "--rounds", "3", "--seeds", "1", "--pool-size", "100", "--out", tmp_path / "eval",
            "--llm-samples", "2", "--llm-logprobs",
        )  # fmt: skip
        calls = len(server.requests)
        sampled = [r["temperature"] for r in server.requests].count(0.7)
    assert sampled * 2 == calls and all(r.get("logprobs") for r in server.requests)  # two answers an item, logprobs
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    results = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert results["simulation"]["annotator_is_simulated"] is False
    points = results["curves"]["random"]["0"]
    assert sum(p.get("llm_calls", 0) for p in points) == calls > 0
    assert all(p["llm_tokens"] > 0 for p in points[1:])  # the machine lane annotates every round
    assert results["summary"]["random"]["llm_calls"]["mean"] == calls
    # the scripted model answers with gold labels: every machine label the critic scored is right
    assert results["lanes"]["random-s0"]["annotator_alone"] == 1.0


def test_simulated_annotator_and_person_err_independently():
    from labelgraph.agents.human import ReviewItem, SimulatedHuman

    labels = ["positive", "negative"]
    gold = {f"i{n}": labels[n % 2] for n in range(2000)}
    reference = {i: np.array([0.5, 0.5]) for i in gold}
    items = [Item(id=i, text="t") for i in gold]
    annotated = SimulatedAnnotator(gold, reference, labels, accuracy=0.7, seed=1).annotate(items, None, [])
    machine_wrong = {a.id for a in annotated if a.label != gold[a.id]}
    person = SimulatedHuman(gold, labels, noise=0.3, seed=1)
    answers = person.answer(ReviewItem(id=i, text="t", round=1, candidates=[]) for i in gold)
    person_wrong = {i for i, label in answers.items() if label != gold[i]}
    both = len(machine_wrong & person_wrong)  # independent: about 0.3 * 0.3 * 2000 = 180
    assert 500 < len(machine_wrong) < 700 and 500 < len(person_wrong) < 700 and 120 < both < 240, both


def test_students_side_by_side_in_one_report(tmp_path):
    train, test = eval_data(tmp_path)
    out = tmp_path / "eval"
    result = invoke_cli("eval", "--train", train, "--test", test, "--strategies", "random", "--annotator", "none",
                        "--student", "logistic,finetune", "--seed-size", "6", "--batch-size", "10", "--budget", "20",
                        "--seeds", "1", "--pool-size", "60", "--test-size", "40", "--out", out)  # fmt: skip
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    results = json.loads((out / "results.json").read_text())
    assert set(results["curves"]) == set(results["summary"]) == {"random+logistic", "random+finetune"}
    assert set(results["references"]) == {"logistic", "finetune"}
    assert all(r["labels"] == 60 and r["fit_seconds"] >= 0 for r in results["references"].values())
    assert all(0 < points[-1]["macro_f1"] <= 1 for by_seed in results["curves"].values() for points in by_seed.values())
    lines = (out / "report.md").read_text().splitlines()
    assert any(line.endswith("; critic on.") for line in lines)
    assert [line.split(":")[0] for line in lines if line.startswith("Full supervision")] == [
        "Full supervision (the logistic student on all 60 gold training labels)",
        "Full supervision (the finetune student on all 60 gold training labels)",
    ]


def test_the_difficulty_annotator_errs_where_texts_are_hard():
    rows = read_jsonl(EXAMPLE / "pool.jsonl")
    gold = {row["id"]: row["label"] for row in read_jsonl(EXAMPLE / "gold.jsonl")}
    labels = ["negative", "positive"]
    texts, truth = [r["text"] for r in rows], [gold[r["id"]] for r in rows]
    probabilities = text_model_probabilities(texts, truth, labels)
    assert probabilities.shape == (len(rows), 2) and np.allclose(probabilities.sum(axis=1), 1)
    answers = {}
    for seed in (0, 1):
        annotator = DifficultyAnnotator(dict(zip([r["id"] for r in rows], truth, strict=True)), probabilities, labels,
                                        0.8, seed)  # fmt: skip
        made = annotator.annotate([Item(id=r["id"], text=r["text"]) for r in rows], np.zeros((len(rows), 2)), [])
        right = np.array([a.label == gold[a.id] for a in made])
        assert right.mean() == pytest.approx(0.8, abs=1 / len(rows))  # exactly the accuracy asked for
        # the wrong answers sit where the text model gives the true label little probability
        p_true = probabilities[np.arange(len(rows)), [labels.index(t) for t in truth]]
        assert p_true[~right].mean() < p_true[right].mean() - 0.1
        # its confidence is its answer's probability, the answer first, sharpened: informative, not a giveaway
        assert all(a.confidence == max(a.distribution.values()) == a.distribution[a.label] for a in made)
        confidence = np.array([a.confidence for a in made])
        assert 0.5 < roc_auc_score(right, confidence) < 0.95
        answers[seed] = [a.label for a in made]
    assert answers[0] != answers[1]  # each seed its own errors, from the noise on hardness
    again = DifficultyAnnotator(dict(zip([r["id"] for r in rows], truth, strict=True)), probabilities, labels, 0.8, 1)
    assert [again.answers[r["id"]][0] for r in rows] == answers[1]  # the same answers every time


def test_the_difficulty_annotator_as_an_llm_answers_greedily_samples_its_belief_and_sends_it_as_logprobs(tmp_path):
    from labelgraph.agents.llm_annotator import LLMAnnotator
    from labelgraph.config import LLMSettings
    from labelgraph.llm.client import LLMClient
    from labelgraph.testing import ScriptedLLM

    rows = read_jsonl(EXAMPLE / "pool.jsonl")[:120]
    gold = {row["id"]: row["label"] for row in read_jsonl(EXAMPLE / "gold.jsonl")}
    labels = ["negative", "positive"]
    texts, truth = [r["text"] for r in rows], [gold[r["id"]] for r in rows]
    ids = [r["id"] for r in rows]
    annotator = DifficultyAnnotator(dict(zip(ids, truth, strict=True)), text_model_probabilities(texts, truth, labels),
                                    labels, 0.8, 3)  # fmt: skip
    items = [Item(id=r["id"], text=r["text"]) for r in rows]

    def ask(name: str, **settings) -> list:
        llm = DifficultyLLM(annotator, dict(zip(ids, texts, strict=True)), seed=3)
        with ScriptedLLM(answerer=llm, call_tools=False) as server:
            values = {"model": "scripted", "base_url": server.url, "timeout": 5.0, "concurrency": 16, **settings}
            client = LLMClient(LLMSettings(**values), tmp_path / f"{name}.sqlite")
            out = LLMAnnotator(dict.fromkeys(labels, ""), client).annotate(items, np.zeros((len(items), 2)),
                                                                           [[] for _ in items])  # fmt: skip
            client.close()
        return out

    greedy, logprobs, samples = ask("one"), ask("logprobs", logprobs=True), ask("samples", samples=5)
    assert [a.label for a in greedy] == [annotator.answers[i][0] for i in ids]  # temperature 0: difficulty's answer
    assert {a.confidence for a in greedy} == {0.9}  # the words say nothing
    stated = [annotator.answers[i][1][labels.index(annotator.answers[i][0])] for i in ids]
    assert [a.confidence for a in logprobs] == pytest.approx(stated, abs=1e-3)  # the label tokens carry its belief
    right = np.array([a.label == gold[a.id] for a in greedy])
    shares = np.array([a.votes.get(g.label, 0) / 5 for a, g in zip(samples, greedy, strict=True)])
    assert 0.3 < right.mean() < 1 and shares.min() < 1  # some samples disagree with the greedy answer...
    assert roc_auc_score(right, shares) > 0.6  # ...more often where the greedy answer is wrong
    assert [a.votes for a in ask("samples-again", samples=5)] == [a.votes for a in samples]  # the same draws


def test_frontier_baseline_and_oracle():
    p = np.linspace(1, 0, 100)
    right = np.ones(100, dtype=bool)
    right[[50, 60, 70, 80, 90, 95, 96, 97, 98, 99]] = False
    accuracy = [right[:k].mean() for k in range(1, 101)]
    assert frontier_size(p, right, 0.95) == max(k for k in range(1, 101) if accuracy[k - 1] >= 0.95)
    assert frontier_size(p, right, 1.0) == 50 and frontier_size(p, ~right, 0.99) == 0
    # the baseline certifies every machine label or none: 200 audits of labels 90% right pass 0.85, not 0.9
    labels = np.arange(1000) % 10 != 0
    assert baseline_coverage(labels, 0.85, 0.1, 200, 1100, 20)[0] == (1000 + 20) / 1100
    covered, lower = baseline_coverage(labels, 0.9, 0.1, 200, 1100, 20)
    assert covered == (200 + 20) / 1100 and lower < 0.9
    # the oracle tests the best top set: more than the baseline where only a top set meets the target
    ranked = np.concatenate([np.ones(600, dtype=bool), np.arange(400) % 2 == 0])
    scores = np.linspace(1, 0, 1000)
    assert oracle_coverage(scores, ranked, 0.95, 0.1, 200, 1100, 100) > (600 * 0.9 + 100) / 1100
    assert oracle_coverage(scores, ranked, 0.95, 0.1, 200, 1100, 100) <= (800 + 100) / 1100


def test_an_eval_records_what_certify_sim_replays(tmp_path):
    train, test = eval_data(tmp_path)
    out = tmp_path / "eval"
    result = invoke_cli(
        "eval", "--train", train, "--test", test, "--strategies", "random", "--annotator", "difficulty:0.9",
        "--seed-size", "6", "--batch-size", "20", "--budget", "60", "--seeds", "1", "--pool-size", "300",
        "--quality-target", "0.9", "--out", out,
    )  # fmt: skip
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    lane = json.loads((out / "results.json").read_text())["lanes"]["random-s0"]
    with np.load(out / "runs" / "random-s0" / "certify.npz") as data:
        record = dict(data)
    n = len(record["ids"])
    assert record["features"].shape == (n, 9) and len(record["p"]) == len(record["right"]) == n
    assert int(record["pool"]) == 300 and int(record["seeds"]) == 6 and int(record["answers"]) == 60
    assert record["checked"].sum() <= 60 and not (record["checked"] & record["accepted"]).any()
    assert len(record["draw_id"]) >= 60 and np.all((record["draw_probability"] > 0) & (record["draw_probability"] <= 1))
    # the lane's figures follow from the record
    open_p, open_right = record["p"][~record["checked"]], record["right"][~record["checked"]]
    covered = int(record["covered"])
    assert lane["frontier_coverage"] == round((frontier_size(open_p, open_right, 0.9) + covered) / 300, 4)
    assert lane["frontier_share"] == round(lane["coverage"] / lane["frontier_coverage"], 4)
    assert lane["uniform_audit_coverage"] in {round((n + 6) / 300, 4), round((60 + 6) / 300, 4)}
    assert lane["false_certification"] is (lane["accepted_accuracy"] is not None and lane["accepted_accuracy"] < 0.9)
    assert lane["checks"] >= 1 and lane["annotator_alone"] == round(float(open_right.mean()), 4)
    # and the benchmark replays it
    replay = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "certify_sim.py"), str(out), "--runs", "2", "--targets", "0.9",
         "--rounds", "3"], capture_output=True, text=True, timeout=600, env=cli_env(),
    )  # fmt: skip
    assert replay.returncode == 0, replay.stderr
    last = json.loads(replay.stdout.strip().splitlines()[-1])
    assert last["0.9"]["runs"] == 2 and 0 <= last["0.9"]["false_certification"] <= 1
