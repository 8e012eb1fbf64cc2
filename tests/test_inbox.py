"""The review inbox, in the label store (SQLite and a real PostgreSQL): the first answer wins, a second is a
conflict (never a hang), a claimed answer stays, and a run folder's older inbox file moves into the store."""

from __future__ import annotations

import sqlite3
import threading
import uuid
from contextlib import closing

import numpy as np
import pytest

from labelgraph.errors import ConflictError
from labelgraph.session.run import Project, Run
from labelgraph.stores.labels import LabelStore
from tests.test_postgres import cluster, dsn  # noqa: F401  (fixtures: the throwaway cluster, for the postgres param)

POSTGRES = pytest.param("postgres", marks=[pytest.mark.server, pytest.mark.postgres])


@pytest.fixture(params=["sqlite", POSTGRES])
def inbox(request, tmp_path):
    """A run's label store on either backend (a fresh schema in the module's cluster)."""
    if request.param == "sqlite":
        store = LabelStore(tmp_path / "labels.sqlite")
    else:
        store = LabelStore.postgres(request.getfixturevalue("dsn"), run=uuid.uuid4().hex[:12])
    yield store
    store.close()


def test_a_second_answer_for_the_same_item_is_a_conflict_not_a_hang(inbox):
    inbox.put_answers({"a": "positive"}, reviewer="one", round_number=1)
    outcome: list[BaseException] = []

    def second() -> None:
        try:
            inbox.put_answers({"b": "negative", "a": "negative"}, reviewer="two", round_number=1)
        except BaseException as error:
            outcome.append(error)

    thread = threading.Thread(target=second, daemon=True)  # a deadlock fails the join instead of hanging
    thread.start()
    thread.join(timeout=10)
    assert not thread.is_alive(), "the second answer hung"
    assert len(outcome) == 1 and isinstance(outcome[0], ConflictError) and "already answered: a" in str(outcome[0])
    assert inbox.answers(["a", "b"]) == {"a": "positive"}  # all or none: b, stored before a failed, was not kept
    inbox.put_answers({"b": None}, reviewer="two", round_number=1)  # the inbox still works
    assert inbox.answers(["b"]) == {"b": None}


def test_a_claimed_answer_cannot_be_withdrawn(inbox):
    inbox.put_answers({"a": "positive", "b": "negative"}, reviewer="one", round_number=1)
    assert inbox.withdraw_answer("b") is True and inbox.withdraw_answer("b") is False
    assert inbox.claim_answers(["a"]) == {"a": "positive"}
    with pytest.raises(ConflictError, match="already being committed"):
        inbox.withdraw_answer("a")
    assert inbox.answers(["a"]) == {"a": "positive"}


def test_a_batch_is_claimed_whole_or_not_at_all(inbox):
    """A partly answered batch stays in the inbox, every answer still open to undo; the last answer lets it go."""
    inbox.put_answers({"a": "positive", "b": None}, reviewer="one", round_number=1)
    assert inbox.claim_answers(["a", "b", "c"]) == {}
    assert inbox.withdraw_answer("a") is True  # not claimed: still undone at will
    inbox.put_answers({"a": "negative", "c": "positive"}, reviewer="one", round_number=1)
    assert inbox.claim_answers(["a", "b", "c"]) == {"a": "negative", "b": None, "c": "positive"}
    with pytest.raises(ConflictError, match="already being committed"):
        inbox.withdraw_answer("b")


OLD_INBOX = """
CREATE TABLE IF NOT EXISTS answers (
    item_id TEXT PRIMARY KEY,
    label TEXT,
    reviewer TEXT NOT NULL,
    round INTEGER NOT NULL,
    answered_at REAL NOT NULL,
    claimed INTEGER NOT NULL DEFAULT 0
)
"""
"""The schema of ``reviews.sqlite``, the inbox file of run folders made up to 010994d."""

OLD_SYNTHETIC = "CREATE TABLE IF NOT EXISTS items (id TEXT PRIMARY KEY, text TEXT, meta TEXT, vector BLOB)"
"""The schema of ``synthetic.sqlite``, where run folders made up to 010994d kept the generator's texts."""


def test_the_first_inbox_files_without_a_claimed_column_are_adopted_too(tmp_path):
    """``reviews.sqlite`` as the first versions wrote it (no ``claimed`` column): its answers come in unclaimed."""
    with closing(sqlite3.connect(tmp_path / "reviews.sqlite")) as old, old:
        old.execute(OLD_INBOX.replace(",\n    claimed INTEGER NOT NULL DEFAULT 0", ""))
        old.execute("INSERT INTO answers VALUES ('a', 'pos', 'ana', 1, 1.0)")
    store = LabelStore(tmp_path / "labels.sqlite")
    store.adopt(tmp_path)
    assert store.answers(["a"]) == {"a": "pos"} and store.withdraw_answer("a") is True
    assert not (tmp_path / "reviews.sqlite").exists()
    store.adopt(tmp_path)  # nothing left to adopt: a no-op
    store.close()


def test_a_run_folder_with_files_of_its_own_moves_them_into_the_label_store(make_project, gold):
    """A paused folder whose answers sit in ``reviews.sqlite`` and generated texts in ``synthetic.sqlite`` (as
    folders made up to 010994d keep them: one answer claimed, three not) opens with those answers, undo and all,
    and that text; both files are gone; the run then goes on to round 2 with the answers committed."""
    run = Project.from_yaml(make_project()).start()
    run.step()
    waiting = [item.id for item in run.pending_reviews()]
    folder = run.workspace.path
    run.close()
    given = [(item_id, gold[item_id], "ana", 1, 1.0, int(n == 0)) for n, item_id in enumerate(waiting[:4])]
    with closing(sqlite3.connect(folder / "reviews.sqlite")) as old, old:
        old.execute(OLD_INBOX)
        old.executemany("INSERT INTO answers VALUES (?, ?, ?, ?, ?, ?)", given)
    vector = np.arange(4, dtype=np.float32)
    with closing(sqlite3.connect(folder / "synthetic.sqlite")) as old, old:
        old.execute(OLD_SYNTHETIC)
        old.execute(
            "INSERT INTO items VALUES ('syn-1', 'a written text', '{\"synthetic\": true}', ?)", (vector.tobytes(),)
        )

    run = Run.open(folder)
    try:
        assert not (folder / "reviews.sqlite").exists() and not (folder / "synthetic.sqlite").exists()
        ((item, stored),) = run.context.synthetic.get(["syn-1"])
        assert item.text == "a written text" and item.meta == {"synthetic": True} and (stored == vector).all()
        assert run.status().answered == waiting[:4]
        with pytest.raises(ConflictError, match="already being committed"):
            run.withdraw(waiting[0])  # claimed in the old file: still with the graph
        run.withdraw(waiting[1])
        run.answer({item_id: gold[item_id] for item_id in [waiting[1], *waiting[4:]]})
        run.step()
        human = run.store.human()
        assert {item_id: human[item_id].label for item_id in waiting} == {i: gold[i] for i in waiting}
        assert run.status().round == 2
    finally:
        run.close()


def test_two_writers_answering_the_same_items_in_opposite_orders_get_one_conflict(inbox, request, tmp_path):
    """Two processes' answers for the same items, given in opposite orders at once: one lands, the other is a
    ConflictError (in PostgreSQL too, where rows inserted in opposite orders could deadlock)."""
    other = (
        LabelStore(tmp_path / "labels.sqlite")
        if inbox.path is not None
        else LabelStore.postgres(request.getfixturevalue("dsn"), run=inbox._dialect.name.removeprefix("labels_"))
    )
    try:
        for round_number in range(10):
            ids = [f"r{round_number}-{n}" for n in range(6)]
            start, outcomes = threading.Barrier(2), []
            writers = [
                threading.Thread(target=give, args=(inbox, ids, round_number, start, outcomes)),
                threading.Thread(target=give, args=(other, ids[::-1], round_number, start, outcomes)),
            ]
            for writer in writers:
                writer.start()
            for writer in writers:
                writer.join(timeout=60)
            assert sorted(outcomes) == ["conflict", "stored"], outcomes
    finally:
        other.close()


def give(store: LabelStore, order: list[str], round_number: int, start: threading.Barrier, outcomes: list) -> None:
    """One writer's answers, given when the other's are: what happened appended to ``outcomes``."""
    start.wait()
    try:
        store.put_answers({i: "pos" for i in order}, reviewer="x", round_number=round_number)
        outcomes.append("stored")
    except ConflictError:
        outcomes.append("conflict")
    except BaseException as error:  # a deadlock would surface here
        outcomes.append(repr(error))


def test_a_label_store_kept_busy_by_another_process_is_one_line_and_nothing_written(tmp_path, monkeypatch):
    import labelgraph.stores.labels as labels
    from labelgraph.errors import RunError

    monkeypatch.setattr(labels, "LOCK_WAIT", 0.2)
    store = LabelStore(tmp_path / "labels.sqlite")
    with closing(sqlite3.connect(tmp_path / "labels.sqlite", isolation_level=None)) as writer:
        writer.execute("BEGIN IMMEDIATE")  # another process in the middle of a round's write
        with pytest.raises(RunError, match=r"stayed busy for 0\.2 s"):
            store.put_answers({"a": "pos"}, reviewer="x", round_number=1)
        writer.execute("ROLLBACK")
    assert store.answers(["a"]) == {}
    store.put_answers({"a": "pos"}, reviewer="x", round_number=1)  # and works once the other is done
    assert store.answers(["a"]) == {"a": "pos"}
    store.close()
