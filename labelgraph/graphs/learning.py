"""Commit accepted and answered labels, retrain the student, measure it, and decide whether to stop."""

from __future__ import annotations

from collections import Counter
from typing import Any, Literal

from langgraph.graph import END
from langgraph.runtime import Runtime

from labelgraph.agents.selector import candidates
from labelgraph.data import LabelRecord
from labelgraph.graphs.context import RunContext
from labelgraph.graphs.resolve import run_context
from labelgraph.graphs.stability import prediction_agreement, stable_for
from labelgraph.graphs.state import LoopState, initial_state
from labelgraph.llm import Usage
from labelgraph.models import evaluate
from labelgraph.workspace import Workspace

__all__ = ["commit", "prepare", "route_after_train", "seed_records", "train"]


def seed_records(workspace: Workspace) -> list[LabelRecord]:
    """The project's seed labels, as committed labels of round 0."""
    return [
        LabelRecord(id=item.id, text=item.text, label=item.label, source="seed", round=0)  # type: ignore[arg-type]
        for item in workspace.items
        if item.meta.get("seed")
    ]


def prepare(state: LoopState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Start a new thread from the run folder's seed labels; a thread that has its state already passes."""
    if state.get("labels") is not None:
        return {}
    context = run_context(runtime)
    seeds = seed_records(context.workspace)
    context.memory.add(seeds, context.vectors([record.id for record in seeds]))
    return dict(initial_state({record.id: record.model_dump() for record in seeds}))


def commit(state: LoopState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Add this round's accepted and human labels to the labelled set and the memory.

    Idempotent: the update lands with the node's checkpoint, and the memory write is an upsert by id,
    so a round re-run after a crash writes the same labels once.
    """
    context = run_context(runtime)
    decisions, verdicts, annotations = state["decisions"], state["verdicts"], state["annotations"]
    items = {item.id: item for item in context.items(state["batch"])}
    records: list[LabelRecord] = []
    skipped: list[str] = []
    for item_id in state["batch"]:
        verdict, annotation = verdicts[item_id], annotations[item_id]
        common = {
            "id": item_id,
            "text": items[item_id].text,
            "parent": items[item_id].meta.get("parent"),
            "round": state["round"],
            "reasons": verdict["reasons"],
            "annotator_label": annotation["label"],
        }
        synthetic = bool(items[item_id].meta.get("synthetic"))
        common["synthetic"] = synthetic
        if item_id in decisions:
            if decisions[item_id] is None:
                skipped.append(item_id)
                continue
            records.append(LabelRecord(label=decisions[item_id], source="human", verdict=verdict["decision"], **common))
        elif verdict["decision"] == "accept":
            records.append(
                LabelRecord(
                    label=verdict["label"],
                    source="synthetic" if synthetic else "annotator",
                    confidence=annotation["confidence"],
                    verdict="accept",
                    **common,
                )
            )
        elif synthetic:  # rejected, or disputed beyond the budget: a synthetic text is not proposed again
            skipped.append(item_id)
    context.memory.add(records, context.vectors([record.id for record in records]))
    return {
        "labels": {**state["labels"], **{record.id: record.model_dump() for record in records}},
        "human_labels": state["human_labels"] + sum(record.source == "human" for record in records),
        "skipped": state["skipped"] + skipped,
    }


def train(state: LoopState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Refit the student on every label, measure it on the held-out set, record the round, set a stop reason."""
    context = run_context(runtime)
    config = context.config
    student = context.student(state["labels"])
    workspace = context.workspace
    metrics = (
        evaluate(student, workspace.test_vectors, [item.label for item in workspace.test_items])
        if workspace.test_items and state["labels"]
        else {}
    )
    decided = Counter(verdict["decision"] for verdict in state["verdicts"].values())
    reviewed = sum(label is not None for label in state["decisions"].values())
    entry = {
        "round": state["round"],
        "selected": len(state["batch"]),
        "synthetic": sum(item_id.startswith("syn-") for item_id in state["batch"]),
        "accepted": decided["accept"],
        "disputed": decided["dispute"],
        "rejected": decided["reject"],
        "reviewed": reviewed,
        "skipped": sum(label is None for label in state["decisions"].values()),
        "deferred": decided["dispute"] - len(state["pending"]),
        "labels": len(state["labels"]),
        "human_labels": state["human_labels"],
        "by_source": dict(Counter(record["source"] for record in state["labels"].values())),
        **metrics,
    }
    if context.voters:
        entry["tools"] = tool_round_stats(state, [voter.name for voter in context.voters])
    spent = 0.0
    if context.llm is not None:
        used = context.llm.usage(by="round").get(str(state["round"]), Usage())
        entry.update(llm_calls=used.calls, llm_tokens=used.input_tokens + used.output_tokens, llm_cost=used.cost)
        spent = context.llm.total_cost()
    if config.stop_when_stable is not None:
        entry["stability"] = prediction_agreement(state, context, config.stop_when_stable.sample)
    stop = None
    if state["human_labels"] >= config.budget:
        stop = f"human-label budget spent ({state['human_labels']} of {config.budget})"
    elif state["round"] >= config.max_rounds:
        stop = f"maximum rounds reached ({config.max_rounds})"
    elif config.llm is not None and config.llm.cost_budget is not None and spent >= config.llm.cost_budget:
        stop = f"LLM cost budget spent (${spent:.4f} of ${config.llm.cost_budget:.4f})"
    elif not candidates(state, context):
        stop = "pool exhausted"
    elif config.stop_when_stable is not None and stable_for([*state["history"], entry], config.stop_when_stable):
        settings = config.stop_when_stable
        stop = f"predictions stable (kappa >= {settings.kappa} for {settings.rounds} rounds)"
    return {"history": [entry], "stop_reason": stop}


def tool_round_stats(state: LoopState, names: list[str]) -> dict[str, dict[str, int]]:
    """Per voting tool this round: items annotated, votes cast, votes on committed items, votes that agreed."""
    stats = {name: {"items": 0, "voted": 0, "judged": 0, "agreed": 0} for name in names}
    for item_id, annotation in state["annotations"].items():
        committed = state["labels"].get(item_id, {}).get("label") if item_id in state["batch"] else None
        for name in names:
            stats[name]["items"] += 1
            vote = annotation.get("tool_votes", {}).get(name)
            if vote is None:
                continue
            stats[name]["voted"] += 1
            if committed is not None:
                stats[name]["judged"] += 1
                stats[name]["agreed"] += vote == committed
    return stats


def route_after_train(state: LoopState) -> Literal["select", "__end__"]:
    """Another round, unless a stop rule fired."""
    return END if state["stop_reason"] else "select"
