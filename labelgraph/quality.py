"""How right is the accepted set, and how much may be accepted: a model-assisted estimate and a fixed-sequence test.

Candidate sets are the top 5%, 10%, ... of unchecked machine labels by ``p_correct``. For a set S the estimate is
the calibrated model's mean ``p_correct`` over S, corrected by the mean residual (right - p_correct, out of fold)
of the machine labels people checked inside S; the correction is shrunk towards zero as if the model were worth
``prior_strength`` checks (prediction-powered inference with a prior; ``prior_strength: 0`` is plain PPI, which
rests on the checks alone). The lower bound is one-sided at ``confidence``. Sets are taken from the most trusted
down while the lower bound stays at or above the target, and the walk stops at the first failure (fixed-sequence
testing, as in Learn-then-Test); a set with fewer than ``min_checks`` checks inside is not tested (its bound
would be the prior's alone), which depends only on how many checks there are, not on their answers. Blind
audits are drawn uniformly from the first set that fails, so each answer goes where the next certification needs
it; they are unbiased for it, and reported on their own too.
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import BaseModel, Field
from scipy.stats import norm

__all__ = ["CurvePoint", "Decision", "Estimate", "LabelEstimate", "decide", "wilson"]

STEPS = 20
"""Candidate sets: the top 1/STEPS, 2/STEPS, ... of machine labels by p_correct."""


def wilson(right: int, total: int, confidence: float) -> tuple[float, float]:
    """Two-sided Wilson score interval for ``right`` of ``total`` (0, 1 when there is nothing)."""
    if total == 0:
        return 0.0, 1.0
    z = float(norm.ppf(1 - (1 - confidence) / 2))
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


def _set_estimate(
    p_set: np.ndarray, residuals: np.ndarray, prior_strength: float, z: float
) -> tuple[float, float, float]:
    """(point, lower bound, per-label variance) for a set with model scores ``p_set`` and checked ``residuals``."""
    model = float(p_set.mean())
    variance = float((p_set * (1 - p_set)).mean())
    weight = len(residuals) + prior_strength
    if weight == 0:
        return model, -math.inf, variance
    correction = float(residuals.sum()) / weight
    spread = (float((residuals**2).sum()) + prior_strength * variance) / weight
    point = min(1.0, max(0.0, model + correction))
    return point, point - z * math.sqrt(max(spread, 1e-6) / weight), spread


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
    prior_strength: float,
    min_checks: int = 30,
) -> Decision:
    """Accept the largest top set whose lower accuracy bound meets ``target`` (see the module's docstring).

    ``p``, ``labels``: the candidates (machine labels nobody checked). ``checked_*``: machine labels a person
    checked, with their out-of-fold p_correct, whether they were right and the machine's label. ``audited_*``:
    the blind audits among them. ``covered``: labels outside the candidates (people's, seeds) for coverage.
    """
    p = np.asarray(p, dtype=float)
    labels_arr = np.asarray(labels, dtype=object)
    checked_p = np.asarray(checked_p, dtype=float)
    residual = np.asarray(checked_right, dtype=float) - checked_p
    checked_labels_arr = np.asarray(checked_labels, dtype=object)
    z = float(norm.ppf(confidence))
    ranked = np.sort(p)[::-1]
    curve: list[CurvePoint] = []
    accepted_at, failed_at, needed = None, None, 0
    seen: set[float] = set()
    for step in range(1, STEPS + 1):
        if not len(p):
            break
        threshold = float(ranked[math.ceil(step / STEPS * len(p)) - 1])
        if threshold in seen:
            continue
        seen.add(threshold)
        members = p >= threshold
        inside = checked_p >= threshold
        point, lower, spread = _set_estimate(p[members], residual[inside], prior_strength, z)
        n = int(members.sum())
        curve.append(
            CurvePoint(
                threshold=round(threshold, 6),
                labels=n,
                coverage=round((n + covered) / pool_size, 4) if pool_size else 0.0,
                accuracy=round(point, 4),
                lower=round(lower, 4) if math.isfinite(lower) else 0.0,
            )
        )
        if int(inside.sum()) < min_checks:  # too few checks to test (decided by their number, not outcome)
            continue
        if failed_at is None and lower >= target:
            accepted_at = threshold
        elif failed_at is None:
            failed_at = threshold
            if point > target:  # checks that would lift the lower bound to the target, if the point estimate holds
                total = z * z * spread / (point - target) ** 2
                needed = max(0, math.ceil(total - prior_strength - int(inside.sum())))
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
        point = _set_estimate(p[mine], residual[mine_checks], prior_strength, z)[0] if mine.any() else None
        per_label[name] = LabelEstimate(
            accepted=int(mine.sum()),
            accuracy=round(point, 4) if point is not None else None,
            audits=m,
            audits_right=k,
            audit_interval=tuple(round(x, 4) for x in wilson(k, m, 2 * confidence - 1)),  # type: ignore[arg-type]
        )
    chosen = next((c for c in curve if accepted_at is not None and c.threshold == round(accepted_at, 6)), None)
    audit_right, audits = int(audited_right.sum()), len(audited_right)
    estimate = Estimate(
        accepted=int(accepted.sum()),
        accuracy=chosen.accuracy if chosen else None,
        lower=chosen.lower if chosen else None,
        upper=round(min(1.0, 2 * chosen.accuracy - chosen.lower), 4) if chosen else None,
        confidence=confidence,
        target=target,
        threshold=round(accepted_at, 6) if accepted_at is not None else None,
        checks=len(residual),
        audits=audits,
        audits_right=audit_right,
        audit_interval=tuple(round(x, 4) for x in wilson(audit_right, audits, 2 * confidence - 1)),  # type: ignore[arg-type]
        basis=(
            f"calibrated p_correct (worth {prior_strength:g} checks) corrected by "
            f"{int(inside_all.sum())} checked machine labels inside the accepted set; {audits} blind audits in all"
        ),
        per_label=per_label,
        curve=curve,
    )
    return Decision(accepted=accepted, audit_region=region, audits_needed=needed, estimate=estimate)
