"""Evals: the figures, the simulated annotators, and a small eval through the CLI (real loop, real files)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from labelgraph.data import Item
from labelgraph.evals.annotators import NoAnnotator, ReplayAnnotator, SimulatedAnnotator
from labelgraph.evals.metrics import aulc, labels_to_reach, mean_std
from tests.conftest import EXAMPLE, invoke_cli, read_jsonl, write_jsonl


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


def test_small_eval_through_the_cli(tmp_path):
    gold = {row["id"]: row["label"] for row in read_jsonl(EXAMPLE / "gold.jsonl")}
    train = write_jsonl(
        tmp_path / "train.jsonl",
        [{"text": r["text"], "label": gold[r["id"]]} for r in read_jsonl(EXAMPLE / "pool.jsonl")],
    )
    test = write_jsonl(tmp_path / "test.jsonl", read_jsonl(EXAMPLE / "test.jsonl")[:100])
    out = tmp_path / "eval"
    args = ["eval", "--train", train, "--test", test, "--strategies", "random,margin", "--annotator", "simulated:0.85",
            "--seed-size", "6", "--batch-size", "10", "--budget", "20", "--seeds", "2", "--pool-size", "150",
            "--out", out]  # fmt: skip
    result = invoke_cli(*args)
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    results = json.loads((out / "results.json").read_text())
    assert set(results) >= {"curves", "summary", "reference", "routing", "simulation"}
    assert results["simulation"]["annotator_is_simulated"] is True
    for strategy in ("random", "margin"):
        assert set(results["curves"][strategy]) == {"0", "1"}
        for points in results["curves"][strategy].values():
            assert points[0]["human_labels"] == 0 and points[-1]["human_labels"] == 20
            assert {"human_labels", "labels", "macro_f1", "accuracy", "label_accuracy", "llm_cost"} <= set(points[-1])
            assert all(0 <= p["label_accuracy"] <= 1 for p in points)
        summary = results["summary"][strategy]
        assert summary["aulc"]["n"] == 2 and summary["aulc"]["std"] >= 0
    assert 0 < results["reference"]["macro_f1"] <= 1
    for name in ("learning_curves.png", "label_quality.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| random |" in (out / "report.md").read_text()

    again = invoke_cli(*args)  # finished runs are reused: the same figures
    assert again.exit_code == 0
    assert json.loads((out / "results.json").read_text())["curves"] == results["curves"]
    other = invoke_cli(*[("100" if arg == "150" else arg) for arg in args])  # another pool in the same folder
    assert other.exit_code == 2 and "was simulated on other data (pool.jsonl differs" in other.stderr, other.stderr


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
        )  # fmt: skip
        calls = len(server.requests)
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    points = json.loads((tmp_path / "eval" / "results.json").read_text())["curves"]["random"]["0"]
    assert sum(p.get("llm_calls", 0) for p in points) == calls > 0
    assert all(p.get("llm_tokens", 0) > 0 for p in points[1:])


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
