"""The loop for LangGraph's own server (``langgraph dev``, LangGraph Studio; see ``langgraph.json``).

The server brings its own persistence; each thread works on a run folder made by ``labelgraph run`` (or
``Project.start()``), named in the run's context: ``{"run_dir": "/path/to/runs/my-project"}``. Start a thread
with an empty input; the ``prepare`` node loads the seed labels. Disputed items interrupt the run; resume it
with ``Command(resume={item_id: label, ...})``.

``graph`` is a graph factory (``langgraph_sdk.runtime.ServerRuntime``): for each run the server executes, it opens
the run folder, hands the nodes its context, and closes it when the run ends; for schemas and state reads it gives
the same graph without opening anything. No run folder stays open between runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from langgraph.graph.state import CompiledStateGraph

from labelgraph.errors import RunError
from labelgraph.graphs.loop import build
from labelgraph.graphs.resolve import ServerContext, server_context_around

if TYPE_CHECKING:
    from langgraph_sdk.runtime import ServerRuntime  # the server resolves the name to tell a factory's argument

__all__ = ["graph"]

_SHAPE = build(ServerContext).compile()
"""The loop as schemas, drawings and state reads see it: the same nodes and edges as a run's."""


@contextmanager
def graph(runtime: ServerRuntime[ServerContext]) -> Iterator[CompiledStateGraph]:
    """The loop for one server call: with the run folder of the run's context opened while the run executes."""
    execution = runtime.execution_runtime
    if execution is None:
        yield _SHAPE
        return
    context = execution.context
    run_dir = context.get("run_dir") if isinstance(context, dict) else getattr(context, "run_dir", None)
    if not run_dir:
        raise RunError("this graph needs a context: {'run_dir': '<a run folder made by labelgraph run>'}")
    from labelgraph.session.wiring import build_context  # loads when a run executes: the graph imports stay light
    from labelgraph.session.workspace import Workspace

    opened = build_context(Workspace.open(Path(run_dir)))
    try:
        yield build(server_context_around(opened)).compile()
    finally:
        opened.close()
