"""benchmarks/share_bound.py: the bound on any design-based certifier's expected share of the frontier."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "share_bound.py"
spec = importlib.util.spec_from_file_location("share_bound", SCRIPT)
share_bound_module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(share_bound_module)
share_bound = share_bound_module.share_bound


def test_a_set_far_above_the_target_can_be_certified_almost_whole():
    # the top 1,500 labels all right, the last 300 all wrong: the frontier is the top 1,500 (plus a little), and
    # 200 uniform checks in a set 100% right certify it at 0.9 with near certainty
    p = np.linspace(1.0, 0.0, 1800)
    right = np.arange(1800) < 1500
    assert share_bound(p, right, covered=200, answers=200, target=0.9, alpha=0.1) > 0.95


def test_a_set_just_at_the_target_cannot_be_expected_to_pass():
    # every top set is about 90% right (errors spread evenly through the ranking): a valid test passes a set at
    # the target with probability at most its level, so little of the frontier can be expected
    p = np.linspace(1.0, 0.0, 2000)
    right = np.arange(2000) % 10 != 9
    bound = share_bound(p, right, covered=0, answers=200, target=0.9, alpha=0.1)
    assert bound < 0.3


def test_more_answers_raise_the_bound_on_a_set_a_little_above_the_target():
    rng = np.random.default_rng(0)
    p = np.linspace(1.0, 0.0, 2000)
    right = rng.random(2000) < np.linspace(0.99, 0.9, 2000)  # accuracy falls slowly down the ranking
    few = share_bound(p, right, covered=0, answers=100, target=0.93, alpha=0.1)
    many = share_bound(p, right, covered=0, answers=1000, target=0.93, alpha=0.1)
    assert few < many <= 1.0 + 1e-9


def test_the_generous_certifier_gains_where_the_ranking_knows_the_errors():
    # p calibrated and informative: errors fall where p is low, so draws tilted there, weighed back, and p as a
    # control variate estimate a set's error rate better than uniform checks, and more of the frontier is in reach
    rng = np.random.default_rng(1)
    p = np.sort(rng.beta(30, 1.5, 2000))[::-1]
    right = rng.random(2000) < p
    uniform = share_bound(p, right, covered=200, answers=200, target=0.95, alpha=0.1)
    generous = share_bound(p, right, covered=200, answers=200, target=0.95, alpha=0.1, generous=True)
    assert generous > uniform + 0.02


def test_the_generous_certifier_cannot_pass_a_set_at_the_target_either():
    # errors spread evenly through the ranking: p says nothing, and no design or control variate helps
    p = np.linspace(1.0, 0.0, 2000)
    right = np.arange(2000) % 10 != 9
    assert share_bound(p, right, covered=0, answers=200, target=0.9, alpha=0.1, generous=True) < 0.3


def test_with_an_uninformative_ranking_the_least_variance_is_the_binomial_one():
    p = np.full(1000, 0.9)
    wrong = (np.arange(1000) % 10 == 0).astype(float)
    variance = share_bound_module.generous_variance(p, wrong)
    assert abs(variance[-1] - 0.1 * 0.9) < 1e-9
