"""The generate node: synthetic texts for the rarest label and counterfactual edits, added to the machine lane."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
from langgraph.runtime import Runtime

from labelgraph.config import GeneratorSettings
from labelgraph.data import Item
from labelgraph.graphs.context import RunContext
from labelgraph.graphs.resolve import run_context
from labelgraph.graphs.state import LoopState
from labelgraph.stores.synthetic import synthetic_id

__all__ = ["generate"]


def _plan(
    state: LoopState, context: RunContext
) -> tuple[list[tuple[str, int, list[str]]], list[tuple[Item, str, str]]]:
    """Half the round's cap on counterfactuals of the person's most uncertain picks, the rest on the rarest label."""
    settings: GeneratorSettings = context.config.generator  # type: ignore[assignment]
    names = context.config.label_names
    flips: list[tuple[Item, str, str]] = []
    student = context.student()
    if settings.counterfactuals and student.is_informative and state.explore:
        probs = context.predict(student, state.explore)
        order = np.argsort(-np.sort(probs, axis=1)[:, -2])[: settings.per_round // 2]  # highest runner-up first
        for row in order:
            first, second = np.argsort(-probs[row])[:2]
            flips.append((context.items([state.explore[row]])[0], names[first], names[second]))
    training = context.training_set()
    counts = Counter(label for label, _ in training.values())
    rarest = min(names, key=lambda name: (counts[name], names.index(name)))
    examples = [context.items([i])[0].text for i, (label, _) in training.items() if label == rarest][-3:]
    left = settings.per_round - len(flips)
    return ([(rarest, left, examples)] if left > 0 else []), flips


def generate(state: LoopState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Add deduplicated synthetic texts to this round's machine lane (nothing without a generator)."""
    context = run_context(runtime)
    if context.generator is None or context.annotator is None:
        return {}
    context.enter_round(state.round)
    settings: GeneratorSettings = context.config.generator  # type: ignore[assignment]
    drafts = context.generator.write(*_plan(state, context), round_number=state.round)[: settings.per_round]
    if not drafts:
        return {}
    vectors = context.embedder.embed([draft.text for draft in drafts])
    workspace = context.workspace
    pool_similarity = np.max(  # the test set too: no leak into training
        [_max_similarity(vectors, known) for known in (workspace.vectors, workspace.test_vectors) if len(known)],
        axis=0,
        initial=-1.0,
    )
    in_memory = context.memory.near_duplicates(vectors, settings.max_similarity)
    seen = context.store.machine_ids() | set(context.store.human())
    kept: list[int] = []
    for row, draft in enumerate(drafts):
        if pool_similarity[row] >= settings.max_similarity or in_memory[row] is not None:
            continue
        if any(float(vectors[row] @ vectors[other]) >= settings.max_similarity for other in kept):
            continue
        if synthetic_id(draft.text) in seen:  # proposed, labelled or set aside before: never again
            continue
        kept.append(row)
    items = [
        Item(
            id=synthetic_id(drafts[row].text),
            text=drafts[row].text,
            meta={
                "synthetic": True,
                "intended": drafts[row].intended,
                "prompt": drafts[row].kind,
                "parent": drafts[row].parent,
            },
        )
        for row in kept
    ]
    context.synthetic.add(items, vectors[kept])
    return {"machine": state.machine + [item.id for item in items if item.id not in state.machine]}


def _max_similarity(vectors: np.ndarray, known: np.ndarray, chunk: int = 65_536) -> np.ndarray:
    """Each vector's highest cosine similarity to a row of ``known``, read in chunks: a memory-mapped pool of
    a million rows is never copied whole."""
    best = np.full(len(vectors), -1.0, dtype=np.float32)
    for start in range(0, len(known), chunk):
        best = np.maximum(best, (vectors @ np.asarray(known[start : start + chunk]).T).max(axis=1))
    return best
