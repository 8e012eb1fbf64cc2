"""The Python API: a ``Project`` (a validated project file) and a ``Run`` (its run folder and graph thread).

run = Project.from_yaml("project.yaml").start()
run.step()                       # advance until people must answer, or the loop ends
run.pending_reviews()            # what waits for a person
run.answer({"item-7": "positive"})
run.step()                       # commit the answers and go on
run.export("labels.jsonl")
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

from langgraph.types import Command
from pydantic import BaseModel

from labelgraph.agents.annotator import Annotator, EmbeddedAnnotator
from labelgraph.agents.critic import Critic, EmbeddedCritic
from labelgraph.agents.generator import LLMGenerator
from labelgraph.agents.human import ReviewItem, SimulatedHuman, check_answers
from labelgraph.agents.llm_selector import LLMSelector
from labelgraph.config import ProjectConfig, load_project
from labelgraph.data import LabelRecord, write_export
from labelgraph.embeddings import Embedder, get_embedder
from labelgraph.errors import ConflictError, PluginError, ReviewError
from labelgraph.graphs.checkpoint import checkpointer_for
from labelgraph.graphs.context import RunContext
from labelgraph.graphs.loop import builder
from labelgraph.inbox import ReviewInbox
from labelgraph.llm import LLMClient, Usage
from labelgraph.memory import Memory
from labelgraph.plugins import load_object
from labelgraph.strategies import Strategy, get_strategy
from labelgraph.synthetic import SyntheticStore
from labelgraph.tools import LoadedTools, load_tools
from labelgraph.workspace import Workspace

__all__ = ["Phase", "Project", "Run", "RunStatus"]

Phase = Literal["new", "running", "paused", "done"]


class RunStatus(BaseModel):
    """Where a run stands; ``labelgraph status --json`` prints this."""

    run: str
    name: str
    label_names: list[str]
    phase: Phase
    round: int
    stop_reason: str | None
    labels: int
    by_source: dict[str, int]
    human_labels: int
    budget: int
    pending: list[str]
    answered: list[str]
    metrics: dict[str, float]
    llm_usage: dict[str, Usage]
    tools: dict[str, dict[str, float]]
    history: list[dict[str, Any]]


def tool_summary(history: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Each voting tool's coverage (share of annotated items it voted on) and agreement with committed labels."""
    totals: dict[str, Counter] = {}
    for entry in history:
        for name, counts in entry.get("tools", {}).items():
            totals.setdefault(name, Counter()).update(counts)
    return {
        name: {
            "coverage": round(c["voted"] / c["items"], 4) if c["items"] else 0.0,
            "agreement": round(c["agreed"] / c["judged"], 4) if c["judged"] else 0.0,
            "votes": c["voted"],
        }
        for name, c in totals.items()
    }


class Project:
    """A validated project file."""

    def __init__(self, config: ProjectConfig):
        self.config = config

    @classmethod
    def from_yaml(cls, path: str | Path) -> Project:
        return cls(load_project(path))

    def start(self, *, embedder: Embedder | None = None, **plugins: Any) -> Run:
        """Create the run folder (or reopen it if it exists) and return its run."""
        check_plugins(self.config, given=plugins)  # a typo fails before the folder exists
        return Run(Workspace.create(self.config, embedder=embedder), **plugins)


def check_plugins(config: ProjectConfig, *, given: dict[str, Any] | None = None) -> None:
    """Resolve the project's strategy, annotator and tools by name; PluginError for any that does not resolve."""
    given = given or {}
    if "strategy" not in given and config.strategy != "llm":
        get_strategy(config.strategy)
    if "annotator" not in given and config.annotator not in {"embedded", "llm"}:
        load_object(config.annotator, kind="annotator")
    load_tools(config.tools, memory=None)


def _build_annotator(spec: str, config: ProjectConfig, llm: LLMClient | None, tools: LoadedTools) -> Annotator:
    if spec == "embedded":
        return EmbeddedAnnotator(config.labels, get_embedder(config.embedding_model), k=config.neighbours)
    if spec == "llm":
        from labelgraph.agents.llm_annotator import LLMAnnotator

        assert llm is not None, "config validation requires an llm section"
        return LLMAnnotator(
            config.labels, llm, examples=min(config.neighbours, 8), tools=tools.tools, tool_steps=config.tool_steps
        )
    factory = load_object(spec, kind="annotator")
    annotator = factory(config) if callable(factory) else factory
    if not isinstance(annotator, Annotator):
        raise PluginError(f"annotator {spec!r} has no name and annotate(items, vectors, neighbours)")
    return annotator


def _build_critic(config: ProjectConfig, llm: LLMClient | None) -> Critic:
    signals = EmbeddedCritic(config.critic)
    if not config.critic_llm:
        return signals
    from labelgraph.agents.llm_critic import LLMCritic

    assert llm is not None, "config validation requires an llm section"
    return LLMCritic(config.labels, llm, signals)


class Run:
    """One run folder and its graph thread. Not for use from two processes at once (the folder is locked)."""

    def __init__(
        self,
        workspace: Workspace,
        *,
        annotator: Annotator | None = None,
        critic: Critic | None = None,
        strategy: Strategy | None = None,
    ):
        self.workspace = workspace
        config = workspace.config
        self.memory = (
            Memory.server(config.memory.url, collection=workspace.thread_id, embedding_model=config.embedding_model)
            if config.memory.url
            else Memory.embedded(workspace.memory_path, embedding_model=config.embedding_model)
        )
        self.llm = LLMClient(config.llm, workspace.path / "llm_cache.sqlite") if config.llm else None
        tools = load_tools(config.tools, memory=self.memory)
        self.synthetic = SyntheticStore(workspace.path / "synthetic.sqlite")
        self.context = RunContext(
            workspace=workspace,
            memory=self.memory,
            strategy=strategy or get_strategy("hybrid" if config.strategy == "llm" else config.strategy),
            annotator=annotator or _build_annotator(config.annotator, config, self.llm, tools),
            critic=critic or _build_critic(config, self.llm),
            llm=self.llm,
            voters=tools.voters,
            embedder=get_embedder(config.embedding_model),
            synthetic=self.synthetic,
            generator=LLMGenerator(config.labels, self.llm, config.generator)
            if config.generator and self.llm
            else None,
            selector_llm=LLMSelector(config.labels, self.llm) if config.strategy == "llm" and self.llm else None,
        )
        self.inbox = ReviewInbox(workspace.reviews)
        self.graph = builder.compile(checkpointer=checkpointer_for(config.checkpoints, workspace.checkpoints))
        self._thread = {"configurable": {"thread_id": workspace.thread_id}}

    @classmethod
    def open(cls, path: str | Path, **plugins: Any) -> Run:
        return cls(Workspace.open(Path(path)), **plugins)

    @property
    def config(self) -> ProjectConfig:
        return self.workspace.config

    @property
    def gold(self) -> dict[str, str]:
        """Gold labels that came with the pool file (for simulations); the loop never reads them."""
        return {item.id: item.label for item in self.workspace.items if item.label and item.meta.get("in_pool")}

    # -- state ---------------------------------------------------------------------------------------
    def _snapshot(self):
        return self.graph.get_state(self._thread)

    @property
    def phase(self) -> Phase:
        snapshot = self._snapshot()
        if not snapshot.values:
            return "new"
        if snapshot.interrupts:
            return "paused"
        return "running" if snapshot.next else "done"

    def _waiting(self) -> list[dict[str, Any]]:
        return [item for interrupt in self._snapshot().interrupts for item in interrupt.value["items"]]

    def pending_reviews(self, *, include_answered: bool = False) -> list[ReviewItem]:
        """Disputed items waiting for a person (by default, those nobody has answered yet)."""
        waiting = [ReviewItem.model_validate(item) for item in self._waiting()]
        if include_answered:
            return waiting
        answered = self.inbox.answered([item.id for item in waiting])
        return [item for item in waiting if item.id not in answered]

    def labels(self) -> list[LabelRecord]:
        values = self._snapshot().values
        return [LabelRecord.model_validate(record) for record in values.get("labels", {}).values()]

    def status(self) -> RunStatus:
        values = self._snapshot().values
        history = values.get("history", [])
        waiting = [item["id"] for item in self._waiting()]
        answered = self.inbox.answered(waiting)
        last = history[-1] if history else {}
        return RunStatus(
            run=str(self.workspace.path),
            name=self.config.name,
            label_names=self.config.label_names,
            phase=self.phase,
            round=values.get("round", 0),
            stop_reason=values.get("stop_reason"),
            labels=len(values.get("labels", {})),
            by_source=dict(Counter(record["source"] for record in values.get("labels", {}).values())),
            human_labels=values.get("human_labels", 0),
            budget=self.config.budget,
            pending=[item_id for item_id in waiting if item_id not in answered],
            answered=[item_id for item_id in waiting if item_id in answered],
            metrics={key: last[key] for key in ("accuracy", "macro_f1") if key in last},
            llm_usage=self.llm.usage(by="agent") if self.llm else {},
            tools=tool_summary(history),
            history=history,
        )

    # -- acting --------------------------------------------------------------------------------------
    def answer(
        self, answers: Mapping[str, str | None] | Iterable[tuple[str, str | None]], *, reviewer: str = "api"
    ) -> int:
        """Record people's answers (a label, or None to skip) for pending items; return how many.

        Answers are stored at once and survive a crash; ``step()`` then resumes the graph with them.
        Raises ReviewError for an item that is not pending or a label outside the set, ConflictError
        for an item someone already answered.
        """
        pairs = list(answers.items()) if isinstance(answers, Mapping) else list(answers)
        given = [item_id for item_id, _ in pairs]
        committed = set(self._snapshot().values.get("labels", {})) & set(given)
        if committed:
            raise ConflictError(f"already committed: {', '.join(sorted(committed))}")
        waiting = self._waiting()
        answered = self.inbox.answered(given)  # before the pending check: a step may have just taken them
        if answered:
            raise ConflictError(f"already answered: {', '.join(sorted(answered))}")
        checked = check_answers(pairs, waiting=[item["id"] for item in waiting], labels=self.config.label_names)
        if not checked:
            return 0
        self.inbox.put(checked, reviewer=reviewer, round_number=waiting[0]["round"])
        return len(checked)

    def withdraw(self, item_id: str) -> None:
        """Undo an answer that the graph has not taken yet."""
        if item_id not in {item["id"] for item in self._waiting()}:
            raise ReviewError(f"item {item_id!r} is not pending review: its answer can no longer be undone")
        if not self.inbox.withdraw(item_id):
            raise ReviewError(f"item {item_id!r} has no answer to undo")

    def _reconcile_memory(self) -> None:
        """Make the memory hold exactly the committed labels (a crash may leave it one write ahead)."""
        labels = self._snapshot().values.get("labels", {})
        extra = self.memory.ids() - set(labels)
        self.memory.remove(sorted(extra))
        self._remember([LabelRecord.model_validate(labels[i]) for i in sorted(set(labels) - self.memory.ids())])

    def _remember(self, records: list[LabelRecord]) -> None:
        self.memory.add(records, self.context.vectors([record.id for record in records]))

    def step(self, on_update: Callable[[str, dict[str, Any]], None] | None = None) -> RunStatus:
        """Advance the loop until it needs people's answers or ends; ``on_update(node, update)`` per node."""
        with self.workspace.lock():
            phase = self.phase
            if phase == "done":
                return self.status()
            if phase == "new":
                payload: Any = {}  # the prepare node starts the thread from the seed labels
            elif phase == "paused":
                answers = self.inbox.claim([item["id"] for item in self._waiting()])
                if not answers:
                    return self.status()
                payload = Command(resume=answers)
            else:
                payload = None  # continue from the last checkpoint (after a crash or a stop)
            if phase == "new":
                self.memory.remove(sorted(self.memory.ids()))  # left by a start that failed before its checkpoint
            else:
                self._reconcile_memory()
            for chunk in self.graph.stream(
                payload, self._thread, context=self.context, stream_mode="updates", durability="sync"
            ):
                for node, update in chunk.items():
                    if on_update is not None and node != "__interrupt__":
                        on_update(node, update or {})
            return self.status()

    def run(
        self,
        human: SimulatedHuman | None = None,
        *,
        on_update: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> RunStatus:
        """Step until the end, letting ``human`` answer every review; without one, stop at the first pause."""
        status = self.step(on_update)
        while status.phase == "paused" and human is not None:
            waiting = self.pending_reviews()
            if waiting:
                self.answer(human.answer(waiting), reviewer="simulated")
            status = self.step(on_update)
        return status

    def export(self, path: str | Path) -> int:
        """Write every committed label with its provenance (JSONL, or CSV by suffix); return how many."""
        return write_export(sorted(self.labels(), key=lambda r: (r.round, r.id)), Path(path))

    def close(self) -> None:
        self.inbox.close()
        self.synthetic.close()
        if self.llm is not None:
            self.llm.close()
