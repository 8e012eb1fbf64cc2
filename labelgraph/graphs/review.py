"""The human_review node: pause the graph for the person's batch until every item is answered or set aside."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime
from langgraph.types import interrupt

from labelgraph.graphs.context import RunContext
from labelgraph.graphs.resolve import run_context
from labelgraph.graphs.state import LoopState

__all__ = ["human_review"]


def human_review(state: LoopState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Pause (``interrupt``) with the unanswered items; take the answers that fit.

    Nothing costly happens before ``interrupt()``: on resume LangGraph re-runs this node from its top.
    Answers were validated before resuming (``Run.answer``); anything that still does not fit is ignored.
    """
    waiting = [item for item in state.pending if item.id not in state.decisions]
    if not waiting:
        return {}
    answer = interrupt({"round": state.round, "items": [item.model_dump(mode="json") for item in waiting]})
    names = set(run_context(runtime).config.label_names)
    waiting_ids = {item.id for item in waiting}
    given = {
        item_id: label
        for item_id, label in dict(answer or {}).items()
        if item_id in waiting_ids and (label is None or label in names)
    }
    return {"decisions": {**state.decisions, **given}}
