"""The selection protocol: a strategy ranks unlabelled candidates and returns the indices to label next."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["IncrementalStrategy", "PoolInput", "SelectionInput", "Strategy"]


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
    """Picks ``k`` distinct candidate indices, most wanted first. One that declares
    ``uses_probabilities = False`` gets ``probs=None`` and spares the student predicting every candidate.
    One that declares ``picks_uniformly = True`` draws a uniform random sample of the candidates: a person's
    answers to its picks are then unbiased checks of the machine's labels and count in the accuracy estimate
    (others' picks lean toward hard texts, so only blind audits do)."""

    name: str

    def select(self, data: SelectionInput, k: int, rng: np.random.Generator) -> np.ndarray: ...


@dataclass(frozen=True)
class PoolInput:
    """The whole run at once, for a strategy that keeps state from round to round.

    ``vectors``: every row of the run, L2-normalised, shape (N, d): read in chunks, never copied whole.
    ``candidates``: the rows that may be picked, shape (n,); picks are positions in it.
    ``labelled_ids``: the items labelled so far; ``labelled_vectors`` gives their vectors.
    ``state_dir``: a folder where the strategy may keep its state; ``key`` names the vectors
    (``strategies.state.pool_key``): state written for another key is never used. Either empty: keep none.
    """

    vectors: np.ndarray
    candidates: np.ndarray
    labelled_ids: Sequence[str]
    labelled_vectors: Callable[[list[str]], np.ndarray]
    state_dir: Path | None = None
    key: str = ""

    def as_selection(self) -> SelectionInput:
        """The same question for ``Strategy.select`` (copies the candidates' vectors)."""
        return SelectionInput(self.vectors[self.candidates], self.labelled_vectors(list(self.labelled_ids)))


@runtime_checkable
class IncrementalStrategy(Strategy, Protocol):
    """A strategy that can reuse work from earlier rounds: ``select_pool(data, k, rng)`` returns the same picks
    as ``select(data.as_selection(), k, rng)``, whatever its state holds (missing, stale or damaged)."""

    def select_pool(self, data: PoolInput, k: int, rng: np.random.Generator) -> np.ndarray: ...
