"""Nodes and edges alone: the review node in a one-node graph with an in-memory checkpointer and a real run
context, the loop's routing edges on bare states. No whole run."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command

from labelgraph.agents.human import Candidate, ReviewItem
from labelgraph.cli.app import progress_for
from labelgraph.graphs.context import RunContext
from labelgraph.graphs.loop import after_critique, after_review
from labelgraph.graphs.review import human_review
from labelgraph.graphs.state import LoopState
from labelgraph.session.run import Project, Run


def item(item_id: str, kind: str = "audit") -> ReviewItem:
    return ReviewItem(
        id=item_id,
        text=f"text of {item_id}",
        round=1,
        kind=kind,
        candidates=[Candidate(label="negative"), Candidate(label="positive")],
    )


@pytest.fixture
def run(make_project) -> Iterator[Run]:
    started = Project.from_yaml(make_project(pool_size=40, test_size=0)).start()
    yield started
    started.close()


@pytest.fixture
def context(run) -> RunContext:
    return run.context


def review_graph():
    graph = StateGraph(LoopState, context_schema=RunContext)
    graph.add_node("human_review", human_review)
    graph.add_edge(START, "human_review")
    graph.add_edge("human_review", END)
    return graph.compile(checkpointer=InMemorySaver())


def test_the_review_node_pauses_with_json_and_keeps_only_answers_that_fit(context):
    graph, thread = review_graph(), {"configurable": {"thread_id": "t"}}
    state = LoopState(round=1, pending=[item("a"), item("b", "fix"), item("c")], decisions={"c": "negative"})
    graph.invoke(state, thread, context=context)
    (paused,) = graph.get_state(thread).interrupts
    assert [i["id"] for i in paused.value["items"]] == ["a", "b"]  # "c" was answered before
    assert json.loads(json.dumps(paused.value)) == paused.value  # the payload is plain JSON
    assert paused.value["items"][1]["kind"] == "fix" and paused.value["round"] == 1

    answers = {"a": "positive", "b": "not-a-label", "zzz": "negative"}  # a bad label, an id not asked
    graph.invoke(Command(resume=answers), thread, context=context)
    after = LoopState.model_validate(graph.get_state(thread).values)
    assert after.decisions == {"c": "negative", "a": "positive"}
    assert all(isinstance(pending, ReviewItem) for pending in after.pending)  # typed in the checkpoint too


def test_the_review_node_does_not_pause_for_an_answered_batch(context):
    graph, thread = review_graph(), {"configurable": {"thread_id": "t"}}
    graph.invoke(LoopState(round=2, pending=[item("a")], decisions={"a": None}), thread, context=context)
    assert not graph.get_state(thread).interrupts


def test_the_edges_route_by_the_batch_and_its_answers():
    assert after_critique(LoopState(round=1)) == "commit"  # nothing for the person
    assert after_critique(LoopState(round=1, pending=[item("a")])) == "human_review"
    waiting = LoopState(round=1, pending=[item("a"), item("b")], decisions={"a": "positive"})
    assert after_review(waiting) == "human_review"
    answered = waiting.model_copy(update={"decisions": {"a": "positive", "b": None}})  # None: set aside
    assert after_review(answered) == "commit"


def test_a_batch_checkpointed_as_dicts_by_an_earlier_version_reads_as_models():
    old = {"round": 1, "pending": [item("a").model_dump(mode="json")], "decisions": {}}
    state = LoopState.model_validate(old)
    assert isinstance(state.pending[0], ReviewItem) and state.pending[0].candidates[1].label == "positive"
    assert after_review(state) == "human_review"


def test_the_progress_line_reads_a_batch_of_models_or_of_an_earlier_version_s_dicts(run, capsys):
    """On resume LangGraph replays to the stream the writes a killed step saved: from 83bde80's checkpoint, dicts."""
    show = progress_for(run)
    show("critique", {"pending": [item("a", "fix"), item("b").model_dump(mode="json")]})  # as an earlier version's
    assert "critique: 2 for you (1 fix, 1 audit), open for answers" in capsys.readouterr().out
    show("present", {"pending": [item("a", "fix")]})
    assert "present: 1 for you (1 fix), open for answers" in capsys.readouterr().out


def test_the_batch_takes_answers_while_the_round_still_works(make_project, gold):
    """The batch opens at ``present``: a person answers it while annotate and critique run (here held at present's
    end from another thread), and the step, at the pause, takes those answers and goes on."""
    run = Project.from_yaml(make_project(pool_size=60, test_size=0, budget=20)).start()
    opened, answered = threading.Event(), threading.Event()
    seen: dict[str, list[str]] = {"nodes": []}

    def on_update(node: str, update: dict) -> None:
        seen["nodes"].append(node)
        if node == "present" and not opened.is_set():
            opened.set()
            assert answered.wait(60)

    worker = threading.Thread(target=lambda: seen.setdefault("status", [run.step(on_update)]))
    worker.start()
    try:
        assert opened.wait(120)
        status = run.status()
        assert status.phase == "running" and len(status.pending) == 10 and status.answered == []
        waiting = run.pending_reviews()
        assert [i.id for i in waiting] == status.pending and "annotate" not in seen["nodes"]
        run.answer({i.id: gold[i.id] for i in waiting[:4]})
        run.withdraw(waiting[0].id)  # undo works on an open batch too
        run.answer({i.id: gold[i.id] for i in [waiting[0], *waiting[4:]]})
        assert run.pending_reviews() == [] and len(run.uncommitted()) == 10
    finally:
        answered.set()
        worker.join(120)
    # the step reached the pause with the batch answered whole, took it, and went on to round 2's pause
    assert seen["nodes"].count("commit") == 1 and seen["nodes"][-1] == "critique"
    after = seen["status"][0]
    human = run.store.human()
    assert after.phase == "paused" and after.round == 2 and after.human_labels == 10 and len(after.pending) == 10
    assert all(human[i.id].round == 1 and human[i.id].label == gold[i.id] for i in waiting)
    run.close()


def test_a_run_keeps_three_sqlite_files_besides_the_memory(run):
    run.step()
    assert sorted(p.name for p in run.workspace.path.glob("*.sqlite")) == [
        "checkpoints.sqlite",
        "items.sqlite",
        "labels.sqlite",
    ]  # the inbox and generated texts are in labels.sqlite; llm_cache.sqlite comes with an LLM


def test_a_server_run_reaches_its_opened_context_and_json_cannot_forge_one(context):
    """LangGraph's server builds the context from a run's JSON; the factory's type carries the opened context, and a
    JSON ``opened`` key is refused rather than taken for it."""
    from types import SimpleNamespace

    from labelgraph.errors import RunError
    from labelgraph.graphs.resolve import ServerContext, run_context, server_context_around

    opened_type = server_context_around(context)
    made = opened_type(**{"run_dir": "runs/x"})  # what LangGraph does with the run's JSON
    assert run_context(SimpleNamespace(context=made)) is context
    assert run_context(SimpleNamespace(context=context)) is context  # Run's own
    with pytest.raises(TypeError):
        opened_type(**{"run_dir": "runs/x", "opened": "forged"})
    with pytest.raises(RunError, match="needs a run's context"):
        run_context(SimpleNamespace(context=ServerContext(run_dir="runs/x")))
