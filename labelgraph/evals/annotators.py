"""Annotators for simulations: none (every label from the person), a replay of a real LLM's recorded labels,
and a simulated annotator of a chosen accuracy whose mistakes follow a reference model's confusions."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from labelgraph.agents.annotator import Annotation
from labelgraph.data import Item
from labelgraph.errors import DataError
from labelgraph.memory import Neighbour

__all__ = ["NoAnnotator", "ReplayAnnotator", "SimulatedAnnotator"]


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
