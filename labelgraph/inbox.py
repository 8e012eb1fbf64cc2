"""The review inbox: people's answers, stored the moment they are given and kept until the graph commits them.

One row per item; the first answer wins, so two reviewers answering the same item cannot both land.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from labelgraph.errors import ConflictError

__all__ = ["ReviewInbox"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    item_id TEXT PRIMARY KEY,
    label TEXT,
    reviewer TEXT NOT NULL,
    round INTEGER NOT NULL,
    answered_at REAL NOT NULL,
    claimed INTEGER NOT NULL DEFAULT 0
)
"""


class ReviewInbox:
    """Answers by item id in a SQLite file; safe across threads and processes.

    An answer is *claimed* when a step hands it to the graph: from then on it can no longer be withdrawn.
    """

    def __init__(self, path: Path):
        self._connection = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.execute(_SCHEMA)
        self._lock = threading.Lock()

    def put(self, answers: dict[str, str | None], *, reviewer: str, round_number: int) -> None:
        """Store answers all or none; ConflictError if any item was already answered."""
        now = time.time()
        with self._lock:
            try:
                self._connection.execute("BEGIN IMMEDIATE")
                self._connection.executemany(
                    "INSERT INTO answers (item_id, label, reviewer, round, answered_at) VALUES (?, ?, ?, ?, ?)",
                    [(item_id, label, reviewer, round_number, now) for item_id, label in answers.items()],
                )
                self._connection.execute("COMMIT")
                return
            except sqlite3.IntegrityError:
                self._connection.execute("ROLLBACK")
            except BaseException:
                if self._connection.in_transaction:
                    self._connection.execute("ROLLBACK")
                raise
        taken = self.answered(list(answers))
        raise ConflictError(f"already answered: {', '.join(sorted(taken))}")

    def claim(self, ids: list[str]) -> dict[str, str | None]:
        """The stored answers for ``ids``, marked as handed to the graph (no undo from now on), once every one of
        ``ids`` has an answer; until then nothing is marked and the answer is ``{}``: a batch goes to the graph
        whole, so its answers can be undone or corrected until the last one is given."""
        ids = list(dict.fromkeys(ids))
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        with self._lock:
            self._connection.execute("BEGIN IMMEDIATE")
            try:
                rows = self._connection.execute(
                    f"SELECT item_id, label FROM answers WHERE item_id IN ({marks})", ids
                ).fetchall()
                if len(rows) < len(ids):
                    return {}
                self._connection.execute(f"UPDATE answers SET claimed = 1 WHERE item_id IN ({marks})", ids)
            finally:
                self._connection.execute("COMMIT")
        return dict(rows)

    def withdraw(self, item_id: str) -> bool:
        """Take back an answer that no step has claimed (undo); True if there was one.

        ConflictError if the answer is already with the graph."""
        with self._lock:
            row = self._connection.execute("SELECT claimed FROM answers WHERE item_id = ?", (item_id,)).fetchone()
            if row is None:
                return False
            if row[0]:
                raise ConflictError(f"the answer for {item_id!r} is already being committed: it cannot be undone")
            return (
                self._connection.execute("DELETE FROM answers WHERE item_id = ? AND claimed = 0", (item_id,)).rowcount
                > 0
            )

    def answered(self, ids: list[str]) -> dict[str, str | None]:
        """The stored answers for ``ids``."""
        if not ids:
            return {}
        with self._lock:
            rows = self._connection.execute(
                f"SELECT item_id, label FROM answers WHERE item_id IN ({','.join('?' * len(ids))})", ids
            ).fetchall()
        return dict(rows)

    def close(self) -> None:
        self._connection.close()
