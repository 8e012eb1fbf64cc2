"""The stop rules a project sets, each an object whose ``stop(end)`` gives its reason to end the loop after a round,
or None. ``rules_for(config)`` lists a project's rules in the order they are asked; ``first_reason`` asks them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Protocol

from labelgraph.config import ProjectConfig, StabilitySettings
from labelgraph.graphs.context import RunContext
from labelgraph.graphs.select import human_candidates, machine_todo
from labelgraph.graphs.state import RoundSummary
from labelgraph.stopping.stability import stable_for

__all__ = [
    "BudgetSpent",
    "CostBudgetSpent",
    "MaxRounds",
    "PoolExhausted",
    "PredictionsStable",
    "RoundEnd",
    "StopRule",
    "first_reason",
    "rules_for",
]


@dataclass
class RoundEnd:
    """Where the run stands when a round has trained: what every stop rule reads. The pool's facts are read from
    the run's stores when a rule first asks."""

    context: RunContext
    round: int
    human_labels: int
    history: list[RoundSummary]
    """Every round's summary, this one's last."""
    spent: float
    """The LLM's cost so far, in dollars."""

    @cached_property
    def machine_done(self) -> bool:
        """The machine lane annotated every text in its scope."""
        return not machine_todo(self.context)

    @cached_property
    def nothing_to_ask(self) -> bool:
        """Every text of the pool has a person's answer."""
        return not human_candidates(self.context)


class StopRule(Protocol):
    def stop(self, end: RoundEnd) -> str | None:
        """Why the loop ends after this round, or None."""
        ...


@dataclass(frozen=True)
class BudgetSpent:
    """People gave the budget's answers, and the machine lane has nothing left to annotate."""

    budget: int

    def stop(self, end: RoundEnd) -> str | None:
        if end.human_labels >= self.budget and end.machine_done:
            return f"human-label budget spent ({end.human_labels} of {self.budget}); the machine lane covered its scope"
        return None


@dataclass(frozen=True)
class MaxRounds:
    rounds: int

    def stop(self, end: RoundEnd) -> str | None:
        return f"maximum rounds reached ({self.rounds})" if end.round >= self.rounds else None


@dataclass(frozen=True)
class CostBudgetSpent:
    """The LLM has cost the project's ``llm.cost_budget``."""

    budget: float

    def stop(self, end: RoundEnd) -> str | None:
        if end.spent >= self.budget:
            return f"LLM cost budget spent (${end.spent:.4f} of ${self.budget:.4f})"
        return None


@dataclass(frozen=True)
class PoolExhausted:
    """Nothing left for either lane."""

    def stop(self, end: RoundEnd) -> str | None:
        return "pool exhausted" if end.machine_done and end.nothing_to_ask else None


@dataclass(frozen=True)
class PredictionsStable:
    """The student's predictions stopped changing (``labelgraph.stopping.stability``)."""

    settings: StabilitySettings

    def stop(self, end: RoundEnd) -> str | None:
        if stable_for(end.history, self.settings):
            return f"predictions stable (kappa >= {self.settings.kappa} for {self.settings.rounds} rounds)"
        return None


def rules_for(config: ProjectConfig) -> list[StopRule]:
    """The project's stop rules, in the order they are asked."""
    rules: list[StopRule] = [BudgetSpent(config.budget), MaxRounds(config.max_rounds)]
    if config.llm is not None and config.llm.cost_budget is not None:
        rules.append(CostBudgetSpent(config.llm.cost_budget))
    rules.append(PoolExhausted())
    if config.stop_when_stable is not None:
        rules.append(PredictionsStable(config.stop_when_stable))
    return rules


def first_reason(rules: Sequence[StopRule], end: RoundEnd) -> str | None:
    """The reason of the first rule that fires, or None: the loop goes on."""
    return next((reason for rule in rules if (reason := rule.stop(end)) is not None), None)
