"""The generator's texts as the loop reads them: items and vectors, kept in the label store's ``synthetic`` table
(SQLite or PostgreSQL, beside the run's labels) and held in memory once read.

Ids are derived from the text, and an id already stored keeps its row, so a generate step re-run after a crash
(its LLM answers come from the cache) stores each text once.
"""

from __future__ import annotations

import hashlib
import json
import threading

import numpy as np

from labelgraph.data import Item
from labelgraph.stores.labels import LabelStore

__all__ = ["SyntheticStore", "synthetic_id"]


def synthetic_id(text: str) -> str:
    return "syn-" + hashlib.sha256(text.encode()).hexdigest()[:12]


class SyntheticStore:
    """Generated items and their vectors, in ``store``."""

    def __init__(self, store: LabelStore):
        self.store = store
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[Item, np.ndarray]] = {}

    def add(self, items: list[Item], vectors: np.ndarray) -> None:
        self.store.put_synthetic(
            (item.id, item.text, json.dumps(item.meta), np.asarray(vector, dtype=np.float32).tobytes())
            for item, vector in zip(items, vectors, strict=True)
        )

    def get(self, ids: list[str]) -> list[tuple[Item, np.ndarray]]:
        """The items and vectors for ``ids``; KeyError names an id that is not stored."""
        with self._lock:
            missing = [i for i in ids if i not in self._cache]
            for item_id, text, meta, vector in self.store.synthetic(missing):
                item = Item(id=item_id, text=text, meta=json.loads(meta))
                self._cache[item_id] = (item, np.frombuffer(vector, dtype=np.float32))
            return [self._cache[i] for i in ids]
