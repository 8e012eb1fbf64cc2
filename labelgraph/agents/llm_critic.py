"""The LLM judge: asks a chat model whether a machine label fits its text. Its verdict is one signal of the
calibrated critic among others, never the decision: published work finds an LLM's own verdict a weak predictor
of a wrong label on its own, and disagreement between independent signals a strong one."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from labelgraph.agents.annotator import Annotation
from labelgraph.agents.llm_annotator import gather_items, parse_json_answer
from labelgraph.data import Item
from labelgraph.llm.client import LLMClient
from labelgraph.llm.prompts import critic_messages

__all__ = ["JudgeAnswer", "LLMJudge"]


class JudgeAnswer(BaseModel):
    verdict: Literal["accept", "dispute", "reject"]
    reason: str = ""


class LLMJudge:
    name = "llm"

    def __init__(self, labels: dict[str, str], client: LLMClient):
        self.labels, self.client = labels, client

    async def _judge(self, item: Item, annotation: Annotation) -> str:
        messages = critic_messages(self.labels, item.text, annotation.label or "", annotation.rationale)
        try:
            reply = await self.client.chat(messages, agent="critic")
            return parse_json_answer(reply.content, JudgeAnswer).verdict
        except Exception:  # a judge that fails cannot vouch: the signal stays neutral
            return "dispute"

    async def _all(self, pairs: list[tuple[Item, Annotation]]) -> list[str]:
        return await gather_items("LLM judge", [self._judge(item, annotation) for item, annotation in pairs])

    def judge(self, items: list[Item], annotations: list[Annotation]) -> dict[str, str]:
        """The verdict (accept, dispute, reject) on each labelled annotation, by item id."""
        pairs = [(i, a) for i, a in zip(items, annotations, strict=True) if a.label is not None]
        return dict(zip([item.id for item, _ in pairs], self.client.run(self._all(pairs)), strict=True))
