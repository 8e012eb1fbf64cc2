"""The run state: plain JSON-ready data, checkpointed after every node.

Records are stored as dicts (``model_dump()`` of the pydantic models named below) so that a checkpoint
reads back in any process without importing classes, and so the interrupt payload is plain JSON.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

__all__ = ["LoopState", "initial_state"]


class LoopState(TypedDict):
    round: int
    """The current round, from 1; 0 before the first selection."""
    labels: dict[str, dict[str, Any]]
    """Committed labels by item id (``data.LabelRecord``), seeds included. The only source of truth."""
    human_labels: int
    """Labels given by people so far (seed labels excluded); the budget counts these."""
    skipped: list[str]
    """Ids never asked about again: skipped by a person, or synthetic texts that were not taken."""
    batch: list[str]
    """Ids selected this round, most wanted first."""
    why: dict[str, str]
    """Why the LLM selector picked each item this round (empty for other strategies)."""
    annotations: dict[str, dict[str, Any]]
    """This round's annotations by id (``agents.annotator.Annotation``)."""
    verdicts: dict[str, dict[str, Any]]
    """This round's critic verdicts by id (``agents.critic.Verdict``)."""
    pending: list[dict[str, Any]]
    """Disputed items that wait for a person this round (``agents.human.ReviewItem``)."""
    decisions: dict[str, str | None]
    """People's answers this round by id: a label, or None for skip."""
    history: Annotated[list[dict[str, Any]], operator.add]
    """One summary per finished round: counts, verdicts and the student's test metrics."""
    stop_reason: str | None
    """Why the loop ended (budget, rounds, pool exhausted), or None while it runs."""


def initial_state(seed_labels: dict[str, dict[str, Any]]) -> LoopState:
    """The state a new run starts from: the seed labels and nothing else."""
    return LoopState(
        round=0,
        labels=dict(seed_labels),
        human_labels=0,
        skipped=[],
        batch=[],
        why={},
        annotations={},
        verdicts={},
        pending=[],
        decisions={},
        history=[],
        stop_reason=None,
    )
