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
    answered_at REAL NOT NULL
)
"""


class ReviewInbox:
    """Answers by item id in a SQLite file; safe across threads and processes."""

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
            except sqlite3.IntegrityError:
                self._connection.execute("ROLLBACK")
                taken = self.answered(list(answers))
                raise ConflictError(f"already answered: {', '.join(sorted(taken))}") from None

    def withdraw(self, item_id: str) -> bool:
        """Take back an answer that has not been committed yet (undo); True if there was one."""
        with self._lock:
            return self._connection.execute("DELETE FROM answers WHERE item_id = ?", (item_id,)).rowcount > 0

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
