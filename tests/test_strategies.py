"""Every strategy honours the protocol; each score and pick equals a brute-force reference on small arrays."""

from __future__ import annotations

import math

import numpy as np
import pytest

from labelgraph.errors import PluginError
from labelgraph.strategies import STRATEGIES, SelectionInput, get_strategy, k_center_greedy
from labelgraph.strategies.hybrid import Hybrid
from labelgraph.strategies.uncertainty import entropy, least_confidence, margin


def unit_rows(rng: np.random.Generator, n: int, d: int = 16) -> np.ndarray:
    x = rng.normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def probabilities(rng: np.random.Generator, n: int, c: int = 4) -> np.ndarray:
    p = rng.random((n, c)) ** 3
    return p / p.sum(axis=1, keepdims=True)


@pytest.fixture
def data() -> SelectionInput:
    rng = np.random.default_rng(5)
    return SelectionInput(vectors=unit_rows(rng, 80), labelled_vectors=unit_rows(rng, 6), probs=probabilities(rng, 80))


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_contract(name, data):
    strategy = get_strategy(name)
    picks = strategy.select(data, 10, np.random.default_rng(1))
    assert len(picks) == 10 and len(set(picks.tolist())) == 10
    assert all(0 <= i < 80 for i in picks) and np.issubdtype(picks.dtype, np.integer)
    assert strategy.select(data, 10, np.random.default_rng(1)).tolist() == picks.tolist()  # reproducible
    assert sorted(strategy.select(data, 500, np.random.default_rng(1)).tolist()) == list(range(80))
    assert len(strategy.select(data, 0, np.random.default_rng(1))) == 0
    cold = SelectionInput(vectors=data.vectors, labelled_vectors=np.zeros((0, 16), dtype=np.float32), probs=None)
    cold_picks = strategy.select(cold, 7, np.random.default_rng(2))
    assert len(set(cold_picks.tolist())) == 7


def test_uncertainty_scores_match_per_row_formulas():
    p = probabilities(np.random.default_rng(3), 30, 5)
    for row, scores in enumerate(zip(least_confidence(p), margin(p), entropy(p), strict=True)):
        ordered = sorted(p[row], reverse=True)
        assert scores[0] == pytest.approx(1 - ordered[0])
        assert scores[1] == pytest.approx(ordered[1] - ordered[0])
        assert scores[2] == pytest.approx(-sum(q * math.log(q) for q in p[row] if q > 0))


@pytest.mark.parametrize(
    ("name", "score"), [("least_confidence", least_confidence), ("margin", margin), ("entropy", entropy)]
)
def test_uncertainty_picks_are_the_top_scores(name, score, data):
    picks = get_strategy(name).select(data, 12, np.random.default_rng(0))
    assert set(picks.tolist()) == set(np.argsort(-score(data.probs))[:12].tolist())


def brute_force_k_center(x: np.ndarray, centers: list[np.ndarray], k: int, first: int | None) -> list[int]:
    """The greedy farthest-first rule, one distance at a time (Euclidean; same order as cosine on unit rows)."""
    chosen: list[int] = []
    pool = [np.asarray(c, dtype=np.float64) for c in centers]
    if first is not None:
        chosen.append(first)
        pool.append(x[first].astype(np.float64))
    while len(chosen) < k:
        best, best_distance = -1, -1.0
        for i in range(len(x)):
            if i in chosen:
                continue
            nearest = min(float(np.linalg.norm(x[i] - c)) for c in pool)
            if nearest > best_distance:
                best, best_distance = i, nearest
        chosen.append(best)
        pool.append(x[best].astype(np.float64))
    return chosen


def test_k_center_matches_brute_force_with_and_without_centers():
    rng = np.random.default_rng(11)
    x, centers = unit_rows(rng, 60), unit_rows(rng, 4)
    with_centers = k_center_greedy(x, centers, 8, np.random.default_rng(0))
    assert with_centers.tolist() == brute_force_k_center(x, list(centers), 8, None)
    without = k_center_greedy(x, np.zeros((0, 16), dtype=np.float32), 8, np.random.default_rng(0))
    assert without.tolist() == brute_force_k_center(x, [], 8, int(without[0]))


def test_k_center_never_picks_twice_from_exact_duplicates():
    three = unit_rows(np.random.default_rng(3), 3)
    x = np.concatenate([three, three, three])  # every text three times
    for seed in range(50):
        picks = k_center_greedy(x, np.zeros((0, 16), dtype=np.float32), 5, np.random.default_rng(seed))
        assert len(set(picks.tolist())) == 5, (seed, picks)


def test_hybrid_picks_only_from_the_margin_shortlist(data):
    picks = Hybrid(shortlist_factor=2).select(data, 5, np.random.default_rng(0))
    shortlist = set(np.argsort(-margin(data.probs))[:10].tolist())
    assert set(picks.tolist()) <= shortlist


def test_cold_start_takes_one_item_per_cluster():
    rng = np.random.default_rng(2)
    centres = unit_rows(rng, 4, d=8) * 10
    x = np.concatenate([c + rng.normal(scale=0.05, size=(25, 8)) for c in centres]).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    picks = get_strategy("cold_start").select(SelectionInput(x, np.zeros((0, 8), np.float32)), 4, rng)
    assert sorted(int(i) // 25 for i in picks) == [0, 1, 2, 3]


def test_unknown_and_plug_in_strategies():
    with pytest.raises(PluginError, match="unknown strategy 'psychic'"):
        get_strategy("psychic")
    with pytest.raises(PluginError, match="cannot import"):
        get_strategy("no_such_module:Thing")
    assert get_strategy("labelgraph.strategies.diversity:RandomSelection").name == "random"
