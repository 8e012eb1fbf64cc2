"""What a run could have certified, against gold: the frontier of its own ranking, the uniform-audit baseline, and
an oracle that knows which set to test. Arrays only; ``labelgraph eval`` and ``benchmarks/certify_sim.py`` share
them.

    frontier   the largest top set of the run's final p_correct ranking (unchecked machine labels) whose true
               accuracy meets the target: the most a certifier could accept with this ranking if it knew the truth
    baseline   every answer a uniform blind audit of every machine label, one Clopper-Pearson test of them all at
               the full level, at its typical outcome (the errors at the labels' true rate): all machine labels
               are certified, or none
    oracle     every answer a uniform check inside the top set it chooses, one Clopper-Pearson test at the full
               level, the set chosen to maximise the expected number certified (no ranking to learn, no looks, no
               multiplicity): what sampling-based certification can reach with these answers and this ranking
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from labelgraph.critic.acceptance import clopper_pearson_upper, passing_errors

__all__ = ["baseline_coverage", "frontier_size", "oracle_coverage"]


def frontier_size(p: np.ndarray, right: np.ndarray, target: float) -> int:
    """The largest top set by ``p`` whose true accuracy (``right``: each label against gold) meets ``target``."""
    order = np.argsort(-np.asarray(p, dtype=float), kind="stable")
    accuracy = np.cumsum(np.asarray(right, dtype=bool)[order]) / np.arange(1, len(order) + 1)
    meets = np.flatnonzero(accuracy >= target)
    return int(meets.max() + 1) if len(meets) else 0


def baseline_coverage(
    right: np.ndarray, target: float, alpha: float, answers: int, pool: int, seeds: int
) -> tuple[float, float]:
    """The uniform-audit baseline's coverage and its lower bound: ``right`` over every machine label of the pool
    (checked ones too); ``answers`` uniform audits showing their true error rate."""
    if not len(right) or answers <= 0 or pool <= 0:
        return (min(answers, pool) + seeds) / max(pool, 1), 0.0
    error = 1 - float(np.mean(right))
    lower = 1 - clopper_pearson_upper(answers * error, answers, alpha)
    return ((len(right) + seeds) if lower >= target else (answers + seeds)) / pool, lower


def oracle_coverage(
    p: np.ndarray, right: np.ndarray, target: float, alpha: float, answers: int, pool: int, covered: int
) -> float:
    """The oracle's expected coverage over the unchecked machine labels ``p``, ``right``; ``covered``: pool texts
    labelled by people or seeds."""
    order = np.argsort(-np.asarray(p, dtype=float), kind="stable")
    errors = np.cumsum(~np.asarray(right, dtype=bool)[order])
    most = passing_errors(answers, round(1 - target, 4), round(alpha, 6)) if answers > 0 else -1
    if most < 0 or pool <= 0:
        return covered / max(pool, 1)
    step = max(1, len(order) // 200)
    sizes = list(range(step, len(order) + 1, step))
    best = max((k * float(stats.binom.cdf(most, answers, errors[k - 1] / k)) for k in sizes), default=0.0)
    return (best + covered) / pool
