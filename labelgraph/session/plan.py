"""``labelgraph plan``: what a run will ask an LLM for, and what it will cost, before it spends anything.

Counts come from the prompts themselves: the annotator's and the judge's messages are built for a sample of
the pool's texts (with seed labels standing in for the demonstrations the memory will supply) and measured.
Tokens are counted with tiktoken where its encoding is on this machine, else as characters / 4 (said in the
output). Answers are assumed to take ``ANSWER_TOKENS`` tokens; repairs, retries and tool calls are extra.
"""

from __future__ import annotations

import numpy as np
from langchain_core.messages import BaseMessage
from pydantic import BaseModel

from labelgraph.config import ProjectConfig
from labelgraph.data import iter_items, read_items
from labelgraph.llm.prompts import annotator_messages, critic_messages
from labelgraph.memory import Neighbour

__all__ = ["ANSWER_TOKENS", "CostPlan", "PlanLine", "plan_costs"]

ANSWER_TOKENS = 60
"""Assumed output tokens of one answer: a JSON object with a label, a confidence and a short rationale."""
SAMPLE = 200


class PlanLine(BaseModel):
    agent: str
    calls: int
    input_tokens: int
    output_tokens: int
    cost: float


class CostPlan(BaseModel):
    texts: int
    """Texts the machine lane will annotate."""
    lines: list[PlanLine]
    doubt: list[PlanLine] = []
    """What the LLM's own doubt costs: the samples after the first (self-consistency), already inside ``lines``;
    with one sample, what one more a text would add (not inside them)."""
    calls: int
    cost: float
    tokenizer: str
    notes: list[str]


def _counter() -> tuple[str, callable]:  # type: ignore[valid-type]
    try:
        import tiktoken

        encoding = tiktoken.get_encoding("o200k_base")
        return "tiktoken o200k_base", lambda text: len(encoding.encode(text))
    except Exception:  # the encoding is fetched on first use; offline it is not there
        return "characters / 4 (tiktoken's encoding is not on this machine)", lambda text: max(1, len(text) // 4)


def _tokens(messages: list[BaseMessage], count) -> int:  # type: ignore[no-untyped-def]
    return sum(count(str(message.content)) + 4 for message in messages)


def plan_costs(config: ProjectConfig) -> CostPlan:
    """The calls, tokens and cost a fresh run of ``config`` should take (an estimate; cached calls are free)."""
    read = {"text_field": config.text_field, "id_field": config.id_field, "label_field": config.label_field,
            "labels": config.label_names, "max_text_chars": config.max_text_chars}  # fmt: skip
    size = sum(1 for _ in iter_items(config.pool, **read))  # every row checked; no list of the pool kept
    seeds = read_items(config.seed, require_label=True, standard_names=True, **read) if config.seed else []
    texts = config.machine.size(size) if config.annotator != "none" else 0
    tokenizer, count = _counter()
    notes = [f"answers assumed {ANSWER_TOKENS} output tokens; repairs, retries and tool calls are extra"]
    lines: list[PlanLine] = []
    llm = config.llm
    if llm is None:
        notes.append("no llm section: the run makes no LLM calls")
        return CostPlan(texts=texts, lines=[], calls=0, cost=0.0, tokenizer=tokenizer, notes=notes)
    rows = np.random.default_rng(config.random_seed).permutation(size)[:SAMPLE]
    wanted = {int(row) for row in rows}
    found = {n: one for n, one in enumerate(iter_items(config.pool, unique=False, **read)) if n in wanted}
    sample = [found[int(row)] for row in rows]
    examples = [
        Neighbour(id=s.id, text=s.text, label=s.label or "", source="seed", similarity=1.0)
        for s in seeds[: min(config.neighbours, 8)]
    ]
    if not examples:
        notes.append("no seed labels: demonstrations are not counted (the memory supplies them as people label)")

    def line(agent: str, calls: int, per_call_input: float) -> PlanLine:
        inputs, outputs = int(calls * per_call_input), calls * ANSWER_TOKENS
        cost = (inputs * llm.prices.input + outputs * llm.prices.output) / 1e6
        return PlanLine(agent=agent, calls=calls, input_tokens=inputs, output_tokens=outputs, cost=round(cost, 4))

    doubt: list[PlanLine] = []
    if config.annotator == "llm" and sample:
        mean = float(np.mean([_tokens(annotator_messages(config.labels, s.text, examples), count) for s in sample]))
        lines.append(line("annotator", texts * llm.samples, mean))
        one_more = line("annotator", texts, mean)
        if llm.samples > 1:  # self-consistency: samples after the first, at llm.sample_temperature
            extra = line(f"self-consistency: samples 2-{llm.samples}", texts * (llm.samples - 1), mean)
            doubt.append(extra)
            notes.append(f"llm.samples {llm.samples}: the votes of the answers give the annotator's confidence")
        else:
            doubt.append(one_more.model_copy(update={"agent": "one more sample a text (llm.samples: 2) would add"}))
        notes.append(
            "llm.logprobs asks for the label tokens' log-probabilities with each answer: no extra calls or billed "
            "tokens on OpenAI-compatible servers that send them" + (" (on)" if llm.logprobs else " (off)")
        )
    if config.critic_llm and sample:
        label = config.label_names[0]
        mean = float(
            np.mean([_tokens(critic_messages(config.labels, s.text, label, "x" * 200), count) for s in sample])
        )
        lines.append(line("critic", texts, mean))
    if config.generator is not None:
        per_round = 1 + config.generator.per_round // 2
        lines.append(line("generator", config.max_rounds * per_round, 400.0))
        notes.append("generator prompts estimated at 400 input tokens each")
    if config.strategy == "llm":
        lines.append(line("selector", config.max_rounds, 60.0 * config.batch_size * 3))
        notes.append("selector prompts estimated at 60 tokens per shortlisted text")
    if not (llm.prices.input or llm.prices.output):
        notes.append("no prices set (llm.prices): costs show as 0")
    return CostPlan(
        texts=texts,
        lines=lines,
        doubt=doubt,
        calls=sum(one.calls for one in lines),
        cost=round(sum(one.cost for one in lines), 4),
        tokenizer=tokenizer,
        notes=notes,
    )
