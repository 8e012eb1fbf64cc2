"""The critic's acceptance: estimates from draws of known probability, the fixed-sequence test, the error level
spent across looks, and the batch drawn by design (arrays only)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from labelgraph.critic.acceptance import (
    Design,
    Estimate,
    NextSet,
    certify,
    clopper_pearson_upper,
    decide,
    estimate_sets,
    look_level,
    spent,
    thresholds,
)
from labelgraph.critic.batch import Shares, draw_batch, shares_for


def population(n: int, seed: int, *, tail: float = 12.0):
    """Machine labels whose calibrated p_correct is their true chance of being right."""
    rng = np.random.default_rng(seed)
    p = rng.beta(tail, 1, size=n)
    return p, rng.random(n) < p


def uneven_draws(p: np.ndarray, count: int, rng: np.random.Generator):
    """``count`` draws with replacement, most of them where p_correct is low (a fix-like rule), some uniform."""
    q = 0.3 / len(p) + 0.7 * (1 - p) / (1 - p).sum()
    rows = rng.choice(len(p), count, p=q / q.sum())
    return rows, (q / q.sum())[rows]


def test_clopper_pearson_matches_its_closed_forms():
    assert clopper_pearson_upper(0, 45, 0.1) == pytest.approx(1 - 0.1 ** (1 / 45))
    assert clopper_pearson_upper(45, 45, 0.1) == 1.0
    # the bound is the rate at which seeing this few errors is as unlikely as the level
    upper = clopper_pearson_upper(6, 120, 0.05)
    assert stats.binom.cdf(6, 120, upper) == pytest.approx(0.05, abs=1e-9)


def test_the_estimate_is_unbiased_however_uneven_the_draws():
    p, right = population(2000, 0)
    cuts = thresholds(p)
    truth = np.array([1 - right[p >= cut].mean() for cut in cuts])
    estimates = []
    for seed in range(300):
        rows, q = uneven_draws(p, 150, np.random.default_rng(seed))
        checked = np.zeros(len(p), dtype=bool)
        checked[rows] = True
        estimates.append(estimate_sets(p, checked, right, rows, q, cuts).error)
    mean = np.mean(estimates, axis=0)
    spread = np.std(estimates, axis=0) / math.sqrt(len(estimates))
    # a ratio estimator is unbiased to O(1/n): within 4 standard errors of the mean, or 0.004, in every set
    assert np.all(np.abs(mean - truth) <= np.maximum(4 * spread, 0.004)), (mean - truth, spread)


def two_rounds(p: np.ndarray, seed: int, per_round: int = 100):
    """Round 0 audits the bottom half and barely touches the top; round 1 audits the top fifth: the first design
    puts little mass on the top sets, so ``1 / q`` gives its few draws there weights 20 times the audits'."""
    n, rng = len(p), np.random.default_rng(seed)
    top, bottom = p >= np.quantile(p, 0.8), p < np.median(p)
    designs = []
    for region in (bottom, top):
        q = 0.05 / n + 0.95 * region / region.sum()
        designs.append(q / q.sum())
    rows = np.concatenate([rng.choice(n, per_round, p=q) for q in designs])
    rounds = np.repeat([0, 1], per_round)
    probability = np.array(designs)[rounds, rows]
    return rows, probability, Design(probability=np.array(designs), round_of_draw=rounds)


def test_weights_within_the_set_are_unbiased_and_waste_no_draws():
    """A set's error from draws weighted by their probability within it under their round's design: unbiased
    like ``1 / q``, and about half as spread where a round barely touched the set (0.011 against 0.020)."""
    p, right = population(2000, 4)
    cuts = thresholds(p)
    top = 2  # the top 15%: inside the second round's audits, outside the first's
    truth = 1 - right[p >= cuts[top]].mean()
    within, pooled = [], []
    for seed in range(400):
        rows, q, design = two_rounds(p, seed)
        checked = np.zeros(len(p), dtype=bool)
        checked[rows] = True
        within.append(estimate_sets(p, checked, right, rows, q, cuts, design=design).error[top])
        pooled.append(estimate_sets(p, checked, right, rows, q, cuts).error[top])
    for kept in (within, pooled):
        assert abs(np.mean(kept) - truth) <= max(4 * np.std(kept) / math.sqrt(len(kept)), 0.003)
    assert np.std(within) < 0.7 * np.std(pooled)


def test_a_set_with_no_error_counts_all_its_draws():
    """No error among a top set's draws, a control variate fitted on errors elsewhere: the set counts every draw
    (Korn & Graubard's n at an estimate of 0), not the handful the control variate's noise would leave."""
    n = 2000
    p = np.linspace(0.999, 0.6, n)
    right = np.ones(n, dtype=bool)
    right[1000:] = np.random.default_rng(5).random(1000) < p[1000:]  # errors only in the bottom half
    rows = np.random.default_rng(6).choice(n, 200)
    checked = np.zeros(n, dtype=bool)
    checked[rows] = True
    sets = estimate_sets(p, checked, right, rows, np.full(200, 1 / n), thresholds(p[~checked]))
    assert sets.lam > 0.3  # the model's misses do explain the draws' misses
    top = 7  # the top 40%: no error in it
    assert sets.draws[top] >= 60 and not (right[rows] == 0)[p[rows] >= sets.thresholds[top]].any()
    assert abs(sets.error[top]) < 0.01 and sets.effective(top) >= sets.draws[top]
    assert clopper_pearson_upper(0, sets.draws[top], 0.1) >= sets.upper(top, 0.1) - 1e-9


def test_a_draw_on_a_label_nobody_checked_is_refused():
    p, right = population(100, 1)
    with pytest.raises(ValueError, match="nobody checked"):
        estimate_sets(p, np.zeros(100, dtype=bool), right, np.array([3]), np.array([0.01]), thresholds(p))


def test_a_set_below_the_target_is_certified_at_most_at_the_level():
    """A set 94% right, tested against 0.95 at level 0.1 with 120 uniform draws inside: false certifications stay
    within the level (seen 0.040 over 2,000 replays; Clopper-Pearson is conservative)."""
    n = 1500
    rng = np.random.default_rng(3)
    right = rng.random(n) < 0.94
    p = np.full(n, 0.97)
    cuts = thresholds(p)
    passed = 0
    for seed in range(2000):
        draw = np.random.default_rng(seed)
        rows = draw.choice(n, 120)
        checked = np.zeros(n, dtype=bool)
        checked[rows] = True
        sets = estimate_sets(p, checked, right, rows, np.full(120, 1 / n), cuts)
        look = certify(sets, 0.95, 0.1, least_checks=30)
        if look.accepted is not None and right[~checked].mean() < 0.95:
            passed += 1
    assert passed / 2000 <= 0.1 + 2 * math.sqrt(0.1 * 0.9 / 2000)


def test_fixed_sequence_accepts_the_largest_set_before_the_first_failure():
    n = 1000
    p = np.linspace(1.0, 0.5, n)
    right = np.ones(n, dtype=bool)
    right[500:600] = False  # the sets past the first half are wrong 10% and more
    right[900:] = True
    rows = np.arange(0, n, 2)  # a check every second label, uniform
    checked = np.zeros(n, dtype=bool)
    checked[rows] = True
    sets = estimate_sets(p, checked, right, rows, np.full(len(rows), 1 / n), thresholds(p[~checked]))
    look = certify(sets, 0.95, 0.1, least_checks=60)
    assert look.first_tested is not None and look.first_tested > 0  # the first sets hold too few draws
    assert look.failed is not None and look.accepted == look.failed - 1
    accepted = p >= sets.thresholds[look.accepted]
    assert right[accepted & ~checked].mean() >= 0.95
    # the last set is right again on average past the failure, but the walk has stopped
    assert look.accepted < len(sets.thresholds) - 1
    assert certify(sets, 0.95, 0.0, least_checks=60).accepted is None  # no level, no test
    assert certify(sets, 0.95, 0.1, least_checks=10_000).accepted is None  # too few draws: nothing tested


def test_the_error_level_is_spent_across_looks_and_never_more_than_alpha():
    alpha, budget = 0.1, 200
    looks = list(range(0, 401, 20))
    levels = [spent(b, budget, alpha) - spent(a, budget, alpha) for a, b in itertools.pairwise(looks)]
    assert all(level >= 0 for level in levels) and sum(levels) < alpha
    final = spent(200, budget, alpha) - spent(180, budget, alpha)
    assert final > 0.7 * alpha  # most of it where the budget is reached
    assert levels[0] < 0.01 * alpha  # the first look is strict
    assert spent(10**9, budget, alpha) == pytest.approx(alpha, rel=1e-6)


def test_decide_certifies_a_clean_set_and_names_the_next_one():
    n = 1200
    p = np.concatenate([np.full(600, 0.99), np.full(600, 0.6)])
    right = np.concatenate([np.ones(600, dtype=bool), np.random.default_rng(0).random(600) < 0.6])
    rng = np.random.default_rng(1)
    rows = rng.choice(n, 200)
    checked = np.zeros(n, dtype=bool)
    checked[rows] = True
    arguments = dict(
        target=0.95, confidence=0.9, budget=200, batch=20, least_checks=30, pool_size=1500, covered=300
    )  # fmt: skip
    decision = decide(p, checked, right, ["a"] * n, rows, np.full(200, 1 / n), np.ones(200, dtype=bool),
                      answers=200, previous_answers=180, spent_before=spent(180, 200, 0.1), **arguments)  # fmt: skip
    estimate = decision.estimate
    assert decision.accepted.sum() > 0 and right[decision.accepted].mean() >= 0.95
    assert not (decision.accepted & checked).any()
    assert estimate.lower <= estimate.accuracy <= estimate.upper and estimate.lower >= 0.95
    assert estimate.level == pytest.approx(spent(200, 200, 0.1) - spent(180, 200, 0.1), abs=1e-6)
    assert estimate.next is not None and estimate.next.labels > estimate.accepted
    assert all(point.accuracy is None for point in estimate.curve if point.checks < 30)
    # no new answers since the last look: nothing is tested
    idle = decide(p, checked, right, ["a"] * n, rows, np.full(200, 1 / n), np.ones(200, dtype=bool),
                  answers=200, previous_answers=200, spent_before=spent(200, 200, 0.1), **arguments)  # fmt: skip
    assert idle.estimate.level == 0 and not idle.accepted.any()


def test_the_batch_is_drawn_with_the_probabilities_it_records():
    pool = [f"t{i}" for i in range(200)]
    answered = {f"t{i}" for i in range(10)}
    p_correct = {f"t{i}": 0.5 + i / 400 for i in range(10, 200)}
    region = {f"t{i}" for i in range(100, 200)}
    shares = Shares(audit=0.5, floor=0.1, fix=0.2, explore=0.2)
    picks = ["t50", "t51", "t52", "t3"]
    counts: dict[str, int] = {}
    recorded: dict[str, float] = {}
    total = 0
    for seed in range(400):
        batch, draws, design = draw_batch(
            10, pool=pool, answered=answered, p_correct=p_correct, region=region, uncertainty={}, picks=picks,
            shares=shares, rng=np.random.default_rng(seed),
        )  # fmt: skip
        assert design.sum() == pytest.approx(1.0) and (design > 0).all()  # the floor reaches every text
        assert all(design[pool.index(d.id)] == pytest.approx(d.probability) for d in draws)
        assert len(batch) == 10 and not {i for i, _ in batch} & answered
        assert len({i for i, _ in batch}) == 10 and len(draws) >= 10
        for d in draws:
            counts[d.id] = counts.get(d.id, 0) + 1
            assert recorded.setdefault(d.id, d.probability) == pytest.approx(d.probability)
        total += len(draws)
    assert sum(recorded.values()) == pytest.approx(1.0, abs=0.01)  # nearly every text was drawn at least once
    # each text's share of the draws is its recorded probability (a binomial spread)
    for item_id, q in recorded.items():
        assert abs(counts[item_id] / total - q) <= 5 * math.sqrt(q * (1 - q) / total) + 1e-4, item_id
    # answered texts are drawn (by the floor) but never asked again
    assert any(i in answered for i in counts)


def test_shares_keep_probing_and_give_the_rest_to_fixes():
    assert shares_for(explore=0.3, floor=0.05, certify_draws=100, room=20).audit == pytest.approx(0.55)
    small = shares_for(explore=0.3, floor=0.05, certify_draws=0, room=20)
    assert small.audit == pytest.approx(0.25 * 0.65) and small.fix == pytest.approx(0.75 * 0.65)
    off = shares_for(explore=0.3, floor=0.05, certify_draws=100, room=20, certifying=False)
    assert off.audit == 0 and off.fix == pytest.approx(0.65)


def test_a_run_that_grows_never_spends_more_than_alpha():
    """Looks every 20 answers to a budget of 200, then the budget raised to 400: what the looks spent in all."""
    alpha, total, previous, levels = 0.1, 0.0, 0, {}
    for budget, until in ((200, 200), (400, 400)):
        for answers in range(previous + 20, until + 1, 20):
            levels[answers] = look_level(answers, previous, budget, alpha, total)
            total, previous = total + levels[answers], answers
    assert total <= alpha + 1e-12
    assert sum(levels[a] for a in range(20, 201, 20)) == pytest.approx(spent(200, 200, alpha))  # the schedule itself
    assert 0 < levels[400] < alpha - spent(200, 200, alpha)  # the rest goes mostly to the new budget's end
    assert levels[400] > 5 * levels[220]


def test_status_gives_no_verdict_on_fewer_checks_than_a_test_needs():
    from labelgraph.cli.app import describe_estimate

    def estimate(**following) -> Estimate:
        following = NextSet(labels=400, coverage=1.0, lower=None, **following)
        return Estimate(accepted=0, accuracy=None, lower=None, upper=None, confidence=0.9, target=0.95,
                        threshold=None, checks=1, next=following)  # fmt: skip

    one = describe_estimate(estimate(accuracy=None, checks=1, audits_needed=0))
    assert one == (
        "no machine label accepted yet: none is shown to reach 95% right\n"
        "next: the top 400 machine labels (coverage 100%) hold 1 check; the next audits go there"
    )
    below = describe_estimate(estimate(accuracy=0.9, checks=40, audits_needed=0))
    assert below.endswith("are estimated 90.0% right on 40 checks; below the 95% target: if that holds, more checks "
                          "will not certify them")  # fmt: skip
    near = describe_estimate(estimate(accuracy=0.975, checks=60, audits_needed=150))
    assert near.endswith("are estimated 97.5% right on 60 checks; about 150 more checks in them would give even odds "
                         "to certify them")  # fmt: skip


def test_the_test_starts_where_earlier_rounds_expect_most_and_this_rounds_answers_cannot_move_it():
    """Fixed-sequence testing needs its order before the data: the start comes from earlier rounds' answers and
    the draws' places, so flipping this round's answers leaves it where it was. It starts past the sets too small
    to pass yet short of the large set earlier answers found wrong (where a start tied to the audited set failed)."""
    n = 2000
    p = np.linspace(1.0, 0.5, n)
    right = np.random.default_rng(4).random(n) < np.where(np.arange(n) < 1400, 0.99, 0.75)
    rng = np.random.default_rng(5)
    rows = rng.choice(n, 220, replace=False)
    earlier = np.arange(220) < 200  # 200 draws in earlier rounds, 20 in this one
    checked, checked_before = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    checked[rows], checked_before[rows[earlier]] = True, True
    arguments = dict(
        target=0.95, confidence=0.9, budget=220, batch=20, least_checks=30, pool_size=n, covered=0,
        answers=220, previous_answers=200, spent_before=spent(200, 220, 0.1), earlier=earlier,
        checked_before=checked_before,
    )  # fmt: skip
    q = np.full(220, 1 / n)
    first = decide(p, checked, right, ["a"] * n, rows, q, np.ones(220, dtype=bool), **arguments)
    assert first.first_tested is not None and first.estimate.accepted > 0
    assert right[first.accepted].mean() >= 0.95
    # from the first set holding 30 draws (too few to pass 0.95 at this level, however right), nothing passes
    blind = {**arguments, "earlier": None, "checked_before": None}
    naive = decide(p, checked, right, ["a"] * n, rows, q, np.ones(220, dtype=bool), **blind)
    assert naive.first_tested < first.first_tested and naive.estimate.accepted == 0
    flipped = right.copy()
    flipped[rows[~earlier]] = ~flipped[rows[~earlier]]  # this round's answers, all reversed
    second = decide(p, checked, flipped, ["a"] * n, rows, q, np.ones(220, dtype=bool), **arguments)
    assert second.first_tested == first.first_tested
    late = checked_before.copy()
    late[rows[0]] = False  # drawn in an earlier round, answered only in this one: left out, not an error
    odd = {**arguments, "checked_before": late}
    third = decide(p, checked, right, ["a"] * n, rows, q, np.ones(220, dtype=bool), **odd)
    assert third.first_tested is not None
