"""Diversity: k-center greedy (core-set) and a cluster-based cold start for when nothing is labelled.

k-center greedy keeps each pool row's distance to the labelled set in the run folder (``running_min_distance``):
a round folds in only the labels added since the last one (pool x new labels), then picks among the candidates
farthest from the labelled set (leaders x batch), with the same picks as recomputing every distance.
"""

from __future__ import annotations

import hashlib
from contextlib import suppress
from functools import cache

import numpy as np

from labelgraph.strategies.base import PoolInput, SelectionInput
from labelgraph.strategies.state import MinDistance, load_state, save_state

__all__ = ["ColdStart", "KCenterGreedy", "RandomSelection", "fold_in", "k_center_greedy", "running_min_distance"]

_CHUNK = 8192
"""Rows a matrix product (12 MB of a 384-wide float32 pool)."""
_GROUP = 64
"""Centers a matrix product: every product that folds centers in is _CHUNK x d times d x _GROUP."""
_STATE_FILE = "k_center.bin"
_FOLD_BATCH = 16384
"""Labelled items whose vectors are fetched at once (24 MB at 384 wide)."""


def _padded(rows: np.ndarray, size: int) -> np.ndarray:
    """``rows`` as float32, C-ordered, with copies of its first row appended up to a multiple of ``size``."""
    rows = np.ascontiguousarray(rows, dtype=np.float32)  # a copy only for odd layouts or dtypes
    missing = -len(rows) % size
    return np.concatenate([rows, np.repeat(rows[:1], missing, axis=0)]) if missing else rows


def fold_in(
    distance: np.ndarray,
    vectors: np.ndarray,
    centers: np.ndarray,
    rows: np.ndarray | None = None,
    *,
    padded: bool = True,
) -> None:
    """Lower ``distance`` in place to each vector's cosine distance to its nearest center.

    ``distance`` has one entry per row of ``vectors``, or per entry of ``rows`` (rows of ``vectors``). ``padded``:
    every product has the same shape (BLAS rounds small or odd shapes differently), so folding centers in any
    order or grouping, for any subset of rows, gives the same bits as folding them all at once; without it a few
    rows cost less (at least one 8192-row product a group of centers otherwise).
    """
    if not len(centers) or not len(distance):
        return
    centers = _padded(centers, _GROUP if padded else 1)
    for start in range(0, len(distance), _CHUNK):
        picked = slice(start, start + _CHUNK) if rows is None else rows[start : start + _CHUNK]
        block = _padded(vectors[picked], _CHUNK if padded else 1)
        nearest = np.full(len(block), -np.inf, dtype=np.float32)
        for first in range(0, len(centers), _GROUP):
            np.maximum(nearest, (block @ centers[first : first + _GROUP].T).max(axis=1), out=nearest)
        part = distance[start : start + _CHUNK]
        np.minimum(part, 1.0 - nearest[: len(part)], out=part)


@cache
def _arithmetic(dim: int) -> str:
    """The bits of one fold on fixed data: another BLAS, CPU kernel or NumPy may round products differently, so
    state computed elsewhere (a run folder moved to another machine) is never mixed with distances computed here."""
    rows = np.random.default_rng(0).standard_normal((_CHUNK + _GROUP, dim), dtype=np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    distance = np.full(_CHUNK, np.inf, dtype=np.float32)
    fold_in(distance, rows[:_CHUNK], rows[_CHUNK:])
    return hashlib.sha256(distance.tobytes()).hexdigest()[:16]


def _leaders(distance: np.ndarray, size: int) -> tuple[np.ndarray, float, int]:
    """The ``size`` candidates farthest from the centers (ties: lowest positions first), in position order, and
    the last one's (distance, position): every other candidate ranks below it."""
    n = len(distance)
    if size >= n:
        return np.arange(n), -np.inf, n
    bound = distance[np.argpartition(distance, n - size)[n - size]]
    above = np.flatnonzero(distance > bound)
    at = np.flatnonzero(distance == bound)[: size - len(above)]
    return np.sort(np.concatenate([above, at])), float(bound), int(at[-1])


def _greedy_among(
    distance: np.ndarray, vectors: np.ndarray, rows: np.ndarray | None, k: int, size: int
) -> np.ndarray | None:
    """Greedy picks among the ``size`` leaders, or None once a leader can no longer be shown to beat the rest."""
    members, bound, last = _leaders(distance, size)
    current = distance[members]
    block = np.ascontiguousarray(vectors[members if rows is None else rows[members]], dtype=np.float32)
    picks = np.empty(k, dtype=np.int64)
    for step in range(k):
        best = int(np.argmax(current))  # the lowest position on ties: members are in position order
        value = current[best]
        if value < bound or (value == bound and members[best] > last):
            return None  # a candidate outside the leaders may now be farther
        picks[step] = members[best]
        np.minimum(current, 1.0 - block @ block[best], out=current)
        current[best] = -np.inf  # never again, even when others are exact duplicates of it
    return picks


def greedy_picks(distance: np.ndarray, vectors: np.ndarray, k: int, rows: np.ndarray | None = None) -> np.ndarray:
    """k-center greedy from each candidate's ``distance`` to the centers: ``k`` times the farthest candidate
    (lowest position on ties), which then becomes a center.

    Distances only fall, so a candidate whose starting distance is below the farthest current one cannot be next:
    the picks come from the leading candidates alone (pool x batch, not a pass over the pool a pick), with more
    leaders taken whenever that cannot be shown. The same picks as updating every candidate after each pick.
    """
    k = min(k, len(distance))
    size = max(8 * k, 1024)
    while (picks := _greedy_among(distance, vectors, rows, k, size)) is None:
        size *= 8
    return picks


def _k_center(
    distance: np.ndarray, vectors: np.ndarray, k: int, rng: np.random.Generator, rows: np.ndarray | None = None
) -> np.ndarray:
    """k-center greedy picks; with no centers (``distance`` all inf) the first pick is random."""
    k = min(k, len(distance))
    if k == 0:
        return np.empty(0, dtype=np.int64)
    if not np.isinf(distance).all():
        return greedy_picks(distance, vectors, k, rows)
    first = int(rng.integers(len(distance)))
    row = first if rows is None else int(rows[first])
    fold_in(distance, vectors, vectors[row : row + 1], rows)
    distance[first] = -np.inf
    return np.concatenate([[first], greedy_picks(distance, vectors, k - 1, rows)]).astype(np.int64)


def k_center_greedy(
    vectors: np.ndarray, centers: np.ndarray, k: int, rng: np.random.Generator, *, padded: bool = True
) -> np.ndarray:
    """Pick ``k`` rows of ``vectors`` that each lie farthest from everything chosen so far (Sener & Savarese 2018).

    ``vectors`` and ``centers`` are L2-normalised, so cosine distance orders like Euclidean distance.
    Without centers the first pick is random. O(n * m * d) for m centers, then O(k * leaders * d).
    ``padded=False`` suits a few rows (a shortlist): the picks of ``KCenterGreedy.select_pool`` then hold up to
    float32 rounding of near-ties (see ``fold_in``).
    """
    vectors = np.asarray(vectors)
    distance = np.full(len(vectors), np.inf, dtype=np.float32)
    fold_in(distance, vectors, centers, padded=padded)
    return _k_center(distance, vectors, k, rng)


def running_min_distance(data: PoolInput) -> np.ndarray:
    """Each row's distance to the nearest labelled item: the saved state with only the ids it lacks folded in
    (pool x new labels), else computed afresh (pool x labels); saved again when it changed."""
    path = None if data.state_dir is None or not data.key else data.state_dir / _STATE_FILE
    rows, key = len(data.vectors), f"{data.key}|{_arithmetic(data.vectors.shape[1])}"
    state = None if path is None else load_state(path, key, rows)
    labelled = frozenset(data.labelled_ids)
    if state is None or not state.ids <= labelled:  # an id no longer labelled cannot be taken out of a minimum
        state = MinDistance(key, frozenset(), np.full(rows, np.inf, dtype=np.float32))
    new = sorted(labelled - state.ids)
    if new:
        for first in range(0, len(new), _FOLD_BATCH):
            fold_in(state.distance, data.vectors, data.labelled_vectors(new[first : first + _FOLD_BATCH]))
        state.ids = labelled
        if path is not None:
            with suppress(OSError):  # a folder that cannot be written: the next round folds these again
                save_state(path, state)
    return state.distance


class RandomSelection:
    name = "random"
    uses_probabilities = False
    picks_uniformly = True

    def select(self, data: SelectionInput, k: int, rng: np.random.Generator) -> np.ndarray:
        return rng.permutation(len(data.vectors))[: min(k, len(data.vectors))]


class KCenterGreedy:
    name = "coreset"
    uses_probabilities = False

    def select(self, data: SelectionInput, k: int, rng: np.random.Generator) -> np.ndarray:
        return k_center_greedy(data.vectors, data.labelled_vectors, k, rng)

    def select_pool(self, data: PoolInput, k: int, rng: np.random.Generator) -> np.ndarray:
        """The picks of ``select``, from distances kept in ``data.state_dir`` (only new labels are folded in)."""
        if min(k, len(data.candidates)) == 0:
            return np.empty(0, dtype=np.int64)
        if len(data.labelled_ids):
            distance = running_min_distance(data)[data.candidates]
        else:
            distance = np.full(len(data.candidates), np.inf, dtype=np.float32)
        return _k_center(distance, data.vectors, k, rng, data.candidates)


class ColdStart:
    """Representative and diverse picks with no labels: the item nearest each of ``k`` k-means centroids."""

    name = "cold_start"
    uses_probabilities = False

    def select(self, data: SelectionInput, k: int, rng: np.random.Generator) -> np.ndarray:
        n = len(data.vectors)
        k = min(k, n)
        if k == 0:
            return np.empty(0, dtype=np.int64)
        seed = int(rng.integers(2**31 - 1))
        from sklearn.cluster import KMeans, MiniBatchKMeans  # scikit-learn loads where it is needed

        kind = MiniBatchKMeans if n > 20_000 else KMeans
        model = kind(n_clusters=k, n_init=1, random_state=seed).fit(data.vectors)
        distance = model.transform(data.vectors)  # (n, k)
        picks: list[int] = []
        taken: set[int] = set()
        for cluster in np.argsort(np.bincount(model.labels_, minlength=k))[::-1]:  # biggest clusters first
            for index in np.argsort(distance[:, cluster]):
                if int(index) not in taken:
                    picks.append(int(index))
                    taken.add(int(index))
                    break
        return np.asarray(picks, dtype=np.int64)
