"""How a node finds its RunContext: given by ``Run``, or opened from the ``run_dir`` a LangGraph server passes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labelgraph.errors import RunError

if TYPE_CHECKING:
    from labelgraph.graphs.context import RunContext

__all__ = ["ServerContext", "run_context"]


@dataclass
class ServerContext:
    """The context a LangGraph server passes as JSON: the run folder to work on."""

    run_dir: str = ""


_OPENED: dict[str, RunContext] = {}


def run_context(runtime: Any) -> RunContext:
    """The node's RunContext; from a server's ``{"run_dir": ...}`` it is opened once per process."""
    context = runtime.context
    if hasattr(context, "workspace") and hasattr(context, "memory"):
        return context
    run_dir = context.get("run_dir") if isinstance(context, dict) else getattr(context, "run_dir", None)
    if not run_dir:
        raise RunError("this graph needs a context: {'run_dir': '<a run folder made by labelgraph run>'}")
    if run_dir not in _OPENED:
        from labelgraph.session.wiring import (
            build_context,  # loads on a server's first call: the graph imports stay light
        )
        from labelgraph.session.workspace import Workspace

        _OPENED[run_dir] = build_context(Workspace.open(Path(run_dir)))
    return _OPENED[run_dir]
