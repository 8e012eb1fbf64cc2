"""The selector agent: scores the unlabelled pool with the student model and picks this round's batch."""

from __future__ import annotations

from typing import Literal

import numpy as np
from langgraph.graph import END
from langgraph.runtime import Runtime
from langgraph.types import Command

from labelgraph.graphs.context import RunContext
from labelgraph.graphs.resolve import run_context
from labelgraph.graphs.state import LoopState
from labelgraph.strategies import SelectionInput

__all__ = ["candidates", "select"]


def candidates(state: LoopState, context: RunContext) -> list[str]:
    """Pool ids neither labelled nor skipped, in pool order."""
    excluded = set(state["labels"]) | set(state["skipped"])
    return [item_id for item_id in context.pool_ids if item_id not in excluded]


def select(state: LoopState, runtime: Runtime[RunContext]) -> Command[Literal["generate", "__end__"]]:
    """Start a round: pick up to one batch of candidates with the project's strategy."""
    context = run_context(runtime)
    pool = candidates(state, context)
    if not pool:
        return Command(update={"stop_reason": "pool exhausted"}, goto=END)
    round_number = state["round"] + 1
    labelled = sorted(state["labels"])
    student = context.student(state["labels"])
    vectors = context.vectors(pool)
    probs = student.predict_proba(vectors) if student.is_informative else None
    data = SelectionInput(vectors=vectors, labelled_vectors=context.vectors(labelled), probs=probs)
    rng = np.random.default_rng([context.config.random_seed, round_number])
    size = min(context.config.batch_size, len(pool))
    why: dict[str, str] = {}
    if context.selector_llm is None:
        batch = [pool[int(i)] for i in context.strategy.select(data, size, rng)]
    else:
        context.enter_round(round_number)
        shortlist = [
            pool[int(i)] for i in context.strategy.select(data, size * context.selector_llm.shortlist_factor, rng)
        ]
        texts = [item.text for item in context.items(shortlist)]
        chosen = context.selector_llm.choose(texts, size)
        batch = [shortlist[position] for position, _ in chosen]
        why = {shortlist[position]: reason for position, reason in chosen}
    if len(set(batch)) != len(batch):
        raise RuntimeError(f"strategy {context.strategy.name!r} picked an item twice")
    return Command(
        update={
            "round": round_number,
            "batch": batch,
            "annotations": {},
            "verdicts": {},
            "pending": [],
            "decisions": {},
            "why": why,
        },
        goto="generate",
    )
