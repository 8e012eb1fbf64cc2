"""The student model from no labels to many, and the embedded annotator and critic on clear cases."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from labelgraph.agents.annotator import EmbeddedAnnotator
from labelgraph.config import CriticSettings
from labelgraph.critic.signals import SIGNALS, CalibratedCritic, signal_reasons
from labelgraph.data import Item
from labelgraph.encoding.embedders import get_embedder
from labelgraph.memory import Neighbour
from labelgraph.stores.labels import MachineLabel
from labelgraph.student.models import LogisticRegressionStudent, evaluate

LABELS = ["a", "b", "c"]


def test_student_from_zero_to_many_labels():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 8))
    student = LogisticRegressionStudent(LABELS)
    assert np.allclose(student.fit(x[:0], []).predict_proba(x[:2]), 1 / 3) and not student.is_informative
    one = student.fit(x[:3], ["b", "b", "b"]).predict_proba(x[:2])
    assert one.tolist() == [[0.0, 1.0, 0.0]] * 2 and not student.is_informative
    y = ["a" if v[0] > 0 else "c" for v in x]  # two of three classes, separable on the first axis
    probs = student.fit(x, y).predict_proba(x)
    assert student.is_informative and probs[:, 1].max() == 0.0 and np.allclose(probs.sum(axis=1), 1)
    assert evaluate(student, x, y)["accuracy"] > 0.9
    # "b" is in neither the test labels nor the predictions: it does not pull macro-F1 down to 2/3
    own = [LABELS[i] for i in student.predict_proba(x).argmax(axis=1)]
    assert evaluate(student, x, own) == {"accuracy": 1.0, "macro_f1": 1.0}


@pytest.fixture(scope="module")
def annotator():
    labels = {"sports": "a sports match or athlete", "finance": "markets, stocks, companies and money"}
    return EmbeddedAnnotator(labels, get_embedder("minilm"), k=3)


def neighbour(label: str, similarity: float) -> Neighbour:
    return Neighbour(id=f"n-{label}-{similarity}", text="x", label=label, source="human", similarity=similarity)


def test_annotator_uses_descriptions_then_neighbours(annotator):
    items = [Item(id="1", text="the striker scored twice in the cup final"), Item(id="2", text="shares fell 3%")]
    vectors = get_embedder("minilm").embed([item.text for item in items])
    cold = annotator.annotate(items, vectors, [[], []])
    assert [a.label for a in cold] == ["sports", "finance"]
    assert all("no labelled neighbours" in a.rationale for a in cold)
    # three close neighbours all saying finance outvote the description for item 1
    warm = annotator.annotate(items[:1], vectors[:1], [[neighbour("finance", 0.9)] * 3])
    assert warm[0].label == "finance" and warm[0].confidence > 0.75
    assert sum(warm[0].distribution.values()) == pytest.approx(1.0, abs=1e-3)


def machine(item_id: str, label: str, confidence: float = 0.9, **extra) -> MachineLabel:
    return MachineLabel(id=item_id, round=1, label=label, confidence=confidence, **extra)


def test_critic_signals_find_a_label_the_data_does_not_support():
    """Two clusters labelled by the machine; one text in cluster 'a' carries 'b': every data signal doubts it."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(2, 16))
    vectors = np.concatenate(
        [centres[0] + 0.1 * rng.normal(size=(40, 16)), centres[1] + 0.1 * rng.normal(size=(40, 16))]
    )
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    labels = ["a"] * 40 + ["b"] * 40
    labels[3] = "b"  # the machine's mistake
    rows = [machine(f"i{n}", label) for n, label in enumerate(labels)]
    critic = CalibratedCritic(["a", "b"], CriticSettings(folds=4), seed=0)
    human = [0, 1, 50, 51]
    features = critic.signals(rows, vectors, vectors[human], ["a", "a", "b", "b"])
    named = {name: features[:, i] for i, name in enumerate(SIGNALS)}
    for name in ("consensus", "machine_knn", "human_knn", "human_model"):
        assert named[name][3] < 0.5 < np.delete(named[name], 3).min(), name
    reasons = signal_reasons(features[3], "b", 0.2, "proposed")
    assert reasons[0] == "p_correct 0.20 (proposed)" and any("consensus" in r for r in reasons)


def test_calibration_learns_which_signal_predicts_a_wrong_label_and_keeps_its_prior_until_then():
    rng = np.random.default_rng(1)
    features = rng.uniform(size=(400, len(SIGNALS)))
    right = features[:, 2] > 0.3  # only "consensus" tells right from wrong
    critic = CalibratedCritic(["a", "b"], CriticSettings(min_checks=20), seed=0)
    few = np.arange(10)
    p, oof, calibration = critic.calibrate(features, few, right[few])
    assert not calibration.fitted and np.unique(p).size == 1 and len(oof) == 10  # too few checks: one prior for all
    checked = np.arange(200)
    p, oof, calibration = critic.calibrate(features, checked, right[checked])
    assert calibration.fitted and len(oof) == 200
    unseen = np.arange(200, 400)
    assert roc_auc_score(right[unseen], p[unseen]) > 0.95
    assert p[unseen][right[unseen]].mean() > 0.8 > 0.4 > p[unseen][~right[unseen]].mean()
