"""The student model from no labels to many, and the embedded annotator and critic on clear cases."""

from __future__ import annotations

import numpy as np
import pytest

from labelgraph.agents.annotator import Annotation, EmbeddedAnnotator
from labelgraph.agents.critic import CriticInput, EmbeddedCritic
from labelgraph.config import CriticSettings
from labelgraph.data import Item
from labelgraph.embeddings import get_embedder
from labelgraph.memory import Neighbour
from labelgraph.models import LogisticRegressionStudent, evaluate

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


def critic_input(label: str, confidence: float, neighbours: list[Neighbour], student: dict | None, n: int):
    return CriticInput(
        item=Item(id="x", text="t"),
        annotation=Annotation(id="x", label=label, confidence=confidence, distribution={}),
        neighbours=neighbours,
        student_probs=student,
        n_labels=n,
    )


def test_critic_accepts_only_agreement_and_names_each_signal():
    critic = EmbeddedCritic(
        CriticSettings(min_confidence=0.7, min_neighbour_agreement=0.6, min_student_probability=0.5)
    )
    agree = [neighbour("a", 0.8)] * 4
    verdicts = critic.review(
        [
            critic_input("a", 0.9, agree, {"a": 0.8, "b": 0.2}, 50),
            critic_input("a", 0.5, agree, {"a": 0.8, "b": 0.2}, 50),
            critic_input("a", 0.9, [neighbour("b", 0.8)] * 3 + [neighbour("a", 0.8)], {"a": 0.8, "b": 0.2}, 50),
            critic_input("a", 0.9, agree, {"a": 0.3, "b": 0.7}, 50),
            critic_input("a", 0.99, agree, {"a": 0.9, "b": 0.1}, 3),
        ]
    )
    assert [v.decision for v in verdicts] == ["accept", "dispute", "dispute", "dispute", "dispute"]
    assert "annotator confidence 0.50 < 0.70" in verdicts[1].reasons
    assert any("neighbours agree 0.25 < 0.60" in r for r in verdicts[2].reasons)
    assert any("student gives 'a' 0.30 < 0.50 (prefers 'b')" in r for r in verdicts[3].reasons)
    assert any("only 3 labels" in r for r in verdicts[4].reasons)
    failed = critic.review(
        [
            CriticInput(
                item=Item(id="y", text="t"), annotation=Annotation(id="y", label=None, error="timeout"), neighbours=[]
            )
        ]
    )
    assert failed[0].decision == "dispute" and "timeout" in failed[0].reasons[0]


def test_reasons_print_enough_decimals_to_show_the_gap():
    from labelgraph.agents.critic import below

    assert below(0.31, 0.5) == "0.31 < 0.50"
    assert below(0.598, 0.6) == "0.598 < 0.600"  # not "0.60 < 0.60"
