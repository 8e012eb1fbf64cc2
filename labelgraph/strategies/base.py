"""The selection protocol: a strategy ranks unlabelled candidates and returns the indices to label next."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["SelectionInput", "Strategy"]


@dataclass(frozen=True)
class SelectionInput:
    """What a strategy may look at.

    ``vectors``: the unlabelled candidates, L2-normalised, shape (n, d).
    ``labelled_vectors``: items already labelled, shape (m, d), m may be 0.
    ``probs``: the student model's probabilities for the candidates, shape (n, labels), or None while the
    student has not seen two classes and cannot rank uncertainty.
    """

    vectors: np.ndarray
    labelled_vectors: np.ndarray
    probs: np.ndarray | None = None


@runtime_checkable
class Strategy(Protocol):
    """Picks ``k`` distinct candidate indices, most wanted first."""

    name: str

    def select(self, data: SelectionInput, k: int, rng: np.random.Generator) -> np.ndarray: ...
