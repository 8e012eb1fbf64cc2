"""The run state: the current round's ids and counts, and one summary per finished round.

Labels, proposals and verdicts live in the label store (``labelgraph.stores.labels``), not here, so a checkpoint
is O(batch), not O(labels). Pydantic models throughout; they reach JSON only in the interrupt payload
(``graphs.review``).
"""

from __future__ import annotations

import operator
from typing import Annotated

from pydantic import BaseModel, Field

from labelgraph.agents.human import ReviewItem

__all__ = ["STATE_TYPES", "LoopState", "RoundSummary"]


class RoundSummary(BaseModel):
    """What one round did and where the run stood after it."""

    round: int
    machine_annotated: int = 0
    """Texts the machine lane annotated this round."""
    synthetic: int = 0
    reviewed: int = 0
    """Answers people gave this round (set-asides excluded)."""
    skipped: int = 0
    by_kind: dict[str, int] = Field(default_factory=dict)
    """This round's answers by why they were asked: explore, fix, audit."""
    human_labels: int = 0
    """People's labels so far (seeds excluded): the budget counts these."""
    labels: int = 0
    """Labels the student trains on: seeds, people's and accepted machine labels."""
    accepted: int = 0
    proposed: int = 0
    coverage: float = 0.0
    estimated_accuracy: float | None = None
    estimate_lower: float | None = None
    threshold: float | None = None
    checks: int = 0
    audits: int = 0
    accuracy: float | None = None
    macro_f1: float | None = None
    llm_calls: int = 0
    llm_tokens: int = 0
    llm_cost: float = 0.0
    stability: float | None = None


class LoopState(BaseModel):
    """Checkpointed after every node."""

    started: bool = False
    """Set by ``prepare`` once the seed labels are in the store."""
    round: int = 0
    """The current round, from 1; 0 before the first."""
    human_labels: int = 0
    """People's labels so far (seeds and set-asides excluded)."""
    machine: list[str] = Field(default_factory=list)
    """Ids the machine lane annotates this round (synthetic texts included)."""
    explore: list[str] = Field(default_factory=list)
    """The strategy's picks for the person this round, most wanted first."""
    why: dict[str, str] = Field(default_factory=dict)
    """Why the LLM selector picked each explore item (empty for other strategies)."""
    asked: dict[str, str] = Field(default_factory=dict)
    """The person's batch as drawn (``labelgraph.critic.batch``), in order: id -> the rule that drew it (audit,
    fix or explore)."""
    pending: list[ReviewItem] = Field(default_factory=list)
    """The person's batch this round (checkpoints of earlier versions hold them as dicts: read into models)."""
    decisions: dict[str, str | None] = Field(default_factory=dict)
    """People's answers this round by id: a label, or None to set the item aside."""
    history: Annotated[list[RoundSummary], operator.add] = Field(default_factory=list)
    stop_reason: str | None = None


STATE_TYPES = [
    ("labelgraph.graphs.state", "RoundSummary"),
    ("labelgraph.graphs.state", "LoopState"),
    ("labelgraph.agents.human", "ReviewItem"),
]
"""Types the checkpointer may rebuild from a checkpoint."""
