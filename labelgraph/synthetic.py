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

__all__ = ["SyntheticStore", "synthetic_id"]


def synthetic_id(text: str) -> str:
    return "syn-" + hashlib.sha256(text.encode()).hexdigest()[:12]


class SyntheticStore:
    def __init__(self, path: Path):
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS items (id TEXT PRIMARY KEY, text TEXT, meta TEXT, vector BLOB)")
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[Item, np.ndarray]] = {}

    def add(self, items: list[Item], vectors: np.ndarray) -> None:
        rows = [
            (item.id, item.text, json.dumps(item.meta), np.asarray(vector, dtype=np.float32).tobytes())
            for item, vector in zip(items, vectors, strict=True)
        ]
        with self._lock:
            self._db.executemany("INSERT OR IGNORE INTO items VALUES (?, ?, ?, ?)", rows)

    def get(self, ids: list[str]) -> list[tuple[Item, np.ndarray]]:
        """The items and vectors for ``ids``; KeyError names an id that is not stored."""
        missing = [i for i in ids if i not in self._cache]
        if missing:
            with self._lock:
                rows = self._db.execute(
                    f"SELECT id, text, meta, vector FROM items WHERE id IN ({','.join('?' * len(missing))})", missing
                ).fetchall()
            for item_id, text, meta, vector in rows:
                item = Item(id=item_id, text=text, meta=json.loads(meta))
                self._cache[item_id] = (item, np.frombuffer(vector, dtype=np.float32))
        return [self._cache[i] for i in ids]

    def close(self) -> None:
        self._db.close()
