"""The LLM annotator: the label set, similar labelled examples as demonstrations, the text as delimited data.

Each item gets ``samples`` answers; their votes give the label distribution (self-consistency), and the
label tokens' log-probabilities sharpen the confidence when the server sends them. A malformed answer gets
one repair request; an item whose every answer fails is marked failed, never given a guessed label.
A batch of ``PROGRESS_ITEMS`` items or more shows progress (``labelgraph.progress``) as its items finish.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections import Counter
from collections.abc import Awaitable
from typing import Any, TypeVar

import numpy as np
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import BaseTool
from pydantic import BaseModel, Field, ValidationError

from labelgraph.agents.annotator import Annotation
from labelgraph.data import Item
from labelgraph.llm.client import LLMClient, Reply
from labelgraph.llm.prompts import annotator_messages, delimit, repair_message
from labelgraph.memory import Neighbour
from labelgraph.progress import gather as gather_with_progress

__all__ = ["PROGRESS_ITEMS", "LLMAnnotator", "LabelAnswer", "gather_items", "label_probability", "parse_json_answer"]

_JSON = re.compile(r"\{.*\}", re.DOTALL)

T = TypeVar("T")

PROGRESS_ITEMS = 10
"""A batch of this many items or more shows progress; a smaller one ends within a round trip or two of requests."""


async def gather_items(description: str, calls: list[Awaitable[T]]) -> list[T]:
    """``asyncio.gather`` over one call an item, counted as they finish (a bar on a terminal, plain lines in logs)
    when there are ``PROGRESS_ITEMS`` or more."""
    if len(calls) < PROGRESS_ITEMS:
        return list(await asyncio.gather(*calls))
    return await gather_with_progress(description, *calls)


class LabelAnswer(BaseModel):
    label: str
    confidence: float = Field(ge=0, le=1)
    rationale: str = ""


def parse_json_answer(content: str, model: type[BaseModel]) -> Any:
    """The first JSON object in ``content`` (fences allowed), validated; ValueError says what is wrong."""
    found = _JSON.search(content or "")
    if not found:
        raise ValueError("no JSON object in the answer")
    try:
        return model.model_validate(json.loads(found.group(0)))
    except json.JSONDecodeError as error:
        raise ValueError(f"malformed JSON ({error.msg})") from None
    except ValidationError as error:
        problem = error.errors()[0]
        raise ValueError(f"field {'.'.join(map(str, problem['loc']))!r}: {problem['msg']}") from None


def label_probability(content: str, logprobs: list[dict[str, Any]] | None) -> float | None:
    """Probability of the label value's tokens in a JSON answer, from the server's token log-probabilities."""
    if not logprobs or "".join(token.get("token", "") for token in logprobs) != content:
        return None  # tokens that do not spell the answer (bytes of a split character, say): offsets would lie
    found = re.search(r'"label"\s*:\s*"([^"]*)"', content)
    if not found:
        return None
    start, end = found.span(1)
    position, total, seen = 0, 0.0, False
    for token in logprobs:
        length = len(token.get("token", ""))
        if position < end and position + length > start:
            total += float(token.get("logprob", 0.0))
            seen = True
        position += length
    return math.exp(total) if seen else None


class LLMAnnotator:
    """Labels a batch through an LLM, concurrently and with every call cached."""

    name = "llm"

    def __init__(
        self,
        labels: dict[str, str],
        client: LLMClient,
        *,
        examples: int = 5,
        tools: list[BaseTool] | None = None,
        tool_steps: int = 3,
    ):
        self.labels = labels
        self.client = client
        self.examples = examples
        self.tools = {one.name: one for one in tools or []}
        self.tool_steps = tool_steps

    async def _converse(self, messages: list, chat: dict[str, Any]) -> tuple[Reply, list]:
        """Ask; while the model calls tools (at most ``tool_steps`` rounds), run them and ask again."""
        tools = list(self.tools.values()) or None
        for _ in range(self.tool_steps):
            reply = await self.client.chat(messages, tools=tools, **chat)
            if not reply.tool_calls:
                return reply, messages
            messages = [*messages, AIMessage(reply.content, tool_calls=reply.tool_calls)]
            for call in reply.tool_calls:
                chosen = self.tools.get(call["name"])
                try:
                    result = str(await chosen.ainvoke(call["args"])) if chosen else f"no tool named {call['name']!r}"
                except Exception as error:  # the model sees the failure and may answer without the tool
                    result = f"tool error: {type(error).__name__}: {error}"
                messages.append(ToolMessage(delimit(result), tool_call_id=call["id"]))  # tool output is data too
        return await self.client.chat(messages, **chat), messages  # steps used up: answer without tools

    async def _sample(self, messages: list, sample: int) -> tuple[LabelAnswer | None, str, float | None]:
        settings = self.client.settings
        temperature = settings.temperature if sample == 0 else settings.sample_temperature
        chat = {"agent": "annotator", "sample": sample, "temperature": temperature}
        reply, messages = await self._converse(messages, chat)
        content = reply.content
        for attempt in range(2):
            try:
                answer = parse_json_answer(content, LabelAnswer)
                if answer.label not in self.labels:
                    raise ValueError(f"label {answer.label!r} is not one of {', '.join(self.labels)}")
                return answer, "", label_probability(content, reply.logprobs)
            except ValueError as error:
                if attempt == 1:
                    return None, str(error), None
                retry = [*messages, AIMessage(content), repair_message(str(error), list(self.labels))]
                reply = await self.client.chat(retry, **chat)
                content = reply.content
        raise AssertionError("unreachable")

    async def _one(self, item: Item, near: list[Neighbour]) -> Annotation:
        messages = annotator_messages(self.labels, item.text, near[: self.examples])
        samples = self.client.settings.samples
        try:
            results = await asyncio.gather(*(self._sample(messages, s) for s in range(samples)))
        except Exception as error:  # the call failed after its retries: mark the item, never guess
            return Annotation(id=item.id, label=None, annotator=self.name, error=f"{type(error).__name__}: {error}")
        answers = [(answer, prob) for answer, _, prob in results if answer is not None]
        if not answers:
            errors = "; ".join(sorted({error for _, error, _ in results}))
            return Annotation(id=item.id, label=None, annotator=self.name, error=f"no valid answer: {errors}")
        votes = Counter(answer.label for answer, _ in answers)
        best = max(votes, key=lambda label: (votes[label], -list(self.labels).index(label)))
        winners = [(answer, prob) for answer, prob in answers if answer.label == best]
        sure = [prob if prob is not None else answer.confidence for answer, prob in winners]
        share = votes[best] / samples  # a failed sample counts against the confidence...
        return Annotation(
            id=item.id,
            label=best,
            distribution={label: round(votes[label] / len(answers), 4) for label in self.labels},  # ...not here
            confidence=round(share * float(np.mean(sure)), 4),
            rationale=f"{winners[0][0].rationale} ({votes[best]} of {samples} samples)",
            annotator=self.name,
            votes=dict(votes),
        )

    async def _all(self, items: list[Item], neighbours: list[list[Neighbour]]) -> list[Annotation]:
        # the client bounds the requests in flight; items and samples are all scheduled at once
        calls = [self._one(item, near) for item, near in zip(items, neighbours, strict=True)]
        return await gather_items("LLM labelling", calls)

    def annotate(self, items: list[Item], vectors: np.ndarray, neighbours: list[list[Neighbour]]) -> list[Annotation]:
        return self.client.run(self._all(items, neighbours))
