"""Every strategy honours the protocol; each score and pick equals a brute-force reference on small arrays."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from labelgraph.errors import PluginError
from labelgraph.strategies import STRATEGIES, SelectionInput, diversity, get_strategy, k_center_greedy
from labelgraph.strategies.base import IncrementalStrategy, PoolInput
from labelgraph.strategies.diversity import KCenterGreedy, fold_in
from labelgraph.strategies.hybrid import Hybrid
from labelgraph.strategies.state import load_state, pool_key
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
    assert k_center_greedy(x, centers, 8, np.random.default_rng(0), padded=False).tolist() == with_centers.tolist()
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


# Incremental k-center: the running minimum distance to the labelled set kept in a state file between rounds


class Pool:
    """A run's vectors by id, for ``PoolInput``: pool rows, and ids outside them (generated texts)."""

    def __init__(self, rng: np.random.Generator, n: int, d: int = 16, extra: int = 5):
        self.vectors = unit_rows(rng, n, d)
        self.ids = [f"t{row}" for row in range(n)]
        self.others = {f"gen{i}": row for i, row in enumerate(unit_rows(rng, extra, d))}
        self.key = pool_key(self.vectors, self.ids)

    def vectors_of(self, ids: list[str]) -> np.ndarray:
        rows = [self.others[i] if i in self.others else self.vectors[int(i[1:])] for i in ids]
        return np.asarray(rows, dtype=np.float32).reshape(len(ids), self.vectors.shape[1])

    def input(self, labelled: list[str], state_dir: Path | None, key: str | None = None) -> PoolInput:
        taken = {int(i[1:]) for i in labelled if i.startswith("t")}
        candidates = np.asarray([row for row in range(len(self.ids)) if row not in taken], dtype=np.int64)
        return PoolInput(self.vectors, candidates, list(labelled), self.vectors_of, state_dir, key or self.key)


def saved_ids(state_dir: Path, pool: Pool) -> frozenset[str] | None:
    """The labelled ids the state file holds, if it reads for this pool and this machine's arithmetic."""
    key = f"{pool.key}|{diversity._arithmetic(pool.vectors.shape[1])}"
    state = load_state(state_dir / "k_center.bin", key, len(pool.vectors))
    return None if state is None else state.ids


def exact_picks(data: PoolInput, k: int, seed: int) -> list[int]:
    return KCenterGreedy().select(data.as_selection(), k, np.random.default_rng(seed)).tolist()


def play_rounds(pool: Pool, state_dir: Path, rounds: int, k: int = 6) -> list[str]:
    """Rounds of coreset picks, each labelled before the next with a generated text; each checked against exact.
    Returns the labelled ids in the order they were labelled."""
    labelled = ["t0", "gen0"]
    for number in range(rounds):
        data = pool.input(labelled, state_dir)
        picks = KCenterGreedy().select_pool(data, k, np.random.default_rng(number)).tolist()
        assert picks == exact_picks(data, k, number), number
        labelled += [pool.ids[int(data.candidates[i])] for i in picks] + [f"gen{number % 4 + 1}"]
    return labelled


def count_folds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many centers each ``fold_in`` call folds in, from now on."""
    folded: list[int] = []
    real = diversity.fold_in

    def counted(distance, vectors, centers, *args, **kwargs) -> None:
        folded.append(len(centers))
        real(distance, vectors, centers, *args, **kwargs)

    monkeypatch.setattr(diversity, "fold_in", counted)
    return folded


def test_coreset_declares_the_incremental_protocol():
    incremental = {name for name in STRATEGIES if isinstance(get_strategy(name), IncrementalStrategy)}
    assert incremental == {"coreset"}


def test_folding_centers_in_any_grouping_gives_the_same_bits():
    rng = np.random.default_rng(4)
    x, centers = unit_rows(rng, 300, 64), unit_rows(rng, 37, 64)
    at_once = np.full(300, np.inf, dtype=np.float32)
    fold_in(at_once, x, centers)
    pieces = np.full(300, np.inf, dtype=np.float32)
    for first, last in [(30, 37), (0, 1), (1, 3), (3, 8), (29, 30), (8, 29)]:
        fold_in(pieces, x, centers[first:last])
    assert pieces.tobytes() == at_once.tobytes()
    rows = np.asarray([5, 250, 7, 7, 299])
    some = np.full(len(rows), np.inf, dtype=np.float32)
    fold_in(some, x, centers, rows)
    assert some.tobytes() == at_once[rows].tobytes()


def test_incremental_picks_equal_exact_picks_over_rounds(tmp_path, monkeypatch):
    pool = Pool(np.random.default_rng(8), 400)
    diversity._arithmetic(16)  # its one fold, once a process, before counting
    folded = count_folds(monkeypatch)
    labelled = play_rounds(pool, tmp_path, rounds=5)
    assert saved_ids(tmp_path, pool) == set(labelled[:-7])  # all but the last round's 6 picks and 1 text
    # each round folds into the state only what the round before labelled (exact_picks folds them all)
    assert folded == [2, 2, 7, 9, 7, 16, 7, 23, 7, 30]


def test_cold_start_picks_equal_exact_picks(tmp_path):
    pool = Pool(np.random.default_rng(9), 200)
    data = pool.input([], tmp_path)
    assert KCenterGreedy().select_pool(data, 8, np.random.default_rng(3)).tolist() == exact_picks(data, 8, 3)
    assert not (tmp_path / "k_center.bin").exists()  # no labels: nothing worth keeping


def damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    changes = {
        "missing": None,
        "empty": b"",
        "truncated": data[: len(data) // 2],
        "flipped byte": data[:60] + bytes([data[60] ^ 1]) + data[61:],
        "flipped distance": data[:-40] + bytes([data[-40] ^ 0x40]) + data[-39:],
        "garbage": bytes(range(256)) * 8,
    }
    if changes[how] is None:
        path.unlink()
    else:
        path.write_bytes(changes[how])


@pytest.mark.parametrize("how", ["missing", "empty", "truncated", "flipped byte", "flipped distance", "garbage"])
def test_a_missing_or_damaged_state_file_gives_the_exact_picks(tmp_path, how):
    pool = Pool(np.random.default_rng(10), 300)
    labelled = play_rounds(pool, tmp_path, rounds=3)
    damage(tmp_path / "k_center.bin", how)
    data = pool.input(labelled, tmp_path)
    assert KCenterGreedy().select_pool(data, 6, np.random.default_rng(7)).tolist() == exact_picks(data, 6, 7)
    assert saved_ids(tmp_path, pool) == set(labelled)


def test_a_stale_state_file_gives_the_exact_picks(tmp_path):
    pool = Pool(np.random.default_rng(12), 300)
    play_rounds(pool, tmp_path, rounds=1)
    earlier = (tmp_path / "k_center.bin").read_bytes()  # as a crash after the first round leaves it
    labelled = play_rounds(pool, tmp_path / "other", rounds=4)
    (tmp_path / "k_center.bin").write_bytes(earlier)
    data = pool.input(labelled, tmp_path)
    assert KCenterGreedy().select_pool(data, 6, np.random.default_rng(1)).tolist() == exact_picks(data, 6, 1)
    # a state holding an id that is no longer labelled (a later round's file, a label withdrawn) is rebuilt
    fewer = pool.input(labelled[:-3], tmp_path)
    assert KCenterGreedy().select_pool(fewer, 6, np.random.default_rng(2)).tolist() == exact_picks(fewer, 6, 2)
    assert saved_ids(tmp_path, pool) == set(labelled[:-3])
    # another pool's vectors (another key) are never folded into
    other = Pool(np.random.default_rng(13), 300)
    changed = other.input(labelled[:-3], tmp_path)
    assert KCenterGreedy().select_pool(changed, 6, np.random.default_rng(2)).tolist() == exact_picks(changed, 6, 2)
    assert saved_ids(tmp_path, other) == set(labelled[:-3]) and saved_ids(tmp_path, pool) is None


def test_state_from_another_machines_arithmetic_is_recomputed(tmp_path, monkeypatch):
    pool = Pool(np.random.default_rng(15), 300)
    labelled = play_rounds(pool, tmp_path, rounds=2)
    monkeypatch.setattr(diversity, "_arithmetic", lambda dim: "another BLAS")
    folded = count_folds(monkeypatch)
    data = pool.input(labelled, tmp_path)
    assert KCenterGreedy().select_pool(data, 6, np.random.default_rng(1)).tolist() == exact_picks(data, 6, 1)
    assert folded[0] == len(labelled)  # all of them, not the last round's 7


def full_pass_k_center(x: np.ndarray, centers: np.ndarray, k: int) -> list[int]:
    """The plain rule in float64: every candidate's distance updated after every pick."""
    x64 = x.astype(np.float64)
    distance = (1 - x64 @ centers.astype(np.float64).T).min(axis=1)
    picks = []
    for _ in range(k):
        picks.append(int(np.argmax(distance)))
        distance = np.minimum(distance, 1 - x64 @ x64[picks[-1]])
        distance[picks[-1]] = -np.inf
    return picks


def test_greedy_takes_more_leaders_when_the_first_ones_crowd_together(monkeypatch):
    rng = np.random.default_rng(14)
    far = unit_rows(rng, 1, 32)
    crowd = far + rng.normal(scale=0.05, size=(1500, 32))  # the 1,500 farthest candidates, all near one point
    x = np.concatenate([unit_rows(rng, 3000, 32), crowd / np.linalg.norm(crowd, axis=1, keepdims=True)])
    x = x.astype(np.float32)
    centers = -far  # opposite the crowd
    sizes: list[int] = []
    real = diversity._leaders
    monkeypatch.setattr(diversity, "_leaders", lambda d, size: sizes.append(size) or real(d, size))
    assert k_center_greedy(x, centers, 10, np.random.default_rng(0)).tolist() == full_pass_k_center(x, centers, 10)
    assert sizes == [1024, 8192]


def test_ties_go_to_the_lowest_position_like_a_full_pass():
    x = np.tile(np.eye(8, dtype=np.float32), (300, 1))  # 2,400 rows, each of 8 directions 300 times: exact ties
    centers = np.eye(8, dtype=np.float32)[:2]
    picks = k_center_greedy(x, centers, 7, np.random.default_rng(0)).tolist()
    assert picks == full_pass_k_center(x, centers, 7) == [2, 3, 4, 5, 6, 7, 0]


class ExactCoreset:
    """coreset without ``select_pool``: the select node hands it the candidates' vectors every round."""

    name = "coreset-exact"

    def select(self, data: SelectionInput, k: int, rng: np.random.Generator) -> np.ndarray:
        return k_center_greedy(data.vectors, data.labelled_vectors, k, rng)


def explored(project: Path, gold: dict[str, str], *, crashes: bool) -> list[list[str]]:
    """Each round's picks of a whole run; with ``crashes`` its state file is damaged, rolled back to the first
    round's or removed after the select node of rounds 2, 3 and 4."""
    from labelgraph.agents.human import SimulatedHuman
    from labelgraph.session.run import Project

    run = Project.from_yaml(project).start()
    state = run.config.run_dir / "selection" / "k_center.bin"
    rounds: list[list[str]] = []
    first: list[bytes] = []

    def after(node: str, update: dict) -> None:
        if node != "select":
            return
        rounds.append(update["explore"])
        if crashes and len(rounds) == 1:
            first.append(state.read_bytes())
        elif crashes and len(rounds) == 2:
            damage(state, "flipped distance")
        elif crashes and len(rounds) == 3:
            state.write_bytes(first[0])
        elif crashes and len(rounds) == 4:
            state.unlink()

    run.run(SimulatedHuman(gold, run.config.label_names, seed=1), on_update=after)
    run.close()
    return rounds


def test_the_select_node_picks_as_the_exact_recomputation_through_crashes(make_project, gold):
    settings = {"annotator": "none", "budget": 60, "max_rounds": 6, "test_size": 0}
    exact = make_project(run_dir="run-exact", strategy="tests.test_strategies:ExactCoreset", **settings)
    picks = explored(exact, gold, crashes=False)
    kept = make_project(run_dir="run-kept", strategy="coreset", **settings)  # (the same project file, rewritten)
    assert len(picks) >= 5 and explored(kept, gold, crashes=True) == picks
    assert (kept.parent / "run-kept/selection/k_center.bin").is_file()
    assert not (exact.parent / "run-exact/selection").exists()
