"""The prepare, commit and train nodes: seed labels in, people's answers stored, the accepted set settled,
the student refitted and measured, and the project's stop rules asked (``labelgraph.stopping``)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from langgraph.runtime import Runtime

from labelgraph.critic import rounds
from labelgraph.graphs.context import RunContext
from labelgraph.graphs.resolve import run_context
from labelgraph.graphs.state import LoopState, RoundSummary
from labelgraph.llm.client import Usage
from labelgraph.stopping.rules import RoundEnd, first_reason, rules_for
from labelgraph.stopping.stability import prediction_agreement
from labelgraph.stores.labels import HumanLabel
from labelgraph.student.models import StudentModel, evaluate, reads_text

__all__ = ["commit", "prepare", "stop_reason", "train"]


def prepare(state: LoopState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Start a new thread: the seed labels into the label store and the memory (an upsert: safe to re-run)."""
    if state.started:
        return {}
    context = run_context(runtime)
    seeds = [HumanLabel(id=item.id, round=0, label=item.label, kind="seed") for item in context.workspace.seed_items()]
    context.store.put_human(seeds)
    context.remember(seeds)
    return {"started": True}


def commit(state: LoopState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Store the round's answers in the label store and people's labels in the memory.

    Idempotent: both writes are upserts by id, and the budget count lands with the node's checkpoint.
    """
    context = run_context(runtime)
    if not state.pending:
        return {}
    ids = [item.id for item in state.pending]
    machine = context.store.machine_for(ids)
    answers = [
        HumanLabel(
            id=item.id,
            round=state.round,
            label=state.decisions.get(item.id),
            kind=item.kind,
            shown=item.annotator_label,
            machine_label=machine[item.id].label if item.id in machine else None,
        )
        for item in state.pending
    ]
    context.store.put_human(answers)
    context.remember(answers)
    return {"human_labels": state.human_labels + sum(a.label is not None for a in answers)}


def train(state: LoopState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Settle the accepted set with this round's answers, refit the student on it, record the round, and stop?"""
    context = run_context(runtime)
    config = context.config
    estimate = rounds.look(context, state.round, state.human_labels) if context.annotator is not None else None
    context.store.put_meta("student_uses_proposals", "yes" if machine_beats_student(context) else "no")
    training = context.training_set()
    student = context.student(training)
    workspace = context.workspace
    metrics = (
        evaluate(student, test_inputs(context, student), [item.label for item in workspace.test_items])  # type: ignore[misc]
        if workspace.test_items and training
        else {}
    )
    kinds = Counter(item.kind for item in state.pending if state.decisions.get(item.id) is not None)
    summary = RoundSummary(
        round=state.round,
        machine_annotated=context.store.annotated_in(state.round),
        synthetic=sum(item_id.startswith("syn-") for item_id in state.machine),
        reviewed=sum(label is not None for label in state.decisions.values()),
        skipped=sum(label is None for label in state.decisions.values()),
        by_kind=dict(kinds),
        human_labels=state.human_labels,
        labels=len(training),
        accepted=estimate.accepted if estimate else 0,
        proposed=context.store.counts()["proposed"],
        coverage=_coverage(context),
        estimated_accuracy=estimate.accuracy if estimate else None,
        estimate_lower=estimate.lower if estimate else None,
        threshold=estimate.threshold if estimate else None,
        checks=estimate.checks if estimate else 0,
        audits=estimate.audits if estimate else 0,
        **metrics,
    )
    spent = 0.0
    if context.llm is not None:
        used = context.llm.usage(by="round").get(str(state.round), Usage())
        summary.llm_calls, summary.llm_tokens, summary.llm_cost = (
            used.calls,
            used.input_tokens + used.output_tokens,
            used.cost,
        )
        spent = context.llm.total_cost()
    if config.stop_when_stable is not None:
        summary.stability = prediction_agreement(context, student, state.round, config.stop_when_stable.sample)
    return {"history": [summary], "stop_reason": stop_reason(state, context, summary, spent)}


def test_inputs(context: RunContext, student: StudentModel) -> Any:
    """The test set as ``student`` reads it: texts or vectors."""
    workspace = context.workspace
    return [item.text for item in workspace.test_items] if reads_text(student) else workspace.test_vectors


def machine_beats_student(context: RunContext) -> bool:
    """Whether the machine's labels were right more often than the student on the texts people checked blind
    (explores and audits), the student judged out of fold on people's labels: then the student gains from the
    machine's proposals too. An annotator no better than the student only adds noise."""
    human = [h for h in context.store.human().values() if h.label is not None]
    blind = [h for h in human if h.kind in {"explore", "audit"} and h.machine_label is not None]
    names = {h.label for h in human}
    if len(blind) < 10 or len(names) < 2:
        return False
    machine_right = sum(h.machine_label == h.label for h in blind) / len(blind)
    folds = min(5, min(Counter(h.label for h in human).values()))
    if folds < 2:
        return True  # too few labels of some class to judge the student: it cannot be the better one
    vectors = context.vectors([h.id for h in human])
    labels = [h.label for h in human]
    from sklearn.linear_model import LogisticRegression  # scikit-learn loads where a model is fitted
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    model = LogisticRegression(C=10.0, max_iter=2000, random_state=context.config.random_seed)
    predicted = cross_val_predict(model, vectors, labels, cv=StratifiedKFold(folds, shuffle=True, random_state=0))
    at = {h.id: row for row, h in enumerate(human)}
    student_right = sum(predicted[at[h.id]] == h.label for h in blind) / len(blind)
    return machine_right > student_right


def _coverage(context: RunContext) -> float:
    """Share of the pool with a label the run vouches for: people's, seeds, accepted machine labels."""
    pool = context.pool_ids
    vouched = context.store.verdict_ids("accepted")
    vouched |= {h.id for h in context.store.human().values() if h.label is not None}
    return round(sum(i in vouched for i in pool) / len(pool), 4) if pool else 0.0


def stop_reason(state: LoopState, context: RunContext, summary: RoundSummary, spent: float) -> str | None:
    """Why the loop ends after this round (None: it goes on): the project's first stop rule that fires."""
    end = RoundEnd(context, state.round, state.human_labels, [*state.history, summary], spent)
    return first_reason(rules_for(context.config), end)
