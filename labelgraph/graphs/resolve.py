"""How a node finds its RunContext: given by ``Run``, or opened for one run of LangGraph's own server from the
``run_dir`` its JSON context names (``labelgraph.graphs.server``)."""

from __future__ import annotations

from dataclasses import dataclass, field, make_dataclass
from typing import TYPE_CHECKING, Any

from labelgraph.errors import RunError

if TYPE_CHECKING:
    from labelgraph.graphs.context import RunContext

__all__ = ["ServerContext", "run_context", "server_context_around"]


@dataclass
class ServerContext:
    """The context a LangGraph server passes as JSON: the run folder to work on."""

    run_dir: str = ""


def server_context_around(opened: RunContext) -> type[ServerContext]:
    """A ServerContext type whose instances carry ``opened``, the run's context the server's graph factory opened
    for one run: LangGraph builds the context from the run's JSON, which cannot set ``opened`` (not an init field)."""
    opened_field = field(default_factory=lambda: opened, init=False, repr=False)
    return make_dataclass("OpenedServerContext", [("opened", Any, opened_field)], bases=(ServerContext,))


def run_context(runtime: Any) -> RunContext:
    """The node's RunContext: ``Run``'s own, or the one the server's graph factory opened for this run."""
    context = runtime.context
    if hasattr(context, "workspace") and hasattr(context, "memory"):
        return context
    opened = getattr(context, "opened", None)
    if opened is None:
        raise RunError(
            "this graph needs a run's context: a Run's own, or on LangGraph's server {'run_dir': '<a run folder "
            "made by labelgraph run>'}, which the server's graph factory (labelgraph.graphs.server) opens"
        )
    return opened
