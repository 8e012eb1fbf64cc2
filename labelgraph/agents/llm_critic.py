"""The LLM critic: an LLM judge of (text, label, rationale), combined with the embedded critic's signals.

A label is accepted only when both accept. The judge alone cannot accept what the signals dispute: published
work finds an LLM's own confidence a poor predictor of a wrong label, and disagreement a strong one.
"""

from __future__ import annotations

import asyncio
from typing import Literal

from pydantic import BaseModel

from labelgraph.agents.critic import CriticInput, EmbeddedCritic, Verdict
from labelgraph.agents.llm_annotator import parse_json_answer
from labelgraph.llm import LLMClient
from labelgraph.prompts import critic_messages

__all__ = ["JudgeAnswer", "LLMCritic"]


class JudgeAnswer(BaseModel):
    verdict: Literal["accept", "dispute", "reject"]
    reason: str = ""


class LLMCritic:
    name = "llm"

    def __init__(self, labels: dict[str, str], client: LLMClient, signals: EmbeddedCritic):
        self.labels, self.client, self.signals = labels, client, signals

    async def _judge(self, one: CriticInput) -> JudgeAnswer | str:
        messages = critic_messages(self.labels, one.item.text, one.annotation.label or "", one.annotation.rationale)
        try:
            reply = await self.client.chat(messages, agent="critic")
            return parse_json_answer(reply.content, JudgeAnswer)
        except Exception as error:  # a judge that fails cannot vouch: the item goes to a person
            return f"{type(error).__name__}: {error}"

    async def _all(self, inputs: list[CriticInput]) -> list[JudgeAnswer | str]:
        return list(await asyncio.gather(*(self._judge(one) for one in inputs)))

    def review(self, inputs: list[CriticInput]) -> list[Verdict]:
        base = self.signals.review(inputs)
        judged = [one for one in inputs if one.annotation.label is not None]
        answers = dict(zip([one.item.id for one in judged], self.client.run(self._all(judged)), strict=True))
        verdicts = []
        for verdict, one in zip(base, inputs, strict=True):
            answer = answers.get(one.item.id)
            if answer is None:
                verdicts.append(verdict)
                continue
            if isinstance(answer, str):
                reason, said = f"llm judge failed: {answer}", "dispute"
            else:
                reason, said = f"llm judge: {answer.verdict}: {answer.reason}", answer.verdict
            synthetic = bool(one.item.meta.get("synthetic"))
            # the embedded critic's reject (a synthetic text off its intended label) stands whatever the judge says
            if verdict.decision == "reject" or (said == "reject" and synthetic):
                decision = "reject"
            elif said == "accept" and verdict.decision == "accept":
                decision = "accept"
            else:
                decision = "dispute"
            verdicts.append(verdict.model_copy(update={"decision": decision, "reasons": [*verdict.reasons, reason]}))
        return verdicts
