"""Annotators for simulations: none (every label from the person), a replay of a real LLM's recorded labels,
a simulated annotator of a chosen accuracy whose mistakes follow a reference model's confusions, and one whose
mistakes follow how hard each text is (``difficulty:ACC``), the realistic stand-in for an LLM."""

from __future__ import annotations

import hashlib
import json
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import softmax

from labelgraph.agents.annotator import Annotation
from labelgraph.data import Item
from labelgraph.errors import DataError
from labelgraph.memory import Neighbour
from labelgraph.testing.scripted_llm import ScriptedAnswer

__all__ = [
    "DifficultyAnnotator",
    "DifficultyLLM",
    "NoAnnotator",
    "ReplayAnnotator",
    "SimulatedAnnotator",
    "text_model_probabilities",
]


class NoAnnotator:
    """Labels nothing: every selected item goes to the person (classic active learning)."""

    name = "none"

    def annotate(self, items: list[Item], vectors: np.ndarray, neighbours: list[list[Neighbour]]) -> list[Annotation]:
        return [Annotation(id=item.id, label=None, annotator=self.name, error="no machine annotator") for item in items]


class ReplayAnnotator:
    """Answers with labels a real LLM gave, recorded in a JSONL file (``text`` and ``llm_label``; null abstains).

    No confidence is recorded, so each answer claims 1.0: the critic must route on disagreement.
    """

    name = "replay"

    def __init__(self, path: Path, labels: list[str]):
        self.path = Path(path)
        self.recorded: dict[str, str | None] = {}
        with self.path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                row = json.loads(line)
                if "text" not in row or "llm_label" not in row:
                    raise DataError("needs fields 'text' and 'llm_label'", path=self.path, line=number)
                self.recorded[row["text"]] = row["llm_label"] if row["llm_label"] in labels else None
        self.labels = labels

    def annotate(self, items: list[Item], vectors: np.ndarray, neighbours: list[list[Neighbour]]) -> list[Annotation]:
        out = []
        for item in items:
            label = self.recorded.get(item.text)
            if label is None:
                why = "abstained" if item.text in self.recorded else "no recorded answer"
                out.append(Annotation(id=item.id, label=None, annotator=self.name, error=f"replayed LLM {why}"))
                continue
            distribution = {name: float(name == label) for name in self.labels}
            out.append(
                Annotation(
                    id=item.id, label=label, distribution=distribution, confidence=1.0, annotator=self.name,
                    rationale=f"recorded answer of the LLM in {self.path.name}",
                )
            )  # fmt: skip
        return out


class SimulatedAnnotator:
    """Right with probability ``accuracy``; otherwise the wrong label a reference model finds most likely.

    ``reference`` maps an item id to the reference model's probabilities (columns follow ``labels``); the
    answer's confidence is the reference probability of the label given, which tells the critic where the
    errors are. ``informative=False`` (``simulated:ACC:flat``) claims 1.0 for every answer, like an LLM whose
    stated confidence says nothing: the critic must find errors from the data alone. Each answer depends only
    on (seed, item id), so a resumed run hears the same answers.
    """

    name = "simulated"

    def __init__(
        self,
        gold: dict[str, str],
        reference: dict[str, np.ndarray],
        labels: list[str],
        accuracy: float,
        seed: int = 0,
        *,
        informative: bool = True,
    ):
        self.gold, self.reference, self.labels, self.accuracy, self.seed = gold, reference, labels, accuracy, seed
        self.informative = informative

    def annotate(self, items: list[Item], vectors: np.ndarray, neighbours: list[list[Neighbour]]) -> list[Annotation]:
        out = []
        for item in items:
            truth = self.gold[item.id]
            probs = self.reference[item.id]
            digest = hashlib.sha256(f"annotator:{self.seed}:{item.id}".encode()).digest()
            right = np.random.default_rng(int.from_bytes(digest[:8], "little")).random() < self.accuracy
            if right:
                label = truth
            else:
                wrong = [(p, name) for p, name in zip(probs, self.labels, strict=True) if name != truth]
                label = max(wrong)[1]
            confidence = float(probs[self.labels.index(label)]) if self.informative else 1.0
            shown = probs if self.informative else np.array([float(name == label) for name in self.labels])
            out.append(
                Annotation(
                    id=item.id,
                    label=label,
                    distribution={name: round(float(p), 4) for name, p in zip(self.labels, shown, strict=True)},
                    confidence=round(confidence, 4),
                    annotator=self.name,
                    rationale=f"simulated annotator, accuracy {self.accuracy:.0%}",
                )
            )
        return out


def text_model_probabilities(texts: list[str], gold: list[str], labels: list[str], folds: int = 5) -> np.ndarray:
    """Out-of-fold class probabilities (columns follow ``labels``) of a logistic regression on TF-IDF word and
    character n-grams: a model that reads other features than the student's sentence embeddings, so its mistakes
    are not the student's."""
    from scipy.sparse import hstack
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    y = np.array([labels.index(label) for label in gold])
    out = np.full((len(texts), len(labels)), 1.0 / len(labels))
    splits = min(folds, int(np.bincount(y, minlength=len(labels))[np.unique(y)].min()))
    if splits < 2:
        return out
    for train, test in StratifiedKFold(splits, shuffle=True, random_state=0).split(texts, y):
        words = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
        chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True)
        fitted = [words.fit([texts[i] for i in train]), chars.fit([texts[i] for i in train])]
        features = [hstack([v.transform([texts[i] for i in rows]) for v in fitted]).tocsr() for rows in (train, test)]
        model = LogisticRegression(C=10.0, max_iter=2000).fit(features[0], y[train])
        out[test] = 0.0
        out[np.ix_(test, model.classes_)] = model.predict_proba(features[1])
    return out


class DifficultyAnnotator:
    """An LLM's stand-in whose mistakes follow how hard each text is. Its belief about a text is the log-probability
    of a model on other features than the student's (``text_model_probabilities``, out of fold), plus noise of
    ``spread`` per label, plus a pull towards the true label just strong enough that it is right on ``accuracy`` of
    the pool: it errs where that model is confidently wrong and the pull does not reach. It answers its likeliest
    label and states its belief sharpened by ``overconfidence`` (a softmax at that inverse temperature), as LLMs
    overstate theirs: its confidence says something about its errors, never all. Each answer depends only on
    (seed, item id)."""

    name = "difficulty"

    def __init__(
        self,
        gold: dict[str, str],
        probabilities: np.ndarray,
        labels: list[str],
        accuracy: float,
        seed: int = 0,
        *,
        spread: float = 1.0,
        overconfidence: float = 2.0,
    ):
        self.labels, self.accuracy, self.seed = labels, accuracy, seed
        ids = list(gold)
        truth = np.array([labels.index(gold[i]) for i in ids])
        noise = np.array([self._rng(i).normal(size=len(labels)) for i in ids]).reshape(len(ids), len(labels))
        base = np.log(np.clip(probabilities, 1e-6, 1.0)) + spread * noise
        pull = np.zeros_like(base)
        pull[np.arange(len(ids)), truth] = 1.0
        low, high = -50.0, 50.0
        for _ in range(60):  # the pull's strength that makes it right on ``accuracy`` of the texts (monotone)
            middle = (low + high) / 2
            right = np.mean((base + middle * pull).argmax(axis=1) == truth)
            low, high = (middle, high) if right < accuracy else (low, middle)
        belief = base + high * pull
        # per item id, the log-odds of its stated belief: its answer is their argmax, its confidence their softmax
        self.logits: dict[str, np.ndarray] = dict(zip(ids, overconfidence * belief, strict=True))
        stated = np.exp(overconfidence * (belief - belief.max(axis=1, keepdims=True)))
        stated /= stated.sum(axis=1, keepdims=True)
        self.answers: dict[str, tuple[str, np.ndarray]] = {
            item_id: (labels[int(belief[row].argmax())], stated[row]) for row, item_id in enumerate(ids)
        }

    def _rng(self, item_id: str) -> np.random.Generator:
        digest = hashlib.sha256(f"difficulty:{self.seed}:{item_id}".encode()).digest()
        return np.random.default_rng(int.from_bytes(digest[:8], "little"))

    def annotate(self, items: list[Item], vectors: np.ndarray, neighbours: list[list[Neighbour]]) -> list[Annotation]:
        out = []
        for item in items:
            label, distribution = self.answers[item.id]
            out.append(
                Annotation(
                    id=item.id,
                    label=label,
                    distribution={name: round(float(p), 4) for name, p in zip(self.labels, distribution, strict=True)},
                    confidence=round(float(distribution[self.labels.index(label)]), 4),
                    annotator=self.name,
                    rationale=f"simulated annotator, {self.accuracy:.0%} right, wrong where texts are hard",
                )
            )
        return out


class DifficultyLLM:
    """The difficulty annotator behind an OpenAI-compatible endpoint (``ScriptedLLM(answerer=...)``), so the real
    LLM annotator's samples and logprobs can be measured on it. Its token distribution over the labels is its stated
    belief: at temperature 0 it answers its likeliest label (the ``difficulty:ACC`` answer), above 0 it draws from
    that distribution at the request's temperature; its label tokens carry the answer's probability in it; the
    confidence it writes is ``stated`` whatever it believes (words that say nothing, as a replayed LLM's). A draw
    depends on (seed, text, temperature, how many draws that text had), so a run's answers repeat."""

    def __init__(self, annotator: DifficultyAnnotator, texts: dict[str, str], seed: int = 0, stated: float = 0.9):
        self.annotator, self.seed, self.stated = annotator, seed, stated
        self.ids = {text: item_id for item_id, text in reversed(texts.items())}  # a repeated text: its first id
        self._draws: Counter[tuple[str, float]] = Counter()
        self._lock = threading.Lock()

    def __call__(self, text: str, body: dict[str, Any]) -> ScriptedAnswer:
        logits = self.annotator.logits[self.ids[text]]
        temperature = float(body.get("temperature") or 0.0)
        if temperature <= 0:
            chosen = int(logits.argmax())
        else:
            with self._lock:
                draw = self._draws[text, temperature]
                self._draws[text, temperature] += 1
            digest = hashlib.sha256(f"llm:{self.seed}:{temperature}:{draw}:{text}".encode()).digest()
            rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
            chosen = int(rng.choice(len(logits), p=softmax(logits / temperature)))
        probability = float(softmax(logits)[chosen])
        return ScriptedAnswer(self.annotator.labels[chosen], self.stated, max(probability, 1e-9))
