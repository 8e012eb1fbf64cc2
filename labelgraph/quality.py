"""How right is the accepted set, and how much may be accepted: a model-assisted estimate and a fallback test.

Candidate sets are the top 5%, 10%, ... of unchecked machine labels by ``p_correct``. A set's accuracy is
estimated by prediction-powered inference with power tuning (PPI++, Angelopoulos et al. 2023): the mean of
``lam * p_correct`` over the set plus the mean of ``right - lam * p_correct`` (out of fold) over the machine labels
people checked inside it, with ``lam`` chosen from the data to minimise the variance. The estimate is unbiased
whatever ``lam`` and however good the calibration: a good model narrows the interval (``lam`` near 1), a poor
one falls back on the checks alone (``lam`` near 0). The corrections are post-stratified over slices of p_correct
(each stratum's mean weighs as its share of the set), since audits crowd where the boundary was round by round
and calibration errs most in the tail. One right and one wrong pseudo-check enter the variance,
so a handful of all-right checks cannot claim certainty (as in the Wilson interval). The lower bound is one-sided
at ``confidence``. Sets are tested from the most trusted down by Wiens' fallback procedure (``_fallback``): the
largest set that passes is accepted, and the chance that any passing set is below the target stays at most
``1 - confidence``; one failing set does not stop the walk. A set is not tested before it holds
``checks_to_test`` checks (``min_checks``, and enough that one wrong check could still pass), which depends only
on how many checks there are, not on their answers. Blind audits are drawn uniformly from the first set beyond the
accepted one (or, while no set has enough checks to be tested, from the first set), so each answer goes where the
next certification needs it; they are unbiased for it, and reported on their own too. They go on while that set's
estimate, even below the target, is not shown to be under it: an unlucky early sample would else stop them for good.
"""

from __future__ import annotations

import math
from functools import cache
from statistics import NormalDist

import numpy as np
from pydantic import BaseModel, Field

__all__ = ["CurvePoint", "Decision", "Estimate", "LabelEstimate", "NextSet", "decide", "wilson"]

STEPS = 20
"""Candidate sets: the top 1/STEPS, 2/STEPS, ... of machine labels by p_correct."""
MIN_STRATUM_CHECKS = 10
"""Post-strata hold at least this many checks (see ``_set_estimate``)."""
MOST_CHECKS = 400
"""Checks beyond which a target that one wrong check would fail is deemed out of reach (see ``checks_to_test``)."""


def wilson(right: int, total: int, confidence: float) -> tuple[float, float]:
    """Two-sided Wilson score interval for ``right`` of ``total`` (0, 1 when there is nothing)."""
    if total == 0:
        return 0.0, 1.0
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    p = right / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return max(0.0, centre - half), min(1.0, centre + half)


class CurvePoint(BaseModel):
    """The accepted set if labels down to ``threshold`` were taken."""

    threshold: float
    labels: int
    coverage: float
    accuracy: float
    lower: float


class LabelEstimate(BaseModel):
    accepted: int
    accuracy: float | None
    audits: int
    audits_right: int
    audit_interval: tuple[float, float]


class NextSet(BaseModel):
    """The set the next certification is about (the first one beyond the accepted labels) and what it lacks."""

    labels: int
    coverage: float
    accuracy: float
    lower: float | None
    """Its lower bound at the level it is tested at (None before it holds enough checks to be tested)."""
    checks: int
    audits_needed: int
    """Blind audits that would let it pass if its estimate holds (0: out of reach, its estimate is below the target
    or it would need more than ``MOST_CHECKS`` checks)."""


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
    audits: int
    audits_right: int
    audit_interval: tuple[float, float]
    basis: str
    per_label: dict[str, LabelEstimate] = Field(default_factory=dict)
    curve: list[CurvePoint] = Field(default_factory=list)
    next: NextSet | None = None
    """What the next certification needs: tells a user why no more is accepted and what would change it."""


class Decision(BaseModel):
    model_config = {"arbitrary_types_allowed": True}

    accepted: np.ndarray
    """Boolean mask over the candidates."""
    audit_region: np.ndarray
    """Boolean mask: the first set that failed the target (where blind audits help most)."""
    audits_needed: int
    """Checks in the audit region that would let it pass, if its estimate holds (0 when out of reach)."""
    estimate: Estimate


def _strata(check_bands: np.ndarray, bands: int, least: int) -> np.ndarray:
    """Post-strata over a set's bands (its slices between consecutive thresholds, most trusted first): adjacent
    bands merged from the top until each stratum holds ``least`` checks; a short remainder joins the stratum above.
    Returns each band's stratum. Decided by where the checks are, never by their answers."""
    counts = np.bincount(check_bands, minlength=bands)
    stratum_of, stratum, held = np.zeros(bands, dtype=int), 0, 0
    for band in range(bands):
        stratum_of[band] = stratum
        held += int(counts[band])
        if held >= least and band < bands - 1:
            stratum, held = stratum + 1, 0
    if held < least and stratum > 0:  # the last stratum is short: it joins the one above
        stratum_of[stratum_of == stratum] = stratum - 1
    return stratum_of


def _set_estimate(
    p_set: np.ndarray,
    checked_p: np.ndarray,
    right: np.ndarray,
    set_bands: np.ndarray | None = None,
    check_bands: np.ndarray | None = None,
) -> tuple[float, float]:
    """(point, standard error) for a set with model scores ``p_set`` and checks (``checked_p``, ``right``)
    inside it; the error is infinite without checks. With bands (each label's slice of the set), the checks'
    corrections are post-stratified: each stratum's mean correction weighs as much as the stratum's share of the
    set, so checks crowded into some slices (audits follow the boundary round by round) do not speak for the rest."""
    n, big_n = len(right), len(p_set)
    if n == 0 or big_n == 0:
        return float(p_set.mean()) if big_n else 0.0, math.inf
    y, f = right.astype(float), checked_p
    spread_f = float(np.var(np.concatenate([p_set, f])))
    lam = 0.0
    if n > 1 and spread_f > 0:
        lam = float(np.clip(np.cov(y, f)[0, 1] / ((1 + n / big_n) * spread_f), 0.0, 1.0))
    corrections = y - lam * f
    padded = np.concatenate([corrections, [1 - lam * f.mean(), -lam * f.mean()]])  # one right, one wrong pseudo-check
    floor = float(np.var(padded, ddof=1))
    if set_bands is None or check_bands is None:
        stratum_of_set, stratum_of_check = np.zeros(big_n, dtype=int), np.zeros(n, dtype=int)
    else:
        bands = int(max(set_bands.max(), check_bands.max())) + 1
        stratum_of = _strata(check_bands, bands, MIN_STRATUM_CHECKS)
        stratum_of_set, stratum_of_check = stratum_of[set_bands], stratum_of[check_bands]
    correction, correction_variance = 0.0, 0.0
    for stratum in np.unique(stratum_of_set):
        share = float(np.mean(stratum_of_set == stratum))
        mine = corrections[stratum_of_check == stratum]
        spread = float(np.var(mine, ddof=1)) if len(mine) > 1 else floor
        correction += share * float(mine.mean())
        correction_variance += share**2 * max(spread, floor) / len(mine)
    point = float(lam * p_set.mean() + correction)
    variance = lam**2 * float(np.var(p_set)) / big_n + correction_variance
    return min(1.0, max(0.0, point)), math.sqrt(variance)


class _TopSet(BaseModel):
    threshold: float
    point: float
    error: float
    checks: int


def _fallback(sets: list[_TopSet], target: float, alpha: float) -> tuple[int | None, list[float]]:
    """Wiens' fallback procedure over the testable sets, most trusted first. The first set is tested at level
    alpha / 2 and each later one at alpha / 2 shared equally, plus the level of the set before it when that one
    passed. So one unlucky set does not stop the walk (as it does in a plain fixed sequence), and the chance that
    any passing set is below the target stays at most alpha. Returns the largest set that passed and each z."""
    if not sets:
        return None, []
    shares = [alpha] if len(sets) == 1 else [alpha / 2] + [alpha / (2 * (len(sets) - 1))] * (len(sets) - 1)
    carried, largest, zs = 0.0, None, []
    for index, (top, share) in enumerate(zip(sets, shares, strict=True)):
        level = share + carried
        zs.append(NormalDist().inv_cdf(1 - level))
        passed = top.point - zs[-1] * top.error >= target
        carried = level if passed else 0.0
        largest = index if passed else largest
    return largest, zs


@cache
def checks_to_test(target: float, confidence: float, min_checks: int, most: int = MOST_CHECKS) -> int:
    """Checks a set needs before it is tested: at least ``min_checks``, and enough that one wrong check among them
    could still pass at the first test's level (``most`` at the highest). A set with fewer fails whatever its
    answers, and would spend the first test's half of the error level for nothing. Decided by counts alone."""
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    for n in range(max(min_checks, 2), most):
        if _would_pass(n, 1, target, z):
            return n
    return max(min_checks, most)


def _would_pass(n: int, wrong: int, target: float, z: float) -> bool:
    """Whether ``n`` checks in strata of their own, ``wrong`` of them wrong, give a bound at ``z`` over ``target``."""
    bands = np.arange(n) // MIN_STRATUM_CHECKS
    point, error = _set_estimate(np.ones(n), np.ones(n), np.arange(n) >= wrong, bands, bands)
    return point - z * error >= target


def _checks_to_pass(accuracy: float, target: float, confidence: float) -> int | None:
    """Checks a set needs to pass the first test if that share of them is right (None: not within MOST_CHECKS)."""
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    return next((n for n in range(2, MOST_CHECKS) if _would_pass(n, round(n * (1 - accuracy)), target, z)), None)


def _audits_needed(top: _TopSet, z: float, target: float) -> int:
    """Checks that would lift a failed set's bound to the target if its point estimate held (0 if out of reach)."""
    lower = top.point - z * top.error
    if top.point <= target or not math.isfinite(lower):
        return 0
    return max(0, math.ceil(top.checks * ((top.point - lower) / (top.point - target)) ** 2) - top.checks)


def _next_set(top: _TopSet, point: CurvePoint, lower: float | None, needed: int) -> NextSet:
    """The next set to certify as a user reads it."""
    return NextSet(
        labels=point.labels,
        coverage=point.coverage,
        accuracy=point.accuracy,
        lower=round(max(0.0, lower), 4) if lower is not None and math.isfinite(lower) else None,
        checks=top.checks,
        audits_needed=needed,
    )


def decide(
    p: np.ndarray,
    labels: list[str],
    *,
    checked_p: np.ndarray,
    checked_right: np.ndarray,
    checked_labels: list[str],
    audited_labels: list[str],
    audited_right: np.ndarray,
    pool_size: int,
    covered: int,
    target: float,
    confidence: float,
    min_checks: int = 30,
    accept_all: bool = False,
) -> Decision:
    """Accept the largest top set whose lower accuracy bound meets ``target`` (see the module's docstring).

    ``p``, ``labels``: the candidates (machine labels nobody checked). ``checked_*``: machine labels a person
    checked, with their out-of-fold p_correct, whether they were right and the machine's label. ``audited_*``:
    the blind audits among them. ``covered``: labels outside the candidates (people's, seeds) for coverage.
    ``accept_all``: no target (a baseline): every candidate is accepted and the estimate is that of them all.
    """
    p = np.asarray(p, dtype=float)
    labels_arr = np.asarray(labels, dtype=object)
    checked_p = np.asarray(checked_p, dtype=float)
    checked_right = np.asarray(checked_right, dtype=bool)
    checked_labels_arr = np.asarray(checked_labels, dtype=object)
    z_pointwise = NormalDist().inv_cdf(confidence)
    ranked = np.sort(p)[::-1]
    steps = range(1, STEPS + 1) if len(p) else range(0)
    thresholds = sorted({float(ranked[math.ceil(step / STEPS * len(p)) - 1]) for step in steps}, reverse=True)
    # each label's band: the slice between two consecutive thresholds it falls in (post-strata are built from them)
    band, checked_band = (np.searchsorted(-np.array(thresholds), -values) for values in (p, checked_p))
    curve: list[CurvePoint] = []
    sets: list[_TopSet] = []
    for threshold in thresholds:
        members, inside = p >= threshold, checked_p >= threshold
        point, error = _set_estimate(
            p[members], checked_p[inside], checked_right[inside], band[members], checked_band[inside]
        )
        sets.append(_TopSet(threshold=threshold, point=point, error=error, checks=int(inside.sum())))
        n = int(members.sum())
        lower = point - z_pointwise * error
        curve.append(
            CurvePoint(
                threshold=round(threshold, 6),
                labels=n,
                coverage=round((n + covered) / pool_size, 4) if pool_size else 0.0,
                accuracy=round(point, 4),
                lower=round(lower, 4) if math.isfinite(lower) else 0.0,
            )
        )
    # a set with too few checks is not tested (decided by their number, not their outcome); checks inside grow
    # with the set, so the testable sets are the larger ones
    least = checks_to_test(target, confidence, min_checks)
    testable = [top for top in sets if top.checks >= least]
    largest, zs = _fallback(testable, target, 1 - confidence)
    accepted_at = testable[largest].threshold if largest is not None else None
    tested_lower = testable[largest].point - zs[largest] * testable[largest].error if largest is not None else None
    following = 0 if largest is None else largest + 1
    failed_at, needed, next_at, next_lower, next_needed = None, 0, None, None, 0
    if following < len(testable):  # the next set to certify
        top, z = testable[following], zs[following]
        failed_at, next_at, next_needed = top.threshold, sets.index(top), _audits_needed(top, z, target)
        next_lower = top.point - z * top.error
        # estimated below the target but not shown to be: audits go on (an unlucky sample would else stall them)
        needed = next_needed or (least if top.point + z_pointwise * top.error > target else 0)
    elif not testable and sets:  # nothing testable yet: audits go to the first set until it can be tested
        failed_at, next_at, needed = sets[0].threshold, 0, least - sets[0].checks
        to_pass = _checks_to_pass(sets[0].point, target, confidence) if sets[0].point > target else None
        if to_pass is not None:  # else out of reach: its estimate is below the target
            next_needed = max(least, to_pass) - sets[0].checks
        elif sets[0].checks == 0:  # no check yet: the estimate is the model's prior, not evidence
            next_needed = least
    if accept_all and len(p):
        accepted_at, tested_lower = float(ranked[-1]), None
    accepted = p >= accepted_at if accepted_at is not None else np.zeros(len(p), dtype=bool)
    region = p >= failed_at if failed_at is not None else np.zeros(len(p), dtype=bool)
    audited_right = np.asarray(audited_right, dtype=bool)
    audited_labels_arr = np.asarray(audited_labels, dtype=object)
    per_label: dict[str, LabelEstimate] = {}
    inside_all = checked_p >= accepted_at if accepted_at is not None else np.zeros(len(checked_p), dtype=bool)
    for name in sorted(set(labels) | set(audited_labels)):
        mine = accepted & (labels_arr == name)
        mine_checks = inside_all & (checked_labels_arr == name)
        mine_audits = audited_labels_arr == name
        k, m = int(audited_right[mine_audits].sum()), int(mine_audits.sum())
        point = None
        if mine.any():
            point = _set_estimate(
                p[mine], checked_p[mine_checks], checked_right[mine_checks], band[mine], checked_band[mine_checks]
            )[0]
        per_label[name] = LabelEstimate(
            accepted=int(mine.sum()),
            accuracy=round(point, 4) if point is not None else None,
            audits=m,
            audits_right=k,
            audit_interval=tuple(round(x, 4) for x in wilson(k, m, 2 * confidence - 1)),  # type: ignore[arg-type]
        )
    chosen = next((c for c in curve if accepted_at is not None and c.threshold == round(accepted_at, 6)), None)
    lower_bound = chosen.lower if chosen else None
    if tested_lower is not None:  # the bound the set was certified at, simultaneous over every set tested
        lower_bound = round(max(0.0, tested_lower), 4)
    audit_right, audits = int(audited_right.sum()), len(audited_right)
    estimate = Estimate(
        accepted=int(accepted.sum()),
        accuracy=chosen.accuracy if chosen else None,
        lower=lower_bound,
        upper=round(min(1.0, 2 * chosen.accuracy - lower_bound), 4) if chosen and lower_bound is not None else None,
        confidence=confidence,
        target=target,
        threshold=round(accepted_at, 6) if accepted_at is not None else None,
        checks=len(checked_right),
        audits=audits,
        audits_right=audit_right,
        audit_interval=tuple(round(x, 4) for x in wilson(audit_right, audits, 2 * confidence - 1)),  # type: ignore[arg-type]
        basis=("quality target off: every machine label accepted unchecked; " if accept_all else "")
        + (
            f"prediction-powered: calibrated p_correct over the accepted set, corrected by the "
            f"{int(inside_all.sum())} machine labels people checked inside it; {audits} blind audits in all"
        ),
        per_label=per_label,
        curve=curve,
        next=None
        if next_at is None or accept_all
        else _next_set(sets[next_at], curve[next_at], next_lower, next_needed),
    )
    return Decision(accepted=accepted, audit_region=region, audits_needed=needed, estimate=estimate)
