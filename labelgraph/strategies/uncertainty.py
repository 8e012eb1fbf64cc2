"""Uncertainty sampling: least confidence, smallest margin, highest entropy (vectorised)."""

from __future__ import annotations

import numpy as np

from labelgraph.strategies.base import SelectionInput
from labelgraph.strategies.diversity import ColdStart

__all__ = ["Entropy", "LeastConfidence", "Margin", "entropy", "least_confidence", "margin"]


def least_confidence(probs: np.ndarray) -> np.ndarray:
    """1 - max p: higher is more uncertain."""
    return 1.0 - probs.max(axis=1)


def margin(probs: np.ndarray) -> np.ndarray:
    """p(second) - p(first): higher (closer to 0) is more uncertain."""
    top2 = np.partition(probs, -2, axis=1)[:, -2:]
    return top2[:, 0] - top2[:, 1]


def entropy(probs: np.ndarray) -> np.ndarray:
    """Shannon entropy in nats: higher is more uncertain."""
    safe = np.clip(probs, 1e-12, 1.0)
    return -(probs * np.log(safe)).sum(axis=1)


def top_k(scores: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of the ``k`` highest scores; ties broken at random (reproducibly through ``rng``)."""
    k = min(k, len(scores))
    jitter = rng.random(len(scores))
    return np.lexsort((jitter, -scores))[:k]


class _Uncertainty:
    name = "uncertainty"
    score = staticmethod(least_confidence)

    def select(self, data: SelectionInput, k: int, rng: np.random.Generator) -> np.ndarray:
        if data.probs is None:
            return ColdStart().select(data, k, rng)
        return top_k(self.score(data.probs), k, rng)


class LeastConfidence(_Uncertainty):
    name = "least_confidence"
    score = staticmethod(least_confidence)


class Margin(_Uncertainty):
    name = "margin"
    score = staticmethod(margin)


class Entropy(_Uncertainty):
    name = "entropy"
    score = staticmethod(entropy)
