"""The LLM selector: from a shortlist the configured strategy proposes (uncertain and diverse), the LLM picks
the items it judges most informative and says why; picks it does not make are filled from the shortlist."""

from __future__ import annotations

from pydantic import BaseModel

from labelgraph.agents.llm_annotator import parse_json_answer
from labelgraph.llm.client import LLMClient
from labelgraph.llm.prompts import selector_messages

__all__ = ["LLMSelector"]


class _Pick(BaseModel):
    index: int
    why: str = ""


class _Picks(BaseModel):
    picks: list[_Pick]


class LLMSelector:
    shortlist_factor = 3

    def __init__(self, labels: dict[str, str], client: LLMClient):
        self.labels, self.client = labels, client

    def choose(self, texts: list[str], k: int) -> list[tuple[int, str]]:
        """``k`` distinct positions in ``texts`` with reasons, the LLM's choice first."""

        async def ask() -> list[_Pick]:
            reply = await self.client.chat(selector_messages(self.labels, texts, k), agent="selector")
            return parse_json_answer(reply.content, _Picks).picks

        try:
            picks = self.client.run(ask())
        except Exception as error:  # without a usable answer the shortlist order stands
            picks, fallback = [], f"shortlist order (LLM selector failed: {type(error).__name__})"
        else:
            fallback = "shortlist order"
        chosen: dict[int, str] = {}
        for pick in picks:
            if 0 <= pick.index < len(texts) and pick.index not in chosen and len(chosen) < k:
                chosen[pick.index] = f"llm: {pick.why}"
        for position in range(len(texts)):
            if len(chosen) >= k:
                break
            chosen.setdefault(position, fallback)
        return list(chosen.items())
