"""The loop for LangGraph's own server (``langgraph dev``, LangGraph Studio; see ``langgraph.json``).

The server brings its own persistence; each thread works on a run folder made by ``labelgraph run`` (or
``Project.start()``), named in the run's context: ``{"run_dir": "/path/to/runs/my-project"}``. Start a thread
with an empty input; the ``prepare`` node loads the seed labels. Disputed items interrupt the run; resume it
with ``Command(resume={item_id: label, ...})``.
"""

from labelgraph.graphs.loop import build
from labelgraph.graphs.resolve import ServerContext

__all__ = ["graph"]

graph = build(ServerContext).compile()
