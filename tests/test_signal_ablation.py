"""benchmarks/signal_ablation.py: how much each critic signal adds to the calibrated ranking."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np

from labelgraph.critic.signals import SIGNALS

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "signal_ablation.py"
spec = importlib.util.spec_from_file_location("signal_ablation", SCRIPT)
signal_ablation = importlib.util.module_from_spec(spec)
spec.loader.exec_module(signal_ablation)


def test_the_signal_that_knows_the_errors_is_the_one_missed():
    rng = np.random.default_rng(0)
    n = 1500
    right = rng.random(n) < 0.85
    features = np.zeros((n, len(SIGNALS)))
    knows, noise = SIGNALS.index("consensus"), SIGNALS.index("machine_knn")
    features[:, knows] = right + rng.normal(0, 0.6, n)  # informative
    features[:, noise] = rng.random(n)  # says nothing
    checked = np.zeros(n, dtype=bool)
    checked[rng.choice(n, 200, replace=False)] = True
    figures = signal_ablation.ablate(features, checked, right)
    whole = figures["all"]["with"]
    assert whole > 0.75
    assert figures["consensus"]["alone"] > 0.75
    assert whole - figures["consensus"]["without"] > 0.15  # without it nothing ranks
    assert abs(figures["machine_knn"]["alone"] - 0.5) < 0.06
    assert abs(whole - figures["machine_knn"]["without"]) < 0.03
    assert figures["judge"] == {"alone": None, "without": None}  # constant: not measured


def test_an_extra_signal_is_matched_to_the_run_by_text_and_a_missing_text_gets_the_mean(tmp_path):
    rows = [{"id": "t0", "text": "a"}, {"id": "t1", "text": "b"}, {"id": "t2", "text": "not scored"}]
    (tmp_path / "pool.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    tuned = np.array([[0.9, 0.1], [0.3, 0.7]])  # "b" first in the file: matched by text, not by position
    saved = tmp_path / "scores.npz"
    np.savez(saved, texts=np.array(["b", "a"]), llm=np.array([0, 0]), gold=np.array([1, 0]), llm_tuned=tuned)
    column = signal_ablation.extra_signal(saved, tmp_path, np.array(["t0", "t1", "t2"]))
    assert column.tolist() == [0.3, 0.9, 0.6]  # the probability of the recorded label; the mean where unscored
