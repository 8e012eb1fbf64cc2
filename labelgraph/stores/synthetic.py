"""Synthetic items the generator wrote: text, provenance and vector, kept in the run folder (SQLite).

Ids are derived from the text, and writes are ``INSERT OR IGNORE``, so a generate step re-run after a crash
(its LLM answers come from the cache) stores each item once.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from pathlib import Path

import numpy as np

from labelgraph.data import Item
from labelgraph.stores.connection import open_sqlite

__all__ = ["SyntheticStore", "synthetic_id"]


def synthetic_id(text: str) -> str:
    return "syn-" + hashlib.sha256(text.encode()).hexdigest()[:12]


_SCHEMA = "CREATE TABLE IF NOT EXISTS items (id TEXT PRIMARY KEY, text TEXT, meta TEXT, vector BLOB)"


class SyntheticStore:
    """The file is made at the first text written: a run without a generator has none."""

    def __init__(self, path: Path):
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[Item, np.ndarray]] = {}

    def _open(self) -> sqlite3.Connection:
        """The file, made at the first write; called under the lock."""
        if self._db is None:
            self._db = open_sqlite(self.path)
            self._db.execute(_SCHEMA)
        return self._db

    def add(self, items: list[Item], vectors: np.ndarray) -> None:
        rows = [
            (item.id, item.text, json.dumps(item.meta), np.asarray(vector, dtype=np.float32).tobytes())
            for item, vector in zip(items, vectors, strict=True)
        ]
        with self._lock:
            self._open().executemany("INSERT OR IGNORE INTO items VALUES (?, ?, ?, ?)", rows)

    def get(self, ids: list[str]) -> list[tuple[Item, np.ndarray]]:
        """The items and vectors for ``ids``; KeyError names an id that is not stored."""
        missing = [i for i in ids if i not in self._cache]
        if missing:
            with self._lock:
                written = self._db is not None or self.path.exists()
                marks = ",".join("?" * len(missing))
                query = f"SELECT id, text, meta, vector FROM items WHERE id IN ({marks})"
                rows = self._open().execute(query, missing).fetchall() if written else []
            for item_id, text, meta, vector in rows:
                item = Item(id=item_id, text=text, meta=json.loads(meta))
                self._cache[item_id] = (item, np.frombuffer(vector, dtype=np.float32))
        return [self._cache[i] for i in ids]

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
