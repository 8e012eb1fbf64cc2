"""The person in the loop: what a review shows (the interrupt payload), answer checks, and a simulated human."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Literal

import numpy as np
from langgraph.types import Command, interrupt
from pydantic import BaseModel, Field

from labelgraph.errors import ReviewError
from labelgraph.graphs.resolve import run_context

if TYPE_CHECKING:
    from langgraph.runtime import Runtime

    from labelgraph.graphs.context import RunContext
    from labelgraph.graphs.state import LoopState

__all__ = ["Candidate", "ReviewItem", "SimulatedHuman", "check_answers", "human_review", "review_item"]


class Candidate(BaseModel):
    label: str
    probability: float


class ShownNeighbour(BaseModel):
    text: str
    label: str
    similarity: float


class ReviewItem(BaseModel):
    """One disputed item as a reviewer sees it (plain JSON inside the graph's interrupt)."""

    id: str
    text: str
    round: int
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


def review_item(one, verdict, round_number: int) -> ReviewItem:
    """What a person sees for a disputed item: text, candidates, both agents' reasons, neighbours."""
    annotation = one.annotation
    candidates = sorted(
        (Candidate(label=label, probability=p) for label, p in annotation.distribution.items()),
        key=lambda c: -c.probability,
    )
    return ReviewItem(
        id=one.item.id,
        text=one.item.text,
        round=round_number,
        candidates=candidates,
        annotator_label=annotation.label,
        annotator_confidence=annotation.confidence,
        rationale=annotation.rationale,
        reasons=verdict.reasons,
        neighbours=[ShownNeighbour(text=n.text, label=n.label, similarity=n.similarity) for n in one.neighbours[:5]],
        synthetic=bool(one.item.meta.get("synthetic")),
    )


def human_review(state: LoopState, runtime: Runtime[RunContext]) -> Command[Literal["human_review", "commit"]]:
    """Graph node: pause for a person (``interrupt``) until every pending item is answered or skipped.

    Nothing costly happens before ``interrupt()``: on resume LangGraph re-runs this node from its top.
    Answers were validated before resuming; anything that still does not fit is ignored, not guessed.
    """
    decided = state["decisions"]
    waiting = [item for item in state["pending"] if item["id"] not in decided]
    if not waiting:
        return Command(goto="commit")
    answer = interrupt({"round": state["round"], "items": waiting})
    names = set(run_context(runtime).config.label_names)
    waiting_ids = {item["id"] for item in waiting}
    given = {
        item_id: label
        for item_id, label in dict(answer or {}).items()
        if item_id in waiting_ids and (label is None or label in names)
    }
    decisions = {**decided, **given}
    done = all(item["id"] in decisions for item in state["pending"])
    return Command(update={"decisions": decisions}, goto="commit" if done else "human_review")
