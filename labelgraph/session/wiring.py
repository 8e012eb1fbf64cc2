"""The run's wiring: every part a run uses (memory, label store, LLM, agents, strategy), built from its project."""

from __future__ import annotations

import inspect
from typing import Any

from labelgraph.agents.annotator import Annotator, EmbeddedAnnotator
from labelgraph.agents.generator import LLMGenerator
from labelgraph.agents.llm_selector import LLMSelector
from labelgraph.config import ProjectConfig
from labelgraph.critic.signals import CalibratedCritic
from labelgraph.encoding.embedders import check_embedding_model, get_embedder
from labelgraph.errors import PluginError
from labelgraph.graphs.context import RunContext
from labelgraph.llm.client import LLMClient
from labelgraph.memory import Memory
from labelgraph.plugins import load_object
from labelgraph.session.workspace import Workspace
from labelgraph.stores.labels import ADOPTED_FILES, LabelStore, label_store_for
from labelgraph.stores.synthetic import SyntheticStore
from labelgraph.strategies import Strategy, get_strategy
from labelgraph.tools import LoadedTools, load_tools

__all__ = ["BUILT_IN_ANNOTATORS", "build_context", "check_plugins"]

BUILT_IN_ANNOTATORS = {"embedded", "llm", "none"}


def check_plugins(config: ProjectConfig, *, given: dict[str, Any] | None = None) -> None:
    """Resolve the project's strategy, annotator, tools and embedding model by name; PluginError (ConfigError for
    the model) for any that does not resolve."""
    given = given or {}
    check_embedding_model(config.embedding_model)
    if "strategy" not in given and config.strategy != "llm":
        get_strategy(config.strategy)
    if "annotator" not in given and config.annotator not in BUILT_IN_ANNOTATORS:
        _check_annotator_factory(config.annotator, load_object(config.annotator, kind="annotator"), config)
    load_tools(config.tools, memory=None)


def _check_annotator_factory(spec: str, factory: Any, config: ProjectConfig) -> None:
    """An annotator plug-in is an annotator, or a factory taking the project's config: anything else (say
    ``os:getcwd``) is a PluginError before the run folder is written."""
    if not callable(factory):
        return  # an annotator object: checked when the run is wired
    try:
        inspect.signature(factory).bind(config)
    except (TypeError, ValueError):
        raise PluginError(
            f"annotator {spec!r} is neither an annotator (a name and annotate(items, vectors, neighbours)) "
            "nor a factory taking the project's config"
        ) from None


def _annotator(config: ProjectConfig, llm: LLMClient | None, tools: LoadedTools) -> Annotator | None:
    spec = config.annotator
    if spec == "none":
        return None
    if spec == "embedded":
        return EmbeddedAnnotator(config.labels, get_embedder(config.embedding_model), k=config.neighbours)
    if spec == "llm":
        from labelgraph.agents.llm_annotator import LLMAnnotator

        assert llm is not None, "config validation requires an llm section"
        return LLMAnnotator(
            config.labels, llm, examples=min(config.neighbours, 8), tools=tools.tools, tool_steps=config.tool_steps
        )
    factory = load_object(spec, kind="annotator")
    _check_annotator_factory(spec, factory, config)
    annotator = factory(config) if callable(factory) else factory
    if not isinstance(annotator, Annotator):
        raise PluginError(f"annotator {spec!r} has no name and annotate(items, vectors, neighbours)")
    return annotator


def build_context(
    workspace: Workspace,
    *,
    annotator: Annotator | str | None = "project",
    critic: CalibratedCritic | None = None,
    strategy: Strategy | None = None,
) -> RunContext:
    """Everything the graph's nodes use, from the run folder's settings; ``annotator``, ``critic`` and
    ``strategy`` replace the project's (evals pass simulated annotators; ``annotator=None`` turns the machine
    lane off)."""
    config = workspace.config
    memory = (
        Memory.server(config.memory.url, collection=workspace.thread_id, embedding_model=config.embedding_model)
        if config.memory.url
        else Memory.embedded(workspace.memory_path, embedding_model=config.embedding_model)
    )
    store = label_store_for(config.checkpoints, workspace.path, run=workspace.thread_id)
    llm = None
    try:
        if any((workspace.path / name).exists() for name in ADOPTED_FILES):
            with workspace.lock():  # a folder made up to 010994d: its inbox and generated texts join the store
                store.adopt(workspace.path)
        llm = LLMClient(config.llm, workspace.path / "llm_cache.sqlite") if config.llm else None
        return _context(workspace, memory, store, llm, annotator=annotator, critic=critic, strategy=strategy)
    except BaseException:
        store.close()
        if llm is not None:
            llm.close()
        raise


def _context(
    workspace: Workspace,
    memory: Memory,
    store: LabelStore,
    llm: LLMClient | None,
    *,
    annotator: Annotator | str | None,
    critic: CalibratedCritic | None,
    strategy: Strategy | None,
) -> RunContext:
    """The run's context around the parts ``build_context`` opened (memory, label store, LLM cache)."""
    config = workspace.config
    tools = load_tools(config.tools, memory=memory)
    judge = None
    if config.critic_llm and llm is not None:
        from labelgraph.agents.llm_critic import LLMJudge

        judge = LLMJudge(config.labels, llm)
    return RunContext(
        workspace=workspace,
        memory=memory,
        store=store,
        strategy=strategy or get_strategy("hybrid" if config.strategy == "llm" else config.strategy),
        annotator=_annotator(config, llm, tools) if annotator == "project" else annotator,  # type: ignore[arg-type]
        critic=critic or CalibratedCritic(config.label_names, config.critic, seed=config.random_seed),
        llm=llm,
        judge=judge,
        voters=tools.voters,
        embedder=get_embedder(config.embedding_model),
        synthetic=SyntheticStore(store),
        generator=LLMGenerator(config.labels, llm, config.generator) if config.generator and llm else None,
        selector_llm=LLMSelector(config.labels, llm) if config.strategy == "llm" and llm else None,
    )
