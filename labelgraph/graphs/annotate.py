"""The annotate node: the machine lane labels this round's texts (and redoes a refreshing annotator's earlier ones)."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from langgraph.runtime import Runtime

from labelgraph.agents.annotator import Annotation
from labelgraph.graphs.context import RunContext
from labelgraph.graphs.resolve import run_context
from labelgraph.graphs.state import LoopState
from labelgraph.memory import Neighbour
from labelgraph.stores.labels import MachineLabel
from labelgraph.tools.registry import tool_votes

__all__ = ["annotate"]

log = logging.getLogger(__name__)


def people_labelled(context: RunContext) -> tuple[list[Neighbour], np.ndarray]:
    """People's labelled texts (seeds included) by id, as neighbours yet without a similarity, and their vectors:
    read once a round, whatever the number of pages."""
    human = {h.id: h for h in context.store.human().values() if h.label is not None}
    ids = sorted(human)
    people = [
        Neighbour(
            id=item.id,
            text=item.text,
            label=human[item.id].label or "",
            source="seed" if human[item.id].kind == "seed" else "human",
            similarity=0.0,
        )
        for item in context.items(ids)
    ]
    return people, context.vectors(ids)


def labelled_neighbours(
    vectors: np.ndarray, people: list[Neighbour], people_vectors: np.ndarray, k: int
) -> list[list[Neighbour]]:
    """The ``k`` people-labelled texts most similar to each vector, exactly (a matrix product over the few
    hundred labelled texts), most similar first and ties broken by id: the same answer in every process, which an
    approximate index rebuilt after a crash does not promise."""
    if not people or k <= 0:
        return [[] for _ in range(len(vectors))]
    out: list[list[Neighbour]] = []
    for start in range(0, len(vectors), 4096):
        sims = np.asarray(vectors[start : start + 4096]) @ people_vectors.T
        order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
        for row, picks in enumerate(order):
            out.append([people[j].model_copy(update={"similarity": round(float(sims[row, j]), 6)}) for j in picks])
    return out


ANNOTATE_PAGE = 4096
"""Texts annotated and stored at a time: a round's memory stays O(page), however many texts it (re)labels."""


def annotate(state: LoopState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Label the round's machine-lane texts with the nearest human-labelled items as context and the tools' votes.

    Writes one row per text to the label store, a page at a time (upserts: a re-run after a crash writes the same
    rows).
    """
    context = run_context(runtime)
    if context.annotator is None:
        return {}
    context.enter_round(state.round)
    ids = list(dict.fromkeys(state.machine))
    if getattr(context.annotator, "refreshes", False):
        skip = set(context.store.human()) | set(ids)
        ids += [i for i in context.store.annotated_before(state.round) if i not in skip]
    people = people_labelled(context)
    for start in range(0, len(ids), ANNOTATE_PAGE):
        _annotate_page(context, state.round, ids[start : start + ANNOTATE_PAGE], people)
    return {}


def _annotate_page(
    context: RunContext, round_number: int, ids: list[str], people: tuple[list[Neighbour], np.ndarray]
) -> None:
    """Annotate and store one page of texts; tool votes are reused from the texts' annotations of earlier rounds."""
    names = context.config.label_names
    items = context.items(ids)
    if context.voters:
        earlier = {i: m for i, m in context.store.machine_for(ids).items() if m.round < round_number}
        items = [
            item.model_copy(
                update={
                    "meta": {
                        **item.meta,
                        "tool_votes": earlier[item.id].tool_votes
                        if item.id in earlier
                        else tool_votes(context.voters, item.text, names, log.warning),
                    }
                }
            )
            for item in items
        ]
    vectors = context.vectors(ids)
    neighbours = labelled_neighbours(vectors, *people, context.config.neighbours)
    given = {a.id: a for a in context.annotator.annotate(items, vectors, neighbours)}
    annotations = []
    for item in items:
        annotation = given.get(item.id) or Annotation(id=item.id, label=None, error="annotator returned nothing")
        if annotation.label is not None and annotation.label not in names:
            annotation = annotation.model_copy(
                update={"label": None, "error": f"label {annotation.label!r} is not in the label set"}
            )
        annotations.append(annotation)
    verdicts = context.judge.judge(items, annotations) if context.judge is not None else {}
    context.store.put_machine(
        MachineLabel(
            id=item.id,
            round=round_number,
            label=annotation.label,
            confidence=annotation.confidence,
            annotator=annotation.annotator or context.annotator.name,
            synthetic=bool(item.meta.get("synthetic")),
            distribution=annotation.distribution,
            votes=annotation.votes,
            tool_votes=item.meta.get("tool_votes", {}),
            rationale=annotation.rationale,
            error=annotation.error,
            intended=item.meta.get("intended"),
            parent=item.meta.get("parent"),
            judge=verdicts.get(item.id),
        )
        for item, annotation in zip(items, annotations, strict=True)
    )
