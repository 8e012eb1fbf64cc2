"""The generator agent: new texts where the model is weak (the rarest labels) and counterfactual edits of the
batch's most uncertain items. Every new text is deduplicated against the pool, the memory and the other new
texts by cosine similarity, marked synthetic with its parent and prompt, and then annotated and checked by
the critic like any other item (a text the annotator does not label as intended is rejected).
"""

from __future__ import annotations

import asyncio

from langchain_core.messages import BaseMessage
from pydantic import BaseModel

from labelgraph.agents.llm_annotator import parse_json_answer
from labelgraph.config import GeneratorSettings
from labelgraph.data import Item
from labelgraph.llm.client import LLMClient, Reply
from labelgraph.llm.prompts import counterfactual_messages, new_examples_messages

__all__ = ["Draft", "LLMGenerator"]


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
