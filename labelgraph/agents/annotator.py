"""Annotators label items; the embedded one needs no LLM: labelled neighbours vote, label descriptions break ties."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
from pydantic import BaseModel, Field

from labelgraph.data import Item
from labelgraph.encoding.embedders import Embedder
from labelgraph.memory import Neighbour

__all__ = ["Annotation", "Annotator", "EmbeddedAnnotator"]


class Annotation(BaseModel):
    """An annotator's answer for one item; ``label`` is None when it failed (never a guessed label)."""

    id: str
    label: str | None
    distribution: dict[str, float] = Field(default_factory=dict)
    confidence: float = 0.0
    rationale: str = ""
    annotator: str = ""
    error: str | None = None
    votes: dict[str, int] = Field(default_factory=dict)
    """Answers per label when the annotator sampled several (self-consistency)."""
    tool_votes: dict[str, str] = Field(default_factory=dict)
    """Labels cast by labelling-function tools (abstentions left out)."""


@runtime_checkable
class Annotator(Protocol):
    """Labels a batch; ``neighbours[i]`` are the labelled items most similar to ``items[i]``.

    An annotator whose labels improve as people label (``refreshes = True``, like the embedded one) has its
    earlier labels redone every round; others label each text once.
    """

    name: str

    def annotate(
        self, items: list[Item], vectors: np.ndarray, neighbours: list[list[Neighbour]]
    ) -> list[Annotation]: ...


def _softmax(scores: np.ndarray, temperature: float) -> np.ndarray:
    z = (scores - scores.max(axis=-1, keepdims=True)) / temperature
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


class EmbeddedAnnotator:
    """Similarity-weighted votes of the nearest labelled neighbours, blended with label-description similarity.

    The neighbours' share grows with how many of them there are (up to ``knn_weight``), so with an empty
    memory the label descriptions decide alone, at low confidence.
    """

    name = "embedded"
    refreshes = True

    def __init__(
        self,
        labels: dict[str, str],
        embedder: Embedder,
        *,
        k: int = 10,
        knn_weight: float = 0.8,
        temperature: float = 0.05,
        tool_weight: float = 0.25,
    ):
        self.labels = list(labels)
        self.k = k
        self.knn_weight = knn_weight
        self.temperature = temperature
        self.tool_weight = tool_weight
        self._prompts = [f"{name}: {description}" if description else name for name, description in labels.items()]
        self._embedder = embedder
        self._vectors: np.ndarray | None = None

    @property
    def _label_vectors(self) -> np.ndarray:
        """The label descriptions' vectors, made at the first annotation (a status or export loads no model)."""
        if self._vectors is None:
            self._vectors = self._embedder.embed(self._prompts)
        return self._vectors

    def _rationale(self, knn: np.ndarray, prior: np.ndarray, n_neighbours: int) -> str:
        described = f"label descriptions favour {self.labels[int(prior.argmax())]!r} {prior.max():.2f}"
        if knn.sum() == 0:
            return f"no labelled neighbours yet; {described}"
        return f"{n_neighbours} neighbours vote {self.labels[int(knn.argmax())]!r} {knn.max():.2f}; {described}"

    def annotate(self, items: list[Item], vectors: np.ndarray, neighbours: list[list[Neighbour]]) -> list[Annotation]:
        by_description = _softmax(np.asarray(vectors) @ self._label_vectors.T, self.temperature)
        annotations = []
        for item, prior, near in zip(items, by_description, neighbours, strict=True):
            votes = np.zeros(len(self.labels))
            for neighbour in near[: self.k]:
                if neighbour.label in self.labels:
                    votes[self.labels.index(neighbour.label)] += max(neighbour.similarity, 0.0)
            weight = self.knn_weight * min(len(near), self.k) / self.k if votes.sum() > 0 else 0.0
            knn = votes / votes.sum() if votes.sum() > 0 else np.zeros_like(votes)
            distribution = weight * knn + (1 - weight) * prior
            cast = [v for v in item.meta.get("tool_votes", {}).values() if v in self.labels]
            if cast:  # labelling functions take a fixed share, split by their votes
                tools = np.bincount([self.labels.index(v) for v in cast], minlength=len(self.labels)) / len(cast)
                distribution = (1 - self.tool_weight) * distribution + self.tool_weight * tools
            best = int(distribution.argmax())
            annotations.append(
                Annotation(
                    id=item.id,
                    label=self.labels[best],
                    distribution={
                        label: round(float(p), 4) for label, p in zip(self.labels, distribution, strict=True)
                    },
                    confidence=round(float(distribution[best]), 4),
                    rationale=self._rationale(knn, prior, len(near)),
                    annotator=self.name,
                )
            )
        return annotations
