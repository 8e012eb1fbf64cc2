"""The loop for LangGraph's own server (``langgraph dev``, LangGraph Studio; see ``langgraph.json``).

The server brings its own persistence; each thread works on a run folder made by ``labelgraph run`` (or
``Project.start()``), named in the run's context: ``{"run_dir": "/path/to/runs/my-project"}``. Start a thread
with an empty input; the ``prepare`` node loads the seed labels. Disputed items interrupt the run; resume it
with ``Command(resume={item_id: label, ...})``.

``graph`` is a graph factory (``langgraph_sdk.runtime.ServerRuntime``, langgraph-api >= 0.7.31): for each run the
server executes, it opens the run folder in a worker thread (the checks of ``Workspace.open`` read every file, so
the server's event loop does not wait on them), hands the nodes its context, and closes its stores when the run
ends; for schemas and state reads it gives the same graph without opening anything.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from langgraph.graph.state import CompiledStateGraph

from labelgraph.errors import RunError
from labelgraph.graphs.loop import build
from labelgraph.graphs.resolve import ServerContext, server_context_around

if TYPE_CHECKING:
    from langgraph_sdk.runtime import ServerRuntime  # the server resolves the name to tell a factory's argument

    from labelgraph.graphs.context import RunContext
    from labelgraph.session.workspace import Workspace

__all__ = ["graph"]

_SHAPE = build(ServerContext).compile()
"""The loop as schemas, drawings and state reads see it: the same nodes and edges as a run's."""


@asynccontextmanager
async def graph(runtime: ServerRuntime[ServerContext]) -> AsyncIterator[CompiledStateGraph]:
    """The loop for one server call: with the run folder of the run's context opened while the run executes."""
    execution = runtime.execution_runtime
    if execution is None:
        yield _SHAPE
        return
    context = execution.context
    run_dir = context.get("run_dir") if isinstance(context, dict) else getattr(context, "run_dir", None)
    if not run_dir:
        raise RunError("this graph needs a context: {'run_dir': '<a run folder made by labelgraph run>'}")
    opened, workspace = await asyncio.to_thread(_open, Path(run_dir))
    try:
        yield build(server_context_around(opened)).compile()
    finally:
        await asyncio.to_thread(_close, opened, workspace)


def _open(run_dir: Path) -> tuple[RunContext, Workspace]:
    from labelgraph.session.wiring import build_context  # loads when a run executes: the graph imports stay light
    from labelgraph.session.workspace import Workspace

    workspace = Workspace.open(run_dir)
    try:
        return build_context(workspace), workspace
    except BaseException:
        workspace.close()
        raise


def _close(opened: RunContext, workspace: Workspace) -> None:
    try:
        opened.close()
    finally:
        workspace.close()
