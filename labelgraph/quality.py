"""How right is the accepted set, and how much may be accepted: a model-assisted estimate and a fallback test.

Candidate sets are the top 5%, 10%, ... of unchecked machine labels by ``p_correct``. A set's accuracy is
estimated by prediction-powered inference with power tuning (PPI++, Angelopoulos et al. 2023): the mean of
``lam * p_correct`` over the set plus the mean of ``right - lam * p_correct`` (out of fold) over its sample of
checked labels, with ``lam`` chosen from the data to minimise the variance. The estimate is unbiased whatever
``lam`` and however good the calibration, provided the sample is a uniform one of the set.

That is what permanent random numbers give (PRN sampling, as statistics offices draw panels): every machine label
has a fixed number in [0, 1) from the run's seed and its id (``permanent_random``), audits take the labels with
the smallest numbers in their region first, and a set's sample is every label of the set whose number lies
below its *cutoff* (``_sample``): a uniform sample of the set, however the set moved as p_correct changed round by
round and whichever lane asked for each check (a strategy's pick counts as well as an audit). A label below the
cutoff that nobody checked blind (one that joined the set after its audits were drawn, or a fix, which shows the
person the machine's label) counts as a wrong answer, and the cutoff stops where such labels would pass 5% of
the checks: a late label costs the set until an audit reaches it, instead of borrowing the answers of others.

The corrections are post-stratified over slices of p_correct (each stratum's mean weighs as its share of the set).
Pseudo-checks, as many right as wrong, enter the variance (``PSEUDO_CHECKS``), so all-right checks claim no more
certainty than a Wilson bound would give them. The lower bound is one-sided at ``confidence``. Sets are tested
from the most trusted down by fixed-sequence testing (``_fixed_sequence``), each at level ``1 - confidence``: the
largest set before the first failure is accepted, and the chance that any passing set is below the target stays
at most ``1 - confidence``. A set is not tested before its sample holds ``checks_to_test`` checks (``min_checks``,
and enough that one wrong check could still pass), which depends only on how many checks there are, not on their
answers. Blind audits go to the first testable set beyond the accepted one, or while there is none, to the largest
set whose mean p_correct lies halfway from the target to certainty; they are reported on their own too.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from functools import cache
from statistics import NormalDist

import numpy as np
from pydantic import BaseModel, Field

__all__ = ["CurvePoint", "Decision", "Estimate", "LabelEstimate", "decide", "permanent_random", "wilson"]

STEPS = 20
"""Candidate sets: the top 1/STEPS, 2/STEPS, ... of machine labels by p_correct."""
MIN_STRATUM_CHECKS = 10
"""Post-strata hold at least this many checks (see ``_set_estimate``)."""
HOLES = 0.05
"""A set's sample may hold labels nobody checked blind, each counted as wrong, up to this share of its checks (see
``_sample``)."""
PSEUDO_CHECKS = 3
"""Right and as many wrong pseudo-checks in a set's variance: with 3 each, the bound of n all-right checks is about
the Wilson score bound (76 of 76 at one-sided 95%: 0.964 against Wilson's 0.966; with 1 each it was 0.979)."""


def permanent_random(ids: Iterable[str], seed: int) -> np.ndarray:
    """Each label's permanent random number in [0, 1), fixed by the run's seed and the label's id."""
    return (
        np.array(
            [int.from_bytes(hashlib.blake2b(f"{seed}:{i}".encode(), digest_size=8).digest(), "little") for i in ids],
            dtype=float,
        )
        / 2.0**64
    )


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


def _sample(
    members: np.ndarray,
    inside: np.ndarray,
    blind: np.ndarray,
    u: np.ndarray | None,
    checked_u: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """A set's sample: (checks in it, members in it nobody checked). With permanent random numbers, every label of
    the set whose number lies below the set's cutoff. The cutoff is the number of a blind check, as far up as the
    labels below it that nobody checked blind (members audits have not reached yet, fixes) stay within ``HOLES`` of
    the checks there, and each of those counts as a wrong check. So the sample is uniform over the set however the set
    moved as p_correct changed, whichever lane asked for each check, and a label that joins the set late costs a
    wrong answer until an audit reaches it instead of borrowing the answers of others. Without numbers: every
    blind check inside the set, and nothing imputed."""
    if u is None or checked_u is None:
        return inside & blind, np.zeros(len(members), dtype=bool)
    member_rows, check_rows = np.flatnonzero(members), np.flatnonzero(inside)
    numbers = np.concatenate([u[member_rows], checked_u[check_rows]])
    hole = np.concatenate([np.ones(len(member_rows), dtype=bool), ~blind[check_rows]])
    order = np.argsort(numbers, kind="stable")
    holes, checks = np.cumsum(hole[order]), np.cumsum(~hole[order])
    fits = np.flatnonzero((holes <= HOLES * checks) & ~hole[order])  # the sample ends at a check
    taken = order[: fits[-1] + 1] if len(fits) else order[:0]
    taken_checks, taken_members = np.zeros(len(inside), dtype=bool), np.zeros(len(members), dtype=bool)
    taken_checks[check_rows[taken[taken >= len(member_rows)] - len(member_rows)]] = True
    taken_members[member_rows[taken[taken < len(member_rows)]]] = True
    return taken_checks, taken_members


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
    pseudo = [1 - lam * f.mean()] * PSEUDO_CHECKS + [-lam * f.mean()] * PSEUDO_CHECKS  # as many right as wrong
    padded = np.concatenate([corrections, pseudo])
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


def _fixed_sequence(sets: list[_TopSet], target: float, alpha: float) -> tuple[int | None, list[float]]:
    """Fixed-sequence testing over the testable sets, most trusted first: each at level alpha, stopping at the
    first that fails, so the chance that any passing set is below the target stays at most alpha ("Learn then
    Test", Angelopoulos et al. 2021). The sets are nested and so are their samples (``_sample``): a wrong answer in
    one is in every larger one, which is why a failure ends the walk. Returns the largest set that passed and
    each set's z."""
    z = NormalDist().inv_cdf(1 - alpha)
    largest = None
    for index, top in enumerate(sets):
        if top.point - z * top.error < target:
            break
        largest = index
    return largest, [z] * len(sets)


@cache
def checks_to_test(target: float, confidence: float, min_checks: int, most: int = 400) -> int:
    """Checks a set needs before it is tested: at least ``min_checks``, and enough that one wrong check among them
    could still pass (``most`` at the highest). A set with fewer fails whatever its answers, and would end the
    walk for nothing. Decided by counts alone."""
    z = NormalDist().inv_cdf(confidence)
    for n in range(max(min_checks, 2), most):  # n checks in strata of their own, one of them wrong
        bands = np.arange(n) // MIN_STRATUM_CHECKS
        point, error = _set_estimate(np.ones(n), np.ones(n), np.arange(n) > 0, bands, bands)
        if point - z * error >= target:
            return n
    return max(min_checks, most)


def _audits_needed(top: _TopSet, z: float, target: float) -> int:
    """Checks that would lift a failed set's bound to the target if its point estimate held (0 if out of reach)."""
    lower = top.point - z * top.error
    if top.point <= target or not math.isfinite(lower):
        return 0
    return max(0, math.ceil(top.checks * ((top.point - lower) / (top.point - target)) ** 2) - top.checks)


def decide(
    p: np.ndarray,
    labels: list[str],
    *,
    checked_p: np.ndarray,
    checked_right: np.ndarray,
    checked_labels: list[str],
    audited_labels: list[str],
    audited_right: np.ndarray,
    u: np.ndarray | None = None,
    checked_u: np.ndarray | None = None,
    checked_blind: np.ndarray | None = None,
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
    the blind audits among them. ``u``, ``checked_u``: permanent random numbers of the candidates and the checked
    labels, and ``checked_blind`` which checks hid the machine's label: a set's sample is then its blind checks
    below the set's cutoff (``_sample``); without them every blind check counts, as a uniform sample of every set.
    ``covered``: labels outside the candidates (people's, seeds) for coverage.
    ``accept_all``: no target (a baseline): every candidate is accepted and the estimate is that of them all.
    """
    p = np.asarray(p, dtype=float)
    labels_arr = np.asarray(labels, dtype=object)
    checked_p = np.asarray(checked_p, dtype=float)
    checked_right = np.asarray(checked_right, dtype=bool)
    checked_labels_arr = np.asarray(checked_labels, dtype=object)
    blind = np.ones(len(checked_p), dtype=bool) if checked_blind is None else np.asarray(checked_blind, dtype=bool)
    z_pointwise = NormalDist().inv_cdf(confidence)
    ranked = np.sort(p)[::-1]
    steps = range(1, STEPS + 1) if len(p) else range(0)
    thresholds = sorted({float(ranked[math.ceil(step / STEPS * len(p)) - 1]) for step in steps}, reverse=True)
    # each label's band: the slice between two consecutive thresholds it falls in (post-strata are built from them)
    band, checked_band = (np.searchsorted(-np.array(thresholds), -values) for values in (p, checked_p))
    curve: list[CurvePoint] = []
    sets: list[_TopSet] = []
    samples: list[tuple[np.ndarray, np.ndarray]] = []

    def sample_of(taken: np.ndarray, imputed: np.ndarray, keep: str | None = None) -> tuple[np.ndarray, ...]:
        """(p_correct, right, band) of a sample: the checks taken (a fix counts wrong), the members imputed wrong."""
        if keep is not None:
            taken, imputed = taken & (checked_labels_arr == keep), imputed & (labels_arr == keep)
        return (
            np.concatenate([checked_p[taken], p[imputed]]),
            np.concatenate([checked_right[taken] & blind[taken], np.zeros(int(imputed.sum()), dtype=bool)]),
            np.concatenate([checked_band[taken], band[imputed]]),
        )

    for threshold in thresholds:
        members = p >= threshold
        samples.append(_sample(members, checked_p >= threshold, blind, u, checked_u))
        sample_p, sample_right, sample_band = sample_of(*samples[-1])
        point, error = _set_estimate(p[members], sample_p, sample_right, band[members], sample_band)
        sets.append(_TopSet(threshold=threshold, point=point, error=error, checks=len(sample_right)))
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
    largest, zs = _fixed_sequence(testable, target, 1 - confidence)
    accepted_at = testable[largest].threshold if largest is not None else None
    tested_lower = testable[largest].point - zs[largest] * testable[largest].error if largest is not None else None
    following = 0 if largest is None else largest + 1
    failed_at, needed = None, 0
    later = [top for top in sets if accepted_at is None or top.threshold < accepted_at]
    if following < len(testable):  # the next set to certify
        failed_at, needed = testable[following].threshold, _audits_needed(testable[following], zs[following], target)
    elif later:  # no larger set is testable yet: audits go to the largest the model expects to pass with room
        # (its mean p_correct halfway from the target to certainty), where each answer counts for every set inside
        hopeful = [top for top in later if float(p[p >= top.threshold].mean()) >= (1 + target) / 2] or later[:1]
        failed_at, needed = hopeful[-1].threshold, max(0, least - hopeful[-1].checks)
    if accept_all and len(p):
        accepted_at, tested_lower = float(ranked[-1]), None
    accepted = p >= accepted_at if accepted_at is not None else np.zeros(len(p), dtype=bool)
    region = p >= failed_at if failed_at is not None else np.zeros(len(p), dtype=bool)
    audited_right = np.asarray(audited_right, dtype=bool)
    audited_labels_arr = np.asarray(audited_labels, dtype=object)
    per_label: dict[str, LabelEstimate] = {}
    chosen_sample = (np.zeros(len(checked_p), dtype=bool), np.zeros(len(p), dtype=bool))
    if accepted_at is not None:
        chosen_sample = next(pair for top, pair in zip(sets, samples, strict=True) if top.threshold == accepted_at)
    for name in sorted(set(labels) | set(audited_labels)):
        mine = accepted & (labels_arr == name)
        mine_audits = audited_labels_arr == name
        k, m = int(audited_right[mine_audits].sum()), int(mine_audits.sum())
        point = None
        if mine.any():
            sample_p, sample_right, sample_band = sample_of(*chosen_sample, keep=name)
            point = _set_estimate(p[mine], sample_p, sample_right, band[mine], sample_band)[0]
        per_label[name] = LabelEstimate(
            accepted=int(mine.sum()),
            accuracy=round(point, 4) if point is not None else None,
            audits=m,
            audits_right=k,
            audit_interval=tuple(round(x, 4) for x in wilson(k, m, 2 * confidence - 1)),  # type: ignore[arg-type]
        )
    chosen = next((c for c in curve if accepted_at is not None and c.threshold == round(accepted_at, 6)), None)
    lower_bound = chosen.lower if chosen else None
    if tested_lower is not None:  # the bound the set was certified at
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
        checks=int(blind.sum()),
        audits=audits,
        audits_right=audit_right,
        audit_interval=tuple(round(x, 4) for x in wilson(audit_right, audits, 2 * confidence - 1)),  # type: ignore[arg-type]
        basis=("quality target off: every machine label accepted unchecked; " if accept_all else "")
        + (
            f"prediction-powered: calibrated p_correct over the accepted set, corrected by a uniform sample of "
            f"{int(chosen_sample[0].sum())} machine labels people checked inside it"
            + (f" and {int(chosen_sample[1].sum())} not yet checked, counted wrong" if chosen_sample[1].any() else "")
            + f"; {audits} blind audits in all"
        ),
        per_label=per_label,
        curve=curve,
    )
    return Decision(accepted=accepted, audit_region=region, audits_needed=needed, estimate=estimate)
