"""The active-learning loop as one LangGraph ``StateGraph``.

    START -> select -> generate -> annotate -> critique -+-> commit -> train -> (stop? END : select)
                                             +-> human_review (interrupt, until all answered) -> commit

``builder`` is the uncompiled graph; ``graph`` compiles it without a checkpointer (``langgraph dev``
brings its own); ``labelgraph.run.Run`` compiles it with the run's SQLite checkpointer.
"""

from __future__ import annotations

from langgraph.graph import START, StateGraph

from labelgraph.agents.annotator import annotate
from labelgraph.agents.critic import critique
from labelgraph.agents.generator import generate
from labelgraph.agents.human import human_review
from labelgraph.agents.selector import select
from labelgraph.graphs.context import RunContext
from labelgraph.graphs.learning import commit, route_after_train, train
from labelgraph.graphs.state import LoopState

__all__ = ["builder", "graph"]

builder = StateGraph(LoopState, context_schema=RunContext)
builder.add_node("select", select)
builder.add_node("generate", generate)
builder.add_node("annotate", annotate)
builder.add_node("critique", critique)
builder.add_node("human_review", human_review)
builder.add_node("commit", commit)
builder.add_node("train", train)
builder.add_edge(START, "select")
builder.add_edge("generate", "annotate")
builder.add_edge("annotate", "critique")
builder.add_edge("commit", "train")
builder.add_conditional_edges("train", route_after_train)

graph = builder.compile()
