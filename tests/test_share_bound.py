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
