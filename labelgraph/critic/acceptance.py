"""How right is a set of machine labels, and which may be accepted: estimates from the person's answers drawn with
known probabilities, a test that is valid however often it is repeated, and the set the next answers should
serve.

Every answer the person gives was drawn by the batch design (``labelgraph.critic.batch``) from the pool with a
known probability ``q`` (audits, fixes and explores alike), so each one is a check of the machine: a draw that
lands on a machine label says whether that label is right. A candidate set ``T`` (machine labels whose
``p_correct`` is at least a threshold; a checked label belongs by its out-of-fold ``p_correct``) has its error rate
estimated by a ratio (Hajek) estimator with the calibrated ``p_correct`` as control variate (active inference,
Zrnic & Candes 2024; PPI++, Angelopoulos et al. 2023): ``lam * mean_T(1 - p) + sum_k w_k r_k / sum_k w_k`` over the
draws inside ``T``, with ``r = (1 - right) - lam * (1 - p)``; ``lam`` is fitted on every draw. The weight is the
inverse of the draw's probability *within T* under its round's design, ``w = q_t(T) / q``: a draw that lands in
``T`` is, given that, a draw from the design restricted to ``T``, so each one estimates ``T``'s error without bias,
and a round whose design put little mass on ``T`` no longer weighs its few draws there by thousands (``1 / q``
across rounds: a set's effective sample size fell to half its draws and a single unlucky draw failed it). Where a
round's design was not kept (a run folder from before it was), ``w = 1 / q``.
Its upper confidence bound is Clopper-Pearson's at the estimate's effective sample size (Korn & Graubard 1998: a
binomial bound for a proportion from a weighted sample, exact when the draws are uniform, sound with rare errors
where a normal bound is not). The labels checked inside a set are known, so the bound on the unchecked ones
follows from the bound on the whole set.

Testing. Sets are tested most trusted first, each at the look's full level, and the largest set reached before
the first failure is accepted (fixed-sequence testing, as Learn-then-Test does over a nested family): the chance
that an accepted set is below the target stays at most the level. The sequence starts at the set from which it is
expected to certify the most (``start_row``), each set's chance to pass predicted from the answers of earlier
rounds only, with the draws it holds now: the start is fixed before the round's answers, as the order of a
fixed sequence must be. Each round's test is a *look*: the error level
``1 - confidence`` is spent across looks by a schedule of the answers given (``spent``), most of it at the look
where the budget is reached, so that the chance of any false certification over the whole run, whenever it is
stopped or read, stays at most ``1 - confidence`` (a Bonferroni bound over looks). The sets are ranked by a critic
fitted on the same checks; ``benchmarks/certify_sim.py`` replays recorded runs, refitting that critic, and counts
how often this whole procedure certifies a set below its target.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numpy as np
from pydantic import BaseModel, Field

__all__ = [
    "CurvePoint",
    "Design",
    "Estimate",
    "LabelEstimate",
    "Look",
    "NextSet",
    "SetEstimates",
    "certify",
    "clopper_pearson_upper",
    "estimate_sets",
    "spent",
    "start_row",
    "thresholds",
]

STEPS = 20
"""Candidate sets: the top 1/STEPS, 2/STEPS, ... of unchecked machine labels by p_correct."""
CURVE_CHECKS = 30
"""The accuracy-coverage curve reports a point estimate where a set holds at least this many draws."""
EARLY_SHARE = 0.1
"""Share of the error level spent on the looks before the budget is reached (rising with the answers squared)."""
GROWTH_SHARE = 0.1
"""Share of the error level kept for looks after the budget is reached (a run that grows)."""
FUTURE_AUDIT_SHARE = 0.55
"""Share of the answers left expected to land in the set the audits serve (a batch's audit share at most)."""
POINT_PRIOR_DRAWS = 300
"""The reported accuracy leans on the calibrated model as much as on this many draws (``point_accuracy``)."""


def clopper_pearson_upper(errors: float, n: float, level: float) -> float:
    """One-sided upper bound on a rate, ``errors`` of ``n`` (both may be fractional), at error level ``level``."""
    from scipy import stats  # loads where a bound is computed: status and export need none

    if n <= 0 or errors >= n:
        return 1.0
    return float(stats.beta.ppf(1 - level, errors + 1, n - errors))


def spent(answers: int, budget: int, alpha: float) -> float:
    """The error level the schedule has spent by ``answers`` answers: ``EARLY_SHARE * alpha * (answers/budget)**2``
    before the budget, then ``alpha * (1 - GROWTH_SHARE * budget / answers)``, rising to ``alpha``."""
    if budget <= 0 or answers <= 0:
        return 0.0
    if answers < budget:
        return alpha * EARLY_SHARE * (answers / budget) ** 2
    return alpha * (1 - GROWTH_SHARE * budget / answers)


def look_level(answers: int, previous: int, budget: int, alpha: float, spent_before: float) -> float:
    """A look's error level: of what the looks before left (``alpha - spent_before``), the share the schedule
    (``spent``) gives the answers since the last look (``previous``) among those it has not spent yet. With a fixed
    budget that is exactly the schedule's growth; when the budget is raised the rest is spread over the new one.
    The levels of all looks add up to at most ``alpha``, whatever the budget does."""
    left = max(0.0, alpha - spent_before)
    if answers <= previous or left <= 0:
        return 0.0
    before, now = spent(previous, budget, 1.0), spent(answers, budget, 1.0)
    return left * max(0.0, now - before) / (1 - before) if before < 1 else 0.0


def thresholds(p_unchecked: np.ndarray, steps: int = STEPS) -> list[float]:
    """The candidate sets' thresholds, strictest first: p_correct at the top 1/steps, 2/steps, ... of the unchecked
    machine labels."""
    ranked = np.sort(np.asarray(p_unchecked, dtype=float))[::-1]
    if not len(ranked):
        return []
    cuts = {float(ranked[math.ceil(step / steps * len(ranked)) - 1]) for step in range(1, steps + 1)}
    return sorted(cuts, reverse=True)


@dataclass
class Design:
    """The person's batches as drawn: each round's probability of drawing each machine label (``probability``,
    rounds x labels, one draw's; answered labels too) and the round of each draw (``round_of_draw``, an index
    into the rows of ``probability``)."""

    probability: np.ndarray
    round_of_draw: np.ndarray


@dataclass
class SetEstimates:
    """Per candidate set (strictest first): members, the draws inside it, and its estimated error rate."""

    thresholds: list[float]
    size: np.ndarray
    """Machine labels in the set, checked ones included."""
    unchecked: np.ndarray
    wrong_checked: np.ndarray
    """Checked members whose machine label the person found wrong."""
    draws: np.ndarray
    """Draws that landed inside the set."""
    error: np.ndarray
    """Estimated error rate over the whole set (checked members included)."""
    sd: np.ndarray
    model_error: np.ndarray
    """The calibrated model's own error rate for the set: mean of 1 - p_correct."""
    lam: float

    def effective(self, row: int) -> float:
        """The draws' effective sample size for a set (Korn & Graubard: at most the draws inside it), with the
        finite-population correction for the share of the set already checked (a set half checked is known
        twice as well as a sample of that size from an endless population), at most the set's size. Below one
        error in the draws the binomial variance cannot set the size (Korn & Graubard take all the draws at an
        estimate of 0; near 0 the control variate's own noise made a set with no error at all count 28 of its
        78 draws), so the rate is taken at one error in the draws there."""
        error, sd, n = min(max(float(self.error[row]), 0.0), 1.0), float(self.sd[row]), int(self.draws[row])
        if n == 0 or self.size[row] <= 0:
            return 0.0
        rate = max(error, 1.0 / n)
        effective = float(n) if sd <= 0 or not math.isfinite(sd) else min(n, rate * (1 - rate) / sd**2)
        checked = 1 - self.unchecked[row] / self.size[row]
        return min(float(self.size[row]), effective / max(1 - checked, 1e-9))

    def upper(self, row: int, level: float) -> float:
        """Upper bound on the set's error rate at error level ``level``."""
        n = self.effective(row)
        return clopper_pearson_upper(n * min(max(float(self.error[row]), 0.0), 1.0), n, level)

    def unchecked_accuracy(self, row: int, error_rate: float) -> float:
        """Accuracy of the set's unchecked labels if the whole set's error rate were ``error_rate``."""
        if self.unchecked[row] <= 0:
            return 1.0
        wrong = error_rate * self.size[row] - self.wrong_checked[row]
        return float(min(1.0, max(0.0, 1 - wrong / self.unchecked[row])))


def estimate_sets(
    p: np.ndarray,
    checked: np.ndarray,
    right: np.ndarray,
    draw_rows: np.ndarray,
    draw_probability: np.ndarray,
    cuts: list[float],
    within: np.ndarray | None = None,
    design: Design | None = None,
) -> SetEstimates:
    """Estimate each candidate set's error rate from the draws (``within``: only the machine labels it marks, as
    for one label's share of the sets).

    ``p``: p_correct of every machine label (out of fold for checked ones); ``checked``: which a person answered;
    ``right``: whether each checked label was right (ignored elsewhere); ``draw_rows``: for each draw, the machine
    label it landed on (-1: a text with no machine label, or set aside); ``draw_probability``: each draw's
    probability of that text under the design of its round; ``design``: every round's design over the machine
    labels (None: weights ``1 / q``)."""
    p = np.asarray(p, dtype=float)
    checked = np.asarray(checked, dtype=bool)
    wrong = checked & ~np.asarray(right, dtype=bool)
    rows = np.asarray(draw_rows, dtype=int)
    landed = rows >= 0
    if np.any(landed & ~checked[np.where(landed, rows, 0)]):
        raise ValueError("a draw landed on a machine label nobody checked")
    weight = np.where(landed, 1.0 / np.maximum(np.asarray(draw_probability, dtype=float), 1e-300), 0.0)
    at = np.where(landed, rows, 0)
    miss, model_miss = wrong[at].astype(float), 1 - p[at]
    lam = _control_weight(weight, miss, model_miss)
    residual = miss - lam * model_miss
    count = len(cuts)
    out = {name: np.zeros(count) for name in ("size", "unchecked", "wrong_checked", "draws", "error", "sd", "model")}
    for row, cut in enumerate(cuts):
        members = p >= cut if within is None else (p >= cut) & within
        inside = landed & members[at]
        out["size"][row], out["unchecked"][row] = members.sum(), (members & ~checked).sum()
        out["wrong_checked"][row], out["draws"][row] = (members & wrong).sum(), inside.sum()
        out["model"][row] = float(np.mean(1 - p[members])) if members.any() else 1.0
        w = weight * inside
        if design is not None:  # the draw's probability within the set under its round's design
            w = w * (design.probability @ members)[design.round_of_draw]
        total = w.sum()
        if inside.sum() == 0 or total <= 0:
            out["error"][row], out["sd"][row] = out["model"][row], math.inf
            continue
        mean = float((w * residual).sum() / total)
        influence = w * (residual - mean) / total
        n = inside.sum()
        out["error"][row] = lam * out["model"][row] + mean
        out["sd"][row] = math.sqrt(float((influence**2).sum()) * n / max(n - 1, 1))
    return SetEstimates(
        thresholds=list(cuts),
        size=out["size"].astype(int),
        unchecked=out["unchecked"].astype(int),
        wrong_checked=out["wrong_checked"].astype(int),
        draws=out["draws"].astype(int),
        error=out["error"],
        sd=out["sd"],
        model_error=out["model"],
        lam=lam,
    )


def _control_weight(weight: np.ndarray, miss: np.ndarray, model_miss: np.ndarray) -> float:
    """How much of the model's error the estimate trusts (PPI++'s power tuning): the weighted regression slope of
    the observed misses on the model's, over every draw on a machine label, clipped to [0, 1]."""
    total = weight.sum()
    if total <= 0:
        return 0.0
    mean_y, mean_f = (weight * miss).sum() / total, (weight * model_miss).sum() / total
    spread = (weight * (model_miss - mean_f) ** 2).sum() / total
    if spread <= 0:
        return 0.0
    return float(np.clip((weight * (miss - mean_y) * (model_miss - mean_f)).sum() / total / spread, 0.0, 1.0))


@dataclass
class Look:
    """One look's test: the set accepted (its row, or None), at which level, and from which row sets were tested."""

    accepted: int | None
    level: float
    first_tested: int | None
    failed: int | None
    """The first tested set that did not pass (None: every tested set passed)."""


def certify(sets: SetEstimates, target: float, level: float, least_checks: int, start: int = 0) -> Look:
    """Fixed-sequence testing, most trusted first from row ``start``, of the sets holding ``least_checks`` draws or
    more: the largest reached before the first failure is accepted. ``level`` 0 tests nothing."""
    rows = range(start, len(sets.thresholds))
    tested = [row for row in rows if sets.draws[row] >= least_checks]
    accepted, failed = None, None
    for row in tested if level > 0 else []:
        if sets.unchecked[row] <= 0:
            continue
        if sets.unchecked_accuracy(row, sets.upper(row, level)) >= target:
            accepted = row
        else:
            failed = row
            break
    return Look(accepted=accepted, level=level, first_tested=tested[0] if tested else None, failed=failed)


def start_row(before: SetEstimates, now: SetEstimates, target: float, level: float, least_checks: int) -> int:
    """Where this look's fixed sequence starts: the set from which it is expected to certify the most unchecked
    labels. Each set's chance to pass is predicted from ``before`` (the sets estimated on the answers of earlier
    rounds only) at the draws it holds ``now`` (their places are known before the answers), scaled by the share of
    its draws that counted before (the weights' effective size); nested sets pass or fail together, so a run of
    tests from ``s`` to ``k`` is taken to pass with the least of their chances. With the start tied to the set the
    audits served instead, a target that moved to a large set late made the test start there and fail where
    smaller sets would pass: 7% of replayed runs at 0.90 and half at 0.95 accepted nothing."""
    count = len(before.thresholds)
    chances = np.zeros(count)
    for row in range(count):
        share = min(1.0, before.effective(row) / before.draws[row]) if before.draws[row] else 1.0
        draws = round(float(now.draws[row]) * share)
        goal = set_target_error(before, row, target)
        chances[row] = chance_to_pass(predicted_error(before, row), draws, goal, level)
    unchecked = now.unchecked.astype(float)
    added = np.diff(unchecked, prepend=0.0)
    best, best_value = None, -1.0
    for start in range(count):
        if now.draws[start] < least_checks:
            continue
        together = np.minimum.accumulate(chances[start:])
        value = unchecked[start] * together[0] + float((added[start + 1 :] * together[1:]).sum())
        if value > best_value:
            best, best_value = start, value
    return best if best is not None else count


@cache
def passing_errors(n: int, target_error: float, level: float) -> int:
    """The most errors among ``n`` uniform draws that still give a Clopper-Pearson bound at or under
    ``target_error`` (-1: none)."""
    low, high = -1, n
    while low < high:  # the bound rises with the errors: binary search for the last that passes
        middle = (low + high + 1) // 2
        if clopper_pearson_upper(middle, n, level) <= target_error:
            low = middle
        else:
            high = middle - 1
    return low


def chance_to_pass(error: float, draws: int, target_error: float, level: float) -> float:
    """The chance that ``draws`` uniform draws from a set with this error rate certify it at ``level``."""
    from scipy import stats

    if draws <= 0 or target_error <= 0:
        return 0.0
    most = passing_errors(draws, round(target_error, 4), round(level, 6))
    return float(stats.binom.cdf(most, draws, min(max(error, 0.0), 1.0))) if most >= 0 else 0.0


def set_target_error(sets: SetEstimates, row: int, target: float) -> float:
    """The error rate over a whole set at which its unchecked labels are exactly ``target`` right."""
    if sets.size[row] <= 0:
        return 0.0
    return float(((1 - target) * sets.unchecked[row] + sets.wrong_checked[row]) / sets.size[row])


def predicted_error(sets: SetEstimates, row: int, prior_draws: int = 20) -> float:
    """A set's error rate as the next answers should expect it: the draws' estimate, shrunk towards the calibrated
    model's by ``prior_draws`` pseudo-draws."""
    n = int(sets.draws[row])
    estimate = float(sets.error[row]) if n else 0.0
    return (n * estimate + prior_draws * float(sets.model_error[row])) / (n + prior_draws)


class CurvePoint(BaseModel):
    """The accepted set if labels down to ``threshold`` were taken."""

    threshold: float
    labels: int
    coverage: float
    accuracy: float | None
    """Estimated accuracy of its unchecked labels (None where it rests on fewer than 30 draws)."""
    lower: float | None
    """Pointwise lower bound at the run's confidence (None where it rests on fewer than 30 draws)."""
    checks: int = 0
    """Draws inside the set."""


class LabelEstimate(BaseModel):
    accepted: int
    accuracy: float | None
    checks: int = 0
    checks_right: int = 0
    audits: int = 0
    audits_right: int = 0
    audit_interval: tuple[float, float] = (0.0, 1.0)


class NextSet(BaseModel):
    """The set the next certification is about (the first one beyond the accepted labels) and what it lacks."""

    labels: int
    coverage: float
    accuracy: float | None
    lower: float | None
    """Its lower bound at the level it was tested at (None before it holds enough draws to be tested)."""
    checks: int
    audits_needed: int
    """More checks inside it that would let it pass with even odds if its estimate holds (0: out of reach)."""


class Estimate(BaseModel):
    """The accepted set's estimated accuracy: a point, a lower bound (one-sided at ``confidence``), and what it
    rests on."""

    accepted: int
    accuracy: float | None
    lower: float | None
    upper: float | None
    confidence: float
    target: float
    threshold: float | None
    checks: int
    """Answers on machine labels (every one a check, weighted by its draw's probability)."""
    audits: int = 0
    """Of those, the ones drawn as audits of the set being certified."""
    audits_right: int = 0
    audit_interval: tuple[float, float] = (0.0, 1.0)
    basis: str = ""
    per_label: dict[str, LabelEstimate] = Field(default_factory=dict)
    curve: list[CurvePoint] = Field(default_factory=list)
    next: NextSet | None = None
    """What the next certification needs: tells a user why no more is accepted and what would change it."""
    level: float | None = None
    """The error level this round's look was tested at (its share of 1 - confidence)."""
    spent: float | None = None
    """The error level spent by every look so far (at most 1 - confidence)."""


@dataclass
class Decision:
    """A look's outcome: which machine labels are accepted, the estimate a user reads, and the set the next
    answers should serve."""

    accepted: np.ndarray
    """Mask over the machine labels: accepted (never a checked one)."""
    estimate: Estimate
    target: float | None
    """Threshold of the set the next audits go to (None: no set is worth auditing)."""
    audits_needed: int
    """More draws inside that set that would give it a 90% chance to pass at the final look."""
    first_tested: int | None = None
    """The set this look's test started at (a row of the curve; None: nothing tested)."""


def final_level(answers: int, budget: int, batch: int, alpha: float, spent_before: float) -> float:
    """The level of the look at which the budget will be reached (or of the next look, past it), if the looks
    between spend what the schedule gives them."""
    if answers >= budget:
        return look_level(answers + batch, answers, budget, alpha, spent_before)
    ahead = max(answers, budget - batch)
    expected = spent_before + look_level(ahead, answers, budget, alpha, spent_before)
    return look_level(budget, ahead, budget, alpha, expected)


def choose_target(
    sets: SetEstimates, target: float, level: float, future_draws: np.ndarray, pool_size: int
) -> tuple[int | None, int]:
    """The set whose certification at the final look is worth most in expectation (unchecked labels x the chance
    to pass with the draws it would hold), and the draws it still needs for a 90% chance (or all it can get)."""
    best, best_value = None, 0.0
    for row in range(len(sets.thresholds)):
        error, goal = predicted_error(sets, row), set_target_error(sets, row, target)
        value = sets.unchecked[row] * chance_to_pass(error, int(future_draws[row]), goal, level)
        if value > best_value * 1.0001:
            best, best_value = row, value
    if best is None:
        return None, 0
    error, goal, have = predicted_error(sets, best), set_target_error(sets, best, target), int(sets.draws[best])
    most = max(0, int(future_draws[best]) - have)
    return best, next((m for m in range(0, most + 5, 5) if chance_to_pass(error, have + m, goal, level) >= 0.9), most)


def _likeliest(sets: SetEstimates, target: float) -> int | None:
    """The largest set whose predicted error is within its goal (the strictest if none is), when no set is worth
    auditing within the budget: the set a user should hear about next."""
    rows = range(len(sets.thresholds))
    passing = [row for row in rows if predicted_error(sets, row) <= set_target_error(sets, row, target)]
    return max(passing, key=lambda row: sets.unchecked[row]) if passing else (0 if len(rows) else None)


def point_accuracy(sets: SetEstimates, row: int, lower: float | None = None) -> float:
    """The accuracy a user reads for a set's unchecked labels: the draws' estimate shrunk towards the calibrated
    model's by ``POINT_PRIOR_DRAWS`` pseudo-draws, never under ``lower`` (a bound the draws certify). The draws'
    estimate alone is unbiased for any one set, but the set a test accepts is the one whose draws came out lucky
    (a winner's curse: +0.018 median in certify_sim); the model's is fitted on every check at once, not chosen on
    this set's (median error 0.000 there, curve points within 0.02 of the truth in 78% against 58%)."""
    n = int(sets.draws[row])
    error = (n * float(sets.error[row]) + POINT_PRIOR_DRAWS * float(sets.model_error[row])) / (n + POINT_PRIOR_DRAWS)
    point = sets.unchecked_accuracy(row, error)
    return max(point, lower) if lower is not None else point


def _pointwise(sets: SetEstimates, row: int, confidence: float) -> tuple[float | None, float | None]:
    """A set's estimated accuracy of its unchecked labels and its lower bound at ``confidence`` (None on fewer
    than CURVE_CHECKS draws)."""
    if sets.draws[row] < CURVE_CHECKS:
        return None, None
    lower = sets.unchecked_accuracy(row, sets.upper(row, 1 - confidence))
    return round(point_accuracy(sets, row, lower), 4), round(lower, 4)


def decide(
    p: np.ndarray,
    checked: np.ndarray,
    right: np.ndarray,
    labels: list[str],
    draw_rows: np.ndarray,
    draw_probability: np.ndarray,
    draw_audit: np.ndarray,
    *,
    target: float,
    confidence: float,
    answers: int,
    previous_answers: int,
    spent_before: float,
    budget: int,
    batch: int,
    least_checks: int,
    pool_size: int,
    covered: int,
    accept_all: bool = False,
    design: Design | None = None,
    earlier: np.ndarray | None = None,
    checked_before: np.ndarray | None = None,
) -> Decision:
    """One look (see the module's docstring). ``p``, ``checked``, ``right``, ``labels``: every machine label of the
    pool (out-of-fold p_correct for checked ones); ``draw_*``: every draw so far (``draw_audit``: drawn by the audit
    or floor rule); ``answers``: people's answers so far, ``previous_answers`` at the look before, which with
    ``spent_before`` (the level the looks before spent) sets this look's level (``look_level``); ``covered``: pool
    texts labelled by people or seeds. ``accept_all``: no quality target (a baseline): every unchecked label is
    accepted, estimated as a whole. ``design``: the rounds' designs (``estimate_sets``). ``earlier`` (a mask over
    the draws: made in rounds before this look's) and ``checked_before`` (the machine labels people had checked
    before it) set where the test starts (``start_row``); without them it starts at the first set holding
    ``least_checks`` draws."""
    p, checked = np.asarray(p, dtype=float), np.asarray(checked, dtype=bool)
    right = np.asarray(right, dtype=bool) & checked
    alpha = 1 - confidence
    level = look_level(answers, previous_answers, budget, alpha, spent_before)
    cuts = thresholds(p[~checked])
    sets = estimate_sets(p, checked, right, draw_rows, draw_probability, cuts, design=design)
    start = 0
    if earlier is not None and checked_before is not None and level > 0:
        known = np.asarray(checked_before, dtype=bool) & checked
        rows_now = np.asarray(draw_rows, dtype=int)
        counted = np.asarray(earlier, dtype=bool) & (rows_now >= 0) & known[np.maximum(rows_now, 0)]
        before_rows = np.where(counted, rows_now, -1)  # an earlier draw on a label answered since counts no more
        before = estimate_sets(p, known, right & known, before_rows, draw_probability, cuts, design=design)
        start = start_row(before, sets, target, level, least_checks)
    look = certify(sets, target, level, least_checks, start)
    if accept_all:
        look = Look(accepted=len(cuts) - 1 if cuts else None, level=0.0, first_tested=None, failed=None)
    accepted = p >= cuts[look.accepted] if look.accepted is not None else np.zeros(len(p), dtype=bool)
    accepted &= ~checked
    rows = np.asarray(draw_rows, dtype=int)
    landed = rows >= 0
    answers_left = max(0, budget - answers)
    # the draws a set would hold at the budget's end if the audits went to it: most of the answers left (what
    # explores, fixes and the floor leave), and its share of the rest
    future = sets.draws + answers_left * (FUTURE_AUDIT_SHARE + (1 - FUTURE_AUDIT_SHARE) * sets.size / max(len(p), 1))
    pick, needed = choose_target(
        sets, target, final_level(answers, budget, batch, alpha, spent_before + level), future, pool_size
    )
    curve = []
    for row, cut in enumerate(cuts):
        point, lower = _pointwise(sets, row, confidence)
        curve.append(
            CurvePoint(
                threshold=round(cut, 6),
                labels=int(sets.unchecked[row]),
                coverage=round((int(sets.unchecked[row]) + covered) / pool_size, 4) if pool_size else 0.0,
                accuracy=point,
                lower=lower,
                checks=int(sets.draws[row]),
            )
        )
    point = lower = None
    if look.accepted is not None:
        row = look.accepted
        bound = None if accept_all else sets.unchecked_accuracy(row, sets.upper(row, look.level))
        point = round(point_accuracy(sets, row, bound), 4)
        lower = round(bound, 4) if bound is not None else None
    following = (look.accepted + 1) if look.accepted is not None else look.first_tested
    if look.failed is not None:
        following = look.failed
    if following is None:  # no set tested yet: the one the audits go to, else the largest predicted to pass
        following = pick if pick is not None else _likeliest(sets, target)
    next_set = None
    if following is not None and following < len(cuts):
        error, goal = predicted_error(sets, following), set_target_error(sets, following, target)
        have, at = int(sets.draws[following]), level or final_level(answers, budget, batch, alpha, spent_before + level)
        more = next((m for m in range(0, 1001, 10) if chance_to_pass(error, have + m, goal, at) >= 0.5), None)
        tested = sets.draws[following] >= least_checks and level > 0
        next_set = NextSet(
            labels=int(sets.unchecked[following]),
            coverage=round((int(sets.unchecked[following]) + covered) / pool_size, 4) if pool_size else 0.0,
            accuracy=_pointwise(sets, following, confidence)[0],
            lower=round(sets.unchecked_accuracy(following, sets.upper(following, level)), 4) if tested else None,
            checks=int(sets.draws[following]),
            audits_needed=more if more is not None else 0,
        )
    label_array = np.asarray(labels, dtype=object)
    per_label = {}
    for name in sorted(set(labels)):
        mine = label_array == name
        on_mine = landed & mine[np.where(landed, rows, 0)]
        share = None
        if look.accepted is not None:
            own = estimate_sets(
                p, checked, right, draw_rows, draw_probability, [cuts[look.accepted]], within=mine, design=design
            )
            share = _pointwise(own, 0, confidence)[0] if own.unchecked[0] else None
        per_label[name] = LabelEstimate(
            accepted=int((accepted & mine).sum()),
            accuracy=share,
            checks=int((checked & mine).sum()),
            checks_right=int((right & mine).sum()),
            audits=int((on_mine & draw_audit).sum()),
            audits_right=int((on_mine & draw_audit & right[np.where(landed, rows, 0)]).sum()),
        )
    audits = landed & np.asarray(draw_audit, dtype=bool)
    audits_right = int((audits & right[np.where(landed, rows, 0)]).sum())
    estimate = Estimate(
        accepted=int(accepted.sum()),
        accuracy=point,
        lower=lower,
        upper=round(min(1.0, 2 * point - lower), 4) if point is not None and lower is not None else None,
        confidence=confidence,
        target=target,
        threshold=round(cuts[look.accepted], 6) if look.accepted is not None else None,
        checks=int(landed.sum()),
        audits=int(audits.sum()),
        audits_right=audits_right,
        basis=("quality target off: every machine label accepted unchecked; " if accept_all else "")
        + (
            f"{int(landed.sum())} draws on machine labels, each weighted by its probability "
            + ("within the set under its round's design" if design is not None else "under its round's design")
            + ", with p_correct as a "
            f"control variate (weight {sets.lam:.2f}); sets tested most trusted first at level {level:.4f} of "
            f"{alpha:.2f}, {spent_before + level:.4f} spent so far"
        ),
        per_label=per_label,
        curve=curve,
        next=None if accept_all else next_set,
        level=round(level, 6),
        spent=round(spent_before + level, 6),
    )
    return Decision(
        accepted=accepted,
        estimate=estimate,
        target=cuts[pick] if pick is not None else None,
        audits_needed=needed,
        first_tested=look.first_tested if level > 0 else None,
    )
