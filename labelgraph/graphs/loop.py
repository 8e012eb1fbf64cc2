"""The active-learning loop as one LangGraph ``StateGraph``.

    START -> prepare -> select -> generate -> annotate -> critique -+-> commit -> train -> (stop? END : select)
                                             +-> human_review (interrupt, until all answered) -> commit

``builder`` is the uncompiled graph, ``graph`` compiles it without a checkpointer; ``labelgraph.run.Run``
compiles ``builder`` with the run's checkpointer. ``build(ServerContext)`` makes the same graph for LangGraph's
own server, whose context is JSON (``labelgraph/graphs/server.py``).
"""

from __future__ import annotations

from langgraph.graph import START, StateGraph

from labelgraph.agents.annotator import annotate
from labelgraph.agents.critic import critique
from labelgraph.agents.generator import generate
from labelgraph.agents.human import human_review
from labelgraph.agents.selector import select
from labelgraph.graphs.context import RunContext
from labelgraph.graphs.learning import commit, prepare, route_after_train, train
from labelgraph.graphs.state import LoopState

__all__ = ["build", "builder", "graph"]


def build(context_schema: type = RunContext) -> StateGraph:
    """The loop's nodes and edges, over a given context type."""
    loop = StateGraph(LoopState, context_schema=context_schema)
    loop.add_node("prepare", prepare)
    loop.add_node("select", select)
    loop.add_node("generate", generate)
    loop.add_node("annotate", annotate)
    loop.add_node("critique", critique)
    loop.add_node("human_review", human_review)
    loop.add_node("commit", commit)
    loop.add_node("train", train)
    loop.add_edge(START, "prepare")
    loop.add_edge("prepare", "select")
    loop.add_edge("generate", "annotate")
    loop.add_edge("annotate", "critique")
    loop.add_edge("commit", "train")
    loop.add_conditional_edges("train", route_after_train)
    return loop


builder = build()
graph = builder.compile()
