"""The person in the loop: what a review shows (the interrupt payload), answer checks, and a simulated human."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field

from labelgraph.errors import ReviewError

__all__ = ["Candidate", "ReviewItem", "ReviewKind", "SimulatedHuman", "check_answers", "plan_batch"]

ReviewKind = Literal["explore", "fix", "audit"]


class Candidate(BaseModel):
    label: str
    probability: float | None = None
    """The annotator's probability; None when the machine's opinion is hidden (audits, explores)."""


class ShownNeighbour(BaseModel):
    text: str
    label: str
    similarity: float


class ReviewItem(BaseModel):
    """One item as a reviewer sees it (plain JSON inside the graph's interrupt).

    ``kind`` says why it was asked: ``fix`` (a machine label likely wrong, shown with it), ``audit`` (a random
    check of labels the machine would accept; its label hidden so it cannot sway the answer) or ``explore``
    (the strategy's pick where a person's label teaches the student most; also blind).
    """

    id: str
    text: str
    round: int
    kind: ReviewKind = "explore"
    p_correct: float | None = None
    candidates: list[Candidate]
    annotator_label: str | None = None
    annotator_confidence: float | None = None
    rationale: str = ""
    reasons: list[str] = Field(default_factory=list)
    neighbours: list[ShownNeighbour] = Field(default_factory=list)
    synthetic: bool = False


def check_answers(
    answers: Iterable[tuple[str, str | None]],
    *,
    waiting: Iterable[str],
    labels: list[str],
    source: str = "answer",
) -> dict[str, str | None]:
    """Validate ``(id, label-or-None)`` pairs against the waiting items and the label set."""
    waiting = set(waiting)
    checked: dict[str, str | None] = {}
    for item_id, label in answers:
        if item_id not in waiting:
            raise ReviewError(f"{source}: item {item_id!r} is not pending review")
        if label is not None and label not in labels:
            raise ReviewError(f"{source}: unknown label {label!r} for item {item_id!r} (labels: {', '.join(labels)})")
        checked[item_id] = label
    return checked


class SimulatedHuman:
    """Answers from gold labels; with ``noise`` > 0 it gives a wrong label at that rate.

    Each answer depends only on (seed, item id), so a resumed run hears the same answers.
    """

    def __init__(
        self,
        gold: Mapping[str, str],
        labels: list[str],
        *,
        noise: float = 0.0,
        seed: int = 0,
        unknown: Callable[[ReviewItem], str | None] | None = None,
    ):
        if not 0.0 <= noise <= 1.0:
            raise ValueError(f"noise must lie in [0, 1], got {noise}")
        self.gold, self.labels, self.noise, self.seed = dict(gold), list(labels), noise, seed
        self.unknown = unknown  # answers items without a gold label (synthetic ones); None skips them

    def _rng(self, item_id: str) -> np.random.Generator:
        # "person:" keeps these draws independent of a simulated annotator's with the same seed
        digest = hashlib.sha256(f"person:{self.seed}:{item_id}".encode()).digest()
        return np.random.default_rng(int.from_bytes(digest[:8], "little"))

    def answer(self, pending: Iterable[ReviewItem]) -> dict[str, str | None]:
        answers: dict[str, str | None] = {}
        for item in pending:
            truth = self.gold.get(item.id)
            if truth is None:
                answers[item.id] = self.unknown(item) if self.unknown else None  # no gold label: skip
                continue
            rng = self._rng(item.id)
            if self.noise and rng.random() < self.noise:
                truth = str(rng.choice([label for label in self.labels if label != truth]))
            answers[item.id] = truth
        return answers


def plan_batch(
    room: int,
    *,
    explore: list[str],
    candidates: list[str],
    p_correct: np.ndarray,
    accepted: np.ndarray,
    audit_region: np.ndarray,
    audits_needed: int,
    uncertainty: np.ndarray,
    audits_done: int,
    audit_rate: float,
    explore_share: float,
    rng: np.random.Generator,
) -> list[tuple[str, ReviewKind]]:
    """The person's batch: blind audits drawn uniformly from ``audit_region`` (the next set to certify), as many
    as ``audit_rate`` of the accepted labels or as the target needs (``audits_needed``), at most half a batch;
    the strategy's picks (``explore_share``); and fixes: proposals ranked by ``(1 - p_correct) x
    informativeness``. Slots one kind cannot fill go to the others."""
    if room <= 0:
        return []
    plan: dict[str, ReviewKind] = {}
    region = [c for c, inside in zip(candidates, audit_region, strict=True) if inside]
    by_rate = math.ceil(audit_rate * int(np.sum(accepted))) - audits_done
    wanted = min(math.ceil(room / 2), max(0, by_rate, audits_needed))
    for row in rng.permutation(len(region))[:wanted]:
        plan[region[row]] = "audit"
    fixes_room = room - len(plan) - min(math.ceil(explore_share * room), len(explore))
    gain = (1 - np.asarray(p_correct)) * (0.5 + 0.5 * np.asarray(uncertainty))
    for row in np.argsort(-gain, kind="stable"):
        if fixes_room <= 0:
            break
        if not accepted[row] and candidates[row] not in plan:
            plan[candidates[row]] = "fix"
            fixes_room -= 1
    for item_id in explore:
        if len(plan) >= room:
            break
        plan.setdefault(item_id, "explore")
    return list(plan.items())
