"""The present node: the person's batch, drawn in ``select``, becomes the items they review, and is open for
answers from here on, while the machine lane annotates and the critic scores (``generate``, ``annotate``,
``critique``): the person does not wait for that work, only for it to end before the round commits.

A fix shows the machine's label and the critic's verdict that drew it (the last round's); audits and explores
are blind.
"""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from labelgraph.agents.human import Candidate, ReviewItem, ShownNeighbour
from labelgraph.data import Item
from labelgraph.graphs.context import RunContext
from labelgraph.graphs.resolve import run_context
from labelgraph.graphs.state import LoopState
from labelgraph.memory import Neighbour
from labelgraph.stores.labels import MachineLabel, StoredVerdict

__all__ = ["present", "review_items"]

WHY = {
    "audit": "audit: a check of labels the machine may have right, drawn at random (its label is hidden)",
    "explore": "explore: the strategy's pick, where a person's label teaches the student most",
}


def review_item(
    item: Item, near: list[Neighbour], machine: MachineLabel | None, kind: str, verdict: StoredVerdict | None,
    labels: list[str],
) -> ReviewItem:  # fmt: skip
    """An item as the person sees it: a fix shows the machine's label and the critic's reasons; audits and explores
    are blind (the machine's label would sway the answer)."""
    shown = kind == "fix" and machine is not None and machine.label is not None
    if shown:
        candidates = sorted(
            (Candidate(label=label, probability=q) for label, q in machine.distribution.items()),  # type: ignore[union-attr]
            key=lambda c: -(c.probability or 0.0),
        )
    else:
        candidates = [Candidate(label=label) for label in labels]
    return ReviewItem(
        id=item.id,
        text=item.text,
        round=0,
        kind=kind if kind in {"fix", "audit", "explore"} else "audit",  # type: ignore[arg-type]
        p_correct=verdict.p_correct if shown and verdict else None,
        candidates=candidates,
        annotator_label=machine.label if shown else None,  # type: ignore[union-attr]
        annotator_confidence=machine.confidence if shown else None,  # type: ignore[union-attr]
        rationale=machine.rationale if shown else "",  # type: ignore[union-attr]
        reasons=(verdict.reasons if verdict else []) if shown else [WHY.get(kind, WHY["audit"])],
        neighbours=[ShownNeighbour(text=n.text, label=n.label, similarity=n.similarity) for n in near],
        synthetic=bool(item.meta.get("synthetic")),
    )


def review_items(state: LoopState, context: RunContext) -> list[ReviewItem]:
    """The round's drawn batch (``state.asked``) as review items, in the order drawn."""
    asked = list(state.asked)
    verdicts = context.store.verdicts_for(asked)
    machine = context.store.machine_for(asked)
    nearest = context.memory.neighbours(context.vectors(asked), 5)  # one query for the whole batch
    pending = []
    for item, near in zip(context.items(asked), nearest, strict=True):
        kind = state.asked[item.id]
        review = review_item(item, near, machine.get(item.id), kind, verdicts.get(item.id), context.config.label_names)
        if kind == "explore" and item.id in state.why:  # the LLM selector says why it picked the text
            review.reasons.append(f"picked by the LLM: {state.why[item.id]}")
        pending.append(review.model_copy(update={"round": state.round}))
    return pending


def present(state: LoopState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Open the round's batch for answers."""
    return {"pending": review_items(state, run_context(runtime))}
