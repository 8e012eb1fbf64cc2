"""The select node: start a round, choose what the machine lane annotates and what the strategy offers the person."""

from __future__ import annotations

from typing import Any

import numpy as np
from langgraph.runtime import Runtime

from labelgraph.critic import rounds
from labelgraph.graphs.context import RunContext
from labelgraph.graphs.resolve import run_context
from labelgraph.graphs.state import LoopState
from labelgraph.strategies import IncrementalStrategy, PoolInput, SelectionInput
from labelgraph.strategies.state import pool_key
from labelgraph.student.models import StudentModel

__all__ = ["candidate_rows", "human_candidates", "machine_todo", "pool_input", "ranked", "select"]

STATE_DIR = "selection"
"""The run folder's sub-folder where strategies keep state between rounds (derived data: safe to delete)."""


def human_candidates(context: RunContext) -> list[str]:
    """Pool ids no person has answered (nor set aside), in pool order."""
    answered = set(context.store.human())
    return [item_id for item_id in context.pool_ids if item_id not in answered]


def candidate_rows(context: RunContext) -> np.ndarray:
    """Rows of the run's vectors of ``human_candidates``, in the same order."""
    answered = set(context.store.human())
    rows = context.workspace.row_of
    return np.fromiter((rows[i] for i in context.pool_ids if i not in answered), dtype=np.int64)


def pool_input(context: RunContext, candidates: np.ndarray, labelled: list[str]) -> PoolInput:
    """The whole run for an incremental strategy: no copy of the pool's vectors, its state in the run folder."""
    vectors = context.workspace.vectors
    return PoolInput(
        vectors=vectors,
        candidates=candidates,
        labelled_ids=labelled,
        labelled_vectors=context.vectors,
        state_dir=context.workspace.path / STATE_DIR,
        key=pool_key(vectors, context.workspace.ids),
    )


def ranked(
    context: RunContext,
    student: StudentModel,
    rows: np.ndarray,
    training: list[str],
    size: int,
    rng: np.random.Generator,
) -> list[str]:
    """The strategy's ``size`` picks among the candidates at ``rows``, most wanted first.

    An incremental strategy sees the whole run (no copy of the pool's vectors) and keeps its state in the run
    folder; any other gets the candidates' vectors and the student's probabilities."""
    strategy = context.strategy
    ids = context.workspace.ids
    pool = [ids[row] for row in rows]
    if isinstance(strategy, IncrementalStrategy):
        picks = strategy.select_pool(pool_input(context, rows, training), size, rng)
    else:
        vectors = context.vectors(pool)
        wanted = student.is_informative and getattr(strategy, "uses_probabilities", True)
        probs = context.predict(student, pool) if wanted else None
        data = SelectionInput(vectors=vectors, labelled_vectors=context.vectors(training), probs=probs)
        picks = strategy.select(data, size, rng)
    return [pool[int(i)] for i in picks]


def machine_todo(context: RunContext) -> list[str]:
    """Pool ids in the machine lane's scope that it has not annotated yet, in pool order.

    The scope is the first ``machine.scope`` texts of the pool in a fixed random order (the seed's), so a
    partial scope is a fair sample of the pool.
    """
    if context.annotator is None:
        return []
    pool = context.pool_ids
    order = np.random.default_rng(context.config.random_seed).permutation(len(pool))
    scope = {pool[row] for row in order[: context.config.machine.size(len(pool))]}
    done = context.store.machine_ids() | set(context.store.human())
    return [item_id for item_id in pool if item_id in scope and item_id not in done]


def per_round(context: RunContext) -> int:
    """Texts the machine lane annotates a round: as configured, else all at once (an LLM: 25 per concurrency)."""
    if context.config.machine.per_round is not None:
        return context.config.machine.per_round
    if context.llm is not None and context.config.annotator == "llm":
        return 25 * context.config.llm.concurrency  # type: ignore[union-attr]
    return 1 << 62


def select(state: LoopState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Start a round: the strategy ranks the person's candidates, the person's batch is drawn (audits, fixes and
    the strategy's picks, each with a known probability), and the machine lane takes its next texts, most uncertain
    for the student first, and every text asked that it has not labelled."""
    context = run_context(runtime)
    config = context.config
    round_number = state.round + 1
    rng = np.random.default_rng([config.random_seed, round_number])
    student = context.student()
    room = min(config.batch_size, config.budget - state.human_labels)
    explore: list[str] = []
    why: dict[str, str] = {}
    rows = candidate_rows(context)
    if room > 0 and len(rows):
        training = sorted(context.training_set())
        size = min(room, len(rows))
        if context.selector_llm is None:
            explore = ranked(context, student, rows, training, size, rng)
        else:
            context.enter_round(round_number)
            factor = context.selector_llm.shortlist_factor
            shortlist = ranked(context, student, rows, training, min(size * factor, len(rows)), rng)
            chosen = context.selector_llm.choose([item.text for item in context.items(shortlist)], size)
            explore = [shortlist[position] for position, _ in chosen]
            why = {shortlist[position]: reason for position, reason in chosen}
        if len(set(explore)) != len(explore):
            raise RuntimeError(f"strategy {context.strategy.name!r} picked an item twice")
    asked = dict(rounds.draw(context, round_number, room, explore, student, config.budget - state.human_labels))
    todo = machine_todo(context)
    if todo and len(todo) > per_round(context) and student.is_informative:
        probs = context.predict(student, todo)
        uncertainty = -(probs * np.log(np.clip(probs, 1e-12, 1))).sum(axis=1)
        todo = [todo[i] for i in np.argsort(-uncertainty, kind="stable")]
    elif todo:
        todo = [todo[i] for i in rng.permutation(len(todo))]
    machine = todo[: per_round(context)]
    unannotated = set(todo) - set(machine)
    machine += [item_id for item_id in asked if item_id in unannotated]  # each text asked is a check of the machine
    return {
        "round": round_number,
        "machine": machine,
        "explore": explore,
        "why": why,
        "asked": asked,
        "pending": [],
        "decisions": {},
    }
