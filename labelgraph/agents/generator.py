"""The generator agent: new texts where the model is weak (the rarest labels) and counterfactual edits of the
batch's most uncertain items. Every new text is deduplicated against the pool, the memory and the other new
texts by cosine similarity, marked synthetic with its parent and prompt, and then annotated and checked by
the critic like any other item (a text the annotator does not label as intended is rejected).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import TYPE_CHECKING, Any

import numpy as np
from langchain_core.messages import BaseMessage
from pydantic import BaseModel

from labelgraph.agents.llm_annotator import parse_json_answer
from labelgraph.config import GeneratorSettings
from labelgraph.data import Item
from labelgraph.graphs.resolve import run_context
from labelgraph.llm import LLMClient, Reply
from labelgraph.prompts import counterfactual_messages, new_examples_messages
from labelgraph.synthetic import synthetic_id

if TYPE_CHECKING:
    from langgraph.runtime import Runtime

    from labelgraph.graphs.context import RunContext
    from labelgraph.graphs.state import LoopState

__all__ = ["Draft", "LLMGenerator", "generate"]


class _Texts(BaseModel):
    texts: list[str]


class _Text(BaseModel):
    text: str


class Draft(BaseModel):
    """A text the generator wrote, before deduplication."""

    text: str
    intended: str
    kind: str
    parent: str | None = None


class LLMGenerator:
    def __init__(self, labels: dict[str, str], client: LLMClient, settings: GeneratorSettings):
        self.labels, self.client, self.settings = labels, client, settings

    async def _ask(self, messages: list[BaseMessage], round_number: int) -> Reply:
        """A sampled draw per round: the same prompt next round asks again instead of reading the cache."""
        temperature = self.client.settings.sample_temperature
        return await self.client.chat(messages, agent="generator", sample=round_number, temperature=temperature)

    async def _new(self, label: str, count: int, examples: list[str], round_number: int) -> list[Draft]:
        try:
            reply = await self._ask(new_examples_messages(self.labels, label, count, examples), round_number)
            texts = parse_json_answer(reply.content, _Texts).texts
        except Exception:  # a failed request or answer writes nothing this round; the loop goes on
            return []
        return [Draft(text=t.strip(), intended=label, kind="rare_label") for t in texts[:count] if t.strip()]

    async def _flip(self, item: Item, source: str, target: str, round_number: int) -> list[Draft]:
        try:
            messages = counterfactual_messages(self.labels, item.text, source, target)
            text = parse_json_answer((await self._ask(messages, round_number)).content, _Text).text
        except Exception:
            return []
        return (
            [Draft(text=text.strip(), intended=target, kind="counterfactual", parent=item.id)] if text.strip() else []
        )

    def write(
        self, rare: list[tuple[str, int, list[str]]], flips: list[tuple[Item, str, str]], round_number: int = 0
    ) -> list[Draft]:
        async def everything() -> list[list[Draft]]:
            jobs = [self._new(*one, round_number) for one in rare] + [self._flip(*one, round_number) for one in flips]
            return list(await asyncio.gather(*jobs))

        return [draft for drafts in self.client.run(everything()) for draft in drafts]


def _plan(
    state: LoopState, context: RunContext
) -> tuple[list[tuple[str, int, list[str]]], list[tuple[Item, str, str]]]:
    """Half the round's cap on counterfactuals of the most uncertain batch items, the rest on the rarest label."""
    settings: GeneratorSettings = context.config.generator  # type: ignore[assignment]
    names = context.config.label_names
    flips: list[tuple[Item, str, str]] = []
    student = context.student(state["labels"])
    if settings.counterfactuals and student.is_informative and state["batch"]:
        probs = student.predict_proba(context.vectors(state["batch"]))
        order = np.argsort(-np.sort(probs, axis=1)[:, -2])[: settings.per_round // 2]  # highest runner-up first
        for row in order:
            first, second = np.argsort(-probs[row])[:2]
            flips.append((context.items([state["batch"][row]])[0], names[first], names[second]))
    counts = Counter(record["label"] for record in state["labels"].values())
    rarest = min(names, key=lambda name: (counts[name], names.index(name)))
    examples = [r["text"] for r in state["labels"].values() if r["label"] == rarest][-3:]  # the latest
    left = settings.per_round - len(flips)
    return ([(rarest, left, examples)] if left > 0 else []), flips


def generate(state: LoopState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Graph node: add deduplicated synthetic items to this round's batch (nothing without a generator)."""
    context = run_context(runtime)
    if context.generator is None:
        return {}
    context.enter_round(state["round"])
    settings: GeneratorSettings = context.config.generator  # type: ignore[assignment]
    drafts = context.generator.write(*_plan(state, context), round_number=state["round"])[: settings.per_round]
    if not drafts:
        return {}
    vectors = context.embedder.embed([draft.text for draft in drafts])
    workspace = context.workspace
    known = np.concatenate([workspace.vectors, workspace.test_vectors])  # the test set too: no leak into training
    pool_similarity = (vectors @ known.T).max(axis=1)
    in_memory = context.memory.near_duplicates(vectors, settings.max_similarity)
    seen = set(state["labels"]) | set(state["skipped"])
    kept: list[int] = []
    for row, draft in enumerate(drafts):
        if pool_similarity[row] >= settings.max_similarity or in_memory[row] is not None:
            continue
        if any(float(vectors[row] @ vectors[other]) >= settings.max_similarity for other in kept):
            continue
        if synthetic_id(draft.text) in seen:  # labelled, skipped or rejected before: never asked again
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
    return {"batch": state["batch"] + [item.id for item in items if item.id not in state["batch"]]}
