"""The stop rules alone, on a real run context of 40 texts (no whole run): each rule fires on its own condition,
a project's rules are asked in order, and the graph's entry sends an ended run on to its next round."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from labelgraph.config import StabilitySettings
from labelgraph.graphs.loop import entry
from labelgraph.graphs.state import LoopState, RoundSummary
from labelgraph.session.run import Project, Run
from labelgraph.stopping.rules import (
    BudgetSpent,
    CostBudgetSpent,
    MaxRounds,
    PoolExhausted,
    PredictionsStable,
    RoundEnd,
    first_reason,
    rules_for,
)
from labelgraph.stores.labels import HumanLabel


@pytest.fixture
def run(make_project) -> Iterator[Run]:
    started = Project.from_yaml(make_project(pool_size=40, test_size=0, budget=10, max_rounds=3)).start()
    yield started
    started.close()


def end_of(run: Run, *, round_number: int = 1, human_labels: int = 0, spent: float = 0.0, kappas=()) -> RoundEnd:
    history = [RoundSummary(round=n + 1, stability=kappa) for n, kappa in enumerate(kappas)]
    return RoundEnd(run.context, round_number, human_labels, history, spent)


def answer_everything(run: Run) -> None:
    pool = run.context.pool_ids
    run.store.put_human(HumanLabel(id=i, round=1, label="positive", kind="audit") for i in pool)


def test_each_rule_fires_on_its_own_condition(run):
    fresh = end_of(run, human_labels=9)
    assert fresh.machine_done is False and fresh.nothing_to_ask is False  # the embedded annotator has 40 to label
    assert [rule.stop(fresh) for rule in (BudgetSpent(9), MaxRounds(2), CostBudgetSpent(1.0), PoolExhausted())] == [
        None,
        None,
        None,
        None,
    ]  # the budget is spent, but the machine lane is not done
    assert MaxRounds(2).stop(end_of(run, round_number=2)) == "maximum rounds reached (2)"
    assert CostBudgetSpent(0.5).stop(end_of(run, spent=0.5)) == "LLM cost budget spent ($0.5000 of $0.5000)"
    stable = PredictionsStable(StabilitySettings(kappa=0.8, rounds=2))
    assert stable.stop(end_of(run, kappas=[None, 0.9, 0.79])) is None
    assert stable.stop(end_of(run, kappas=[0.5, 0.9, 0.8])) == "predictions stable (kappa >= 0.8 for 2 rounds)"

    answer_everything(run)  # every text has a person's answer: nothing left for either lane
    done = end_of(run, human_labels=40)
    assert done.machine_done and done.nothing_to_ask
    assert BudgetSpent(10).stop(done).startswith("human-label budget spent (40 of 10)")
    assert PoolExhausted().stop(done) == "pool exhausted"


def test_a_project_asks_its_rules_in_order_and_the_first_reason_wins(run):
    config = run.config
    assert [type(rule).__name__ for rule in rules_for(config)] == ["BudgetSpent", "MaxRounds", "PoolExhausted"]
    stable = config.model_copy(update={"stop_when_stable": StabilitySettings()})
    assert type(rules_for(stable)[-1]).__name__ == "PredictionsStable"
    assert first_reason(rules_for(config), end_of(run, round_number=1)) is None
    answer_everything(run)
    reason = first_reason(rules_for(config), end_of(run, round_number=3, human_labels=40))
    assert reason.startswith("human-label budget spent")  # before "maximum rounds" and "pool exhausted"


def test_the_entry_starts_a_new_thread_and_sends_an_ended_run_to_its_next_round():
    assert entry(LoopState()) == "prepare"
    assert entry(LoopState(round=2, history=[RoundSummary(round=1)])) == "select"
