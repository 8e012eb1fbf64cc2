"""The critique node: the critic scores every machine label (``critic.rounds.score``), the round's costly step,
while the person answers the batch ``present`` opened."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from labelgraph.critic import rounds
from labelgraph.graphs.context import RunContext
from labelgraph.graphs.present import review_items
from labelgraph.graphs.resolve import run_context
from labelgraph.graphs.state import LoopState

__all__ = ["critique"]


def critique(state: LoopState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Score the machine labels and record the verdicts."""
    context = run_context(runtime)
    context.enter_round(state.round)
    if context.annotator is not None:
        rounds.score(context, state.round)
    if state.asked and not state.pending:  # a round an earlier version drew, which built its batch here
        return {"pending": review_items(state, context)}
    return {}
