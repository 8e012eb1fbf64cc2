"""Critics accept, reject or dispute each label, with reasons that name the signal and its value."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

import numpy as np
from langgraph.types import Command
from pydantic import BaseModel, Field

from labelgraph.agents.annotator import Annotation
from labelgraph.agents.human import review_item
from labelgraph.config import CriticSettings
from labelgraph.data import Item
from labelgraph.graphs.resolve import run_context
from labelgraph.memory import Neighbour

if TYPE_CHECKING:
    from langgraph.runtime import Runtime

    from labelgraph.graphs.context import RunContext
    from labelgraph.graphs.state import LoopState

__all__ = ["Critic", "CriticInput", "EmbeddedCritic", "Verdict", "critique"]

Decision = Literal["accept", "dispute", "reject"]


def below(value: float, threshold: float) -> str:
    """``value < threshold`` with enough decimals that the two printed numbers differ (0.598 < 0.600)."""
    for digits in (2, 3, 4):
        if round(value, digits) != round(threshold, digits):
            return f"{value:.{digits}f} < {threshold:.{digits}f}"
    return f"{value:.6f} < {threshold:.6f}"


class Verdict(BaseModel):
    """The critic's decision on one annotation, with every reason behind it."""

    id: str
    decision: Decision
    label: str | None
    reasons: list[str] = Field(default_factory=list)
    signals: dict[str, float] = Field(default_factory=dict)


class CriticInput(BaseModel):
    """Everything a critic may weigh for one item."""

    model_config = {"arbitrary_types_allowed": True}

    item: Item
    annotation: Annotation
    neighbours: list[Neighbour]
    student_probs: dict[str, float] | None = None
    n_labels: int = 0


@runtime_checkable
class Critic(Protocol):
    name: str

    def review(self, inputs: list[CriticInput]) -> list[Verdict]: ...


def neighbour_agreement(label: str, neighbours: list[Neighbour]) -> float:
    """Similarity-weighted share of neighbours carrying ``label`` (0 with no neighbours)."""
    weights = np.array([max(n.similarity, 0.0) for n in neighbours])
    if weights.sum() == 0:
        return 0.0
    return float(weights[[n.label == label for n in neighbours]].sum() / weights.sum())


class EmbeddedCritic:
    """Accepts only when the annotator is confident and the student model and the neighbours agree.

    Disagreement, not the annotator's stated confidence alone, decides: with too few labels for the student
    and the neighbours to vouch for a label, every label goes to a person.
    """

    name = "embedded"

    def __init__(self, settings: CriticSettings | None = None):
        self.settings = settings or CriticSettings()

    def review(self, inputs: list[CriticInput]) -> list[Verdict]:
        return [self._judge(one) for one in inputs]

    def _judge(self, one: CriticInput) -> Verdict:
        s = self.settings
        annotation = one.annotation
        if annotation.label is None:
            return Verdict(
                id=one.item.id,
                decision="dispute",
                label=None,
                reasons=[f"annotator failed: {annotation.error or 'no label'}"],
            )
        label = annotation.label
        intended = one.item.meta.get("intended")
        if intended is not None and label != intended:
            return Verdict(
                id=one.item.id,
                decision="reject",
                label=label,
                reasons=[f"synthetic text written as {intended!r}, but the annotator labels it {label!r}"],
            )
        reasons: list[str] = []
        signals = {"confidence": annotation.confidence}
        if len(annotation.votes) > 0 and sum(annotation.votes.values()) > 1:
            share = annotation.votes.get(label, 0) / sum(annotation.votes.values())
            signals["vote_share"] = round(share, 4)
            if share < s.min_vote_share:
                split = ", ".join(f"{k} {v}" for k, v in sorted(annotation.votes.items(), key=lambda kv: -kv[1]))
                reasons.append(f"annotator samples split ({split}): share {below(share, s.min_vote_share)}")
        against = {name: vote for name, vote in annotation.tool_votes.items() if vote != label}
        if against:
            said = ", ".join(f"{name!r} votes {vote!r}" for name, vote in sorted(against.items()))
            reasons.append(f"labelling functions disagree: {said}")
        if annotation.confidence < s.min_confidence:
            reasons.append(f"annotator confidence {below(annotation.confidence, s.min_confidence)}")
        if one.n_labels < s.min_labels_to_trust:
            reasons.append(f"only {one.n_labels} labels so far: too few to vouch (min {s.min_labels_to_trust})")
        else:
            agreement = neighbour_agreement(label, one.neighbours)
            signals["neighbour_agreement"] = round(agreement, 4)
            if agreement < s.min_neighbour_agreement:
                others = sum(n.label != label for n in one.neighbours)
                reasons.append(
                    f"neighbours agree {below(agreement, s.min_neighbour_agreement)} "
                    f"({others} of {len(one.neighbours)} carry another label)"
                )
            if one.student_probs is not None:
                p = one.student_probs.get(label, 0.0)
                signals["student_probability"] = round(p, 4)
                if p < s.min_student_probability:
                    top = max(one.student_probs, key=one.student_probs.__getitem__)
                    reasons.append(f"student gives {label!r} {below(p, s.min_student_probability)} (prefers {top!r})")
        if reasons:
            return Verdict(id=one.item.id, decision="dispute", label=label, reasons=reasons, signals=signals)
        accepted = [f"annotator confidence {annotation.confidence:.2f}"]
        if "neighbour_agreement" in signals:
            accepted.append(f"neighbours agree {signals['neighbour_agreement']:.2f}")
        if "student_probability" in signals:
            accepted.append(f"student gives {signals['student_probability']:.2f}")
        return Verdict(id=one.item.id, decision="accept", label=label, reasons=accepted, signals=signals)


def critique(state: LoopState, runtime: Runtime[RunContext]) -> Command[Literal["human_review", "commit"]]:
    """Graph node: judge every annotation; disputes (up to the remaining budget) go to a person."""
    context = run_context(runtime)
    context.enter_round(state["round"])
    ids = state["batch"]
    vectors = context.vectors(ids)
    neighbours = context.memory.neighbours(vectors, context.config.neighbours)
    student = context.student(state["labels"])
    probs = student.predict_proba(vectors) if student.is_informative else None
    items = context.items(ids)
    inputs = [
        CriticInput(
            item=item,
            annotation=Annotation.model_validate(state["annotations"][item.id]),
            neighbours=near,
            student_probs=None if probs is None else dict(zip(student.labels, map(float, probs[row]), strict=True)),
            n_labels=len(state["labels"]),
        )
        for row, (item, near) in enumerate(zip(items, neighbours, strict=True))
    ]
    verdicts = {verdict.id: verdict for verdict in context.critic.review(inputs)}
    remaining = context.config.budget - state["human_labels"]
    disputed = [one for one in inputs if verdicts[one.item.id].decision == "dispute"][: max(remaining, 0)]
    pending = [review_item(one, verdicts[one.item.id], state["round"]).model_dump() for one in disputed]
    return Command(
        update={"verdicts": {k: v.model_dump() for k, v in verdicts.items()}, "pending": pending},
        goto="human_review" if pending else "commit",
    )
