"""The review inbox: the first answer wins, a second is a conflict (never a hang), and a claimed answer stays."""

from __future__ import annotations

import threading

import pytest

from labelgraph.errors import ConflictError
from labelgraph.inbox import ReviewInbox


def test_a_second_answer_for_the_same_item_is_a_conflict_not_a_hang(tmp_path):
    inbox = ReviewInbox(tmp_path / "reviews.sqlite")
    inbox.put({"a": "positive"}, reviewer="one", round_number=1)
    outcome: list[BaseException] = []

    def second() -> None:
        try:
            inbox.put({"a": "negative", "b": "negative"}, reviewer="two", round_number=1)
        except BaseException as error:
            outcome.append(error)

    thread = threading.Thread(target=second, daemon=True)  # a deadlock fails the join instead of hanging
    thread.start()
    thread.join(timeout=10)
    assert not thread.is_alive(), "the second answer hung"
    assert len(outcome) == 1 and isinstance(outcome[0], ConflictError) and "already answered: a" in str(outcome[0])
    assert inbox.answered(["a", "b"]) == {"a": "positive"}  # all or none: b was not stored either
    inbox.put({"b": None}, reviewer="two", round_number=1)  # the inbox still works
    assert inbox.answered(["b"]) == {"b": None}


def test_a_claimed_answer_cannot_be_withdrawn(tmp_path):
    inbox = ReviewInbox(tmp_path / "reviews.sqlite")
    inbox.put({"a": "positive", "b": "negative"}, reviewer="one", round_number=1)
    assert inbox.withdraw("b") is True and inbox.withdraw("b") is False
    assert inbox.claim(["a"]) == {"a": "positive"}
    with pytest.raises(ConflictError, match="already being committed"):
        inbox.withdraw("a")
    assert inbox.answered(["a"]) == {"a": "positive"}


def test_a_batch_is_claimed_whole_or_not_at_all(tmp_path):
    """A partly answered batch stays in the inbox, every answer still open to undo; the last answer lets it go."""
    inbox = ReviewInbox(tmp_path / "reviews.sqlite")
    inbox.put({"a": "positive", "b": None}, reviewer="one", round_number=1)
    assert inbox.claim(["a", "b", "c"]) == {}
    assert inbox.withdraw("a") is True  # not claimed: still undone at will
    inbox.put({"a": "negative", "c": "positive"}, reviewer="one", round_number=1)
    assert inbox.claim(["a", "b", "c"]) == {"a": "negative", "b": None, "c": "positive"}
    with pytest.raises(ConflictError, match="already being committed"):
        inbox.withdraw("b")
