"""The active-learning loop as one LangGraph ``StateGraph``; every edge is declared here.

    START -> prepare -> select -> present -> generate -> annotate -> critique -+-> human_review (interrupt) -> commit
                                                                               +-> commit
    commit -> train -> (stop? END : select)

Each round runs two lanes through the same nodes: the machine lane annotates texts in bulk and the critic
accepts what meets the quality target; the human lane asks a person for fixes, blind audits and the strategy's
picks. The person's batch is open for answers from ``present`` on (``ANSWERABLE``): the round's costly work runs
while they answer, and after their last answer only commit, train, select and present stand before the next batch.
``builder`` is the uncompiled graph, ``graph`` compiles it without a checkpointer;
``labelgraph.session.run.Run`` compiles ``builder`` with the run's checkpointer. ``build(ServerContext)`` makes the
same graph for LangGraph's own server, whose context is JSON.
"""

from __future__ import annotations

from typing import Literal

from langgraph.graph import END, START, StateGraph

from labelgraph.graphs.annotate import annotate
from labelgraph.graphs.context import RunContext
from labelgraph.graphs.critique import critique
from labelgraph.graphs.generate import generate
from labelgraph.graphs.learning import commit, prepare, train
from labelgraph.graphs.present import present
from labelgraph.graphs.review import human_review
from labelgraph.graphs.select import select
from labelgraph.graphs.state import LoopState

__all__ = ["ANSWERABLE", "build", "builder", "graph"]

ANSWERABLE = frozenset({"generate", "annotate", "critique", "human_review"})
"""Nodes a round's batch waits before: while one of them is next, its items take answers."""


def after_critique(state: LoopState) -> Literal["human_review", "commit"]:
    """To the person when the round has a batch for them."""
    return "human_review" if state.pending else "commit"


def after_review(state: LoopState) -> Literal["human_review", "commit"]:
    """Pause again until every item of the batch is answered or set aside."""
    done = all(item.id in state.decisions for item in state.pending)
    return "commit" if done else "human_review"


def entry(state: LoopState) -> Literal["prepare", "select"]:
    """A new thread starts from the seed labels; a run that ended and is given ``{"stop_reason": None}`` (a larger
    budget, more rounds) goes on with its next round, as if its last train had not stopped it."""
    return "select" if state.history else "prepare"


def after_train(state: LoopState) -> Literal["select", "__end__"]:
    """Another round, unless a stop rule fired."""
    return END if state.stop_reason else "select"


def build(context_schema: type = RunContext) -> StateGraph:
    """The loop's nodes and edges, over a given context type."""
    loop = StateGraph(LoopState, context_schema=context_schema)
    loop.add_node("prepare", prepare)
    loop.add_node("select", select)
    loop.add_node("present", present)
    loop.add_node("generate", generate)
    loop.add_node("annotate", annotate)
    loop.add_node("critique", critique)
    loop.add_node("human_review", human_review)
    loop.add_node("commit", commit)
    loop.add_node("train", train)
    loop.add_conditional_edges(START, entry)
    loop.add_edge("prepare", "select")
    loop.add_edge("select", "present")
    loop.add_edge("present", "generate")
    loop.add_edge("generate", "annotate")
    loop.add_edge("annotate", "critique")
    loop.add_conditional_edges("critique", after_critique)
    loop.add_conditional_edges("human_review", after_review)
    loop.add_edge("commit", "train")
    loop.add_conditional_edges("train", after_train)
    return loop


builder = build()
graph = builder.compile()
