"""Diversity: k-center greedy (core-set) and a cluster-based cold start for when nothing is labelled."""

from __future__ import annotations

import numpy as np
from sklearn.cluster import KMeans, MiniBatchKMeans

from labelgraph.strategies.base import SelectionInput

__all__ = ["ColdStart", "KCenterGreedy", "RandomSelection", "k_center_greedy"]

_CHUNK = 8192


def _min_distance_to(vectors: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Cosine distance from each vector to its nearest center, in row chunks to bound memory."""
    out = np.empty(len(vectors), dtype=np.float32)
    for start in range(0, len(vectors), _CHUNK):
        block = vectors[start : start + _CHUNK]
        out[start : start + _CHUNK] = 1.0 - (block @ centers.T).max(axis=1)
    return out


def k_center_greedy(vectors: np.ndarray, centers: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Pick ``k`` rows of ``vectors`` that each lie farthest from everything chosen so far (Sener & Savarese 2018).

    ``vectors`` and ``centers`` are L2-normalised, so cosine distance orders like Euclidean distance.
    Without centers the first pick is random. O(k * n * d) with one matrix-vector product a pick.
    """
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    n = len(vectors)
    k = min(k, n)
    picks = np.empty(k, dtype=np.int64)
    if k == 0:
        return picks
    if len(centers):
        distance = _min_distance_to(vectors, np.asarray(centers, dtype=np.float32))
        start = 0
    else:
        picks[0] = rng.integers(n)
        distance = 1.0 - vectors @ vectors[picks[0]]
        distance[picks[0]] = -np.inf  # never again, even when the rest are exact duplicates of it
        start = 1
    for step in range(start, k):
        chosen = int(np.argmax(distance))
        picks[step] = chosen
        np.minimum(distance, 1.0 - vectors @ vectors[chosen], out=distance)
        distance[chosen] = -np.inf
    return picks


class RandomSelection:
    name = "random"

    def select(self, data: SelectionInput, k: int, rng: np.random.Generator) -> np.ndarray:
        return rng.permutation(len(data.vectors))[: min(k, len(data.vectors))]


class KCenterGreedy:
    name = "coreset"

    def select(self, data: SelectionInput, k: int, rng: np.random.Generator) -> np.ndarray:
        return k_center_greedy(data.vectors, data.labelled_vectors, k, rng)


class ColdStart:
    """Representative and diverse picks with no labels: the item nearest each of ``k`` k-means centroids."""

    name = "cold_start"

    def select(self, data: SelectionInput, k: int, rng: np.random.Generator) -> np.ndarray:
        n = len(data.vectors)
        k = min(k, n)
        if k == 0:
            return np.empty(0, dtype=np.int64)
        seed = int(rng.integers(2**31 - 1))
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
