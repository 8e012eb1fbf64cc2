"""Uncertainty within diversity: shortlist the most uncertain candidates, then spread the batch over them."""

from __future__ import annotations

import numpy as np

from labelgraph.strategies.base import SelectionInput
from labelgraph.strategies.diversity import ColdStart, k_center_greedy
from labelgraph.strategies.uncertainty import margin, top_k

__all__ = ["Hybrid"]


class Hybrid:
    """Margin shortlist of ``shortlist_factor * k`` candidates, then k-center greedy within it.

    Pure uncertainty sampling fills a batch with near-copies from one region of the boundary; spreading
    the batch over the shortlist keeps it informative and varied. It keeps no state between rounds: its
    distances cost shortlist x labelled, less than keeping every pool row's (pool x new labels).
    """

    name = "hybrid"

    def __init__(self, shortlist_factor: int = 5):
        self.shortlist_factor = shortlist_factor

    def select(self, data: SelectionInput, k: int, rng: np.random.Generator) -> np.ndarray:
        if data.probs is None:
            return ColdStart().select(data, k, rng)
        shortlist = top_k(margin(data.probs), self.shortlist_factor * k, rng)
        within = k_center_greedy(data.vectors[shortlist], data.labelled_vectors, k, rng, padded=False)
        return shortlist[within]
