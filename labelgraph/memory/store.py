"""Chroma-backed memory: labelled items with their vectors, for neighbours, duplicates and label statistics.

Embedded by default (``PersistentClient`` in the run folder); a Chroma server over HTTP for scale.
Writes are upserts keyed by item id, so writing the same labels twice leaves one copy.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

from labelgraph.data import LabelRecord
from labelgraph.encoding.embedders import get_embedder
from labelgraph.encoding.encoders import MINILM, canonical

__all__ = ["Memory", "Neighbour", "collection_name"]

COLLECTION = "labelled"

_HNSW = {"space": "cosine", "ef_construction": 200, "ef_search": 200}


def _chroma() -> Any:
    from labelgraph.memory import chroma

    return chroma


def collection_name(base: str, model: str) -> str:
    """The Chroma collection of ``base`` for vectors of ``model``: ``base`` itself for the default MiniLM (as
    before), ``base-NAME-HASH`` for any other, so two models' vectors never share a collection."""
    name = canonical(model)
    if name == MINILM:
        return base
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", Path(name).name)[:40].strip("-_") or "model"
    return f"{base}-{slug}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


class Neighbour(BaseModel):
    """A labelled item near a query, with its cosine similarity."""

    id: str
    text: str
    label: str
    source: str
    similarity: float


QUERY_CHUNK = 1000
"""Query vectors per Chroma call: 19,571 at once failed with "too many SQL variables"."""


class Memory:
    """The labelled set as a Chroma collection (one per run), opened at its first use: ``connect()`` makes the
    client, so a command that never asks the memory (``labelgraph status``) never loads chromadb."""

    def __init__(self, connect: Callable[[], Any], *, embedding_model: str = "minilm", collection: str = COLLECTION):
        self._connect = connect
        self.embedding_model = embedding_model
        self.collection_name = collection
        self._opened: Any = None
        self._lock = threading.Lock()

    @property
    def _collection(self) -> Any:
        with self._lock:
            if self._opened is None:
                client = self._connect()
                self._opened = client.get_or_create_collection(
                    self._keyed_name(client),
                    embedding_function=_chroma().LabelgraphEmbeddingFunction(self.embedding_model),
                    configuration={"hnsw": _HNSW},
                )
            return self._opened

    def _keyed_name(self, client: Any) -> str:
        """The collection for this memory's model (``collection_name``); a folder from before collections were
        keyed by model keeps the collection it has."""
        keyed = collection_name(self.collection_name, self.embedding_model)
        if keyed != self.collection_name:
            existing = {getattr(c, "name", c) for c in client.list_collections()}
            if keyed not in existing and self.collection_name in existing:
                return self.collection_name
        return keyed

    @classmethod
    def embedded(cls, path: Path, *, embedding_model: str = "minilm") -> Memory:
        """A memory in ``path`` on this machine (Chroma ``PersistentClient``)."""
        return cls(lambda: _chroma().persistent_client(str(path)), embedding_model=embedding_model)

    @classmethod
    def server(cls, url: str, *, collection: str, embedding_model: str = "minilm") -> Memory:
        """A memory on a Chroma server (``chroma run``) over HTTP; one collection per run."""
        return cls(lambda: _chroma().http_client(url), embedding_model=embedding_model, collection=collection)

    def count(self) -> int:
        return self._collection.count()

    def ids(self) -> set[str]:
        return set(self._collection.get(include=[])["ids"])

    def add(self, records: list[LabelRecord], vectors: np.ndarray) -> None:
        """Upsert labelled items with their precomputed vectors."""
        if not records:
            return
        self._collection.upsert(
            ids=[record.id for record in records],
            documents=[record.text for record in records],
            embeddings=np.asarray(vectors, dtype=np.float32),
            metadatas=[{"label": record.label, "source": record.source, "round": record.round} for record in records],
        )

    def remove(self, ids: list[str]) -> None:
        if ids:
            self._collection.delete(ids=list(ids))

    def neighbours(self, vectors: np.ndarray, k: int) -> list[list[Neighbour]]:
        """The ``k`` most similar labelled items for each query vector, most similar first."""
        vectors = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
        size = self.count()
        if size == 0 or len(vectors) == 0:
            return [[] for _ in range(len(vectors))]
        out: list[list[Neighbour]] = []
        for start in range(0, len(vectors), QUERY_CHUNK):  # Chroma's SQLite refuses a very large query at once
            out += self._query(vectors[start : start + QUERY_CHUNK], min(k, size))
        return out

    def _query(self, vectors: np.ndarray, k: int) -> list[list[Neighbour]]:
        result = self._collection.query(
            query_embeddings=vectors, n_results=k, include=["documents", "metadatas", "distances"]
        )
        return [
            [
                Neighbour(
                    id=item_id,
                    text=document,
                    label=str(meta["label"]),
                    source=str(meta.get("source", "")),
                    similarity=round(1.0 - float(distance), 6),
                )
                for item_id, document, meta, distance in zip(ids, documents, metas, distances, strict=True)
            ]
            for ids, documents, metas, distances in zip(
                result["ids"], result["documents"], result["metadatas"], result["distances"], strict=True
            )
        ]

    def search(self, text: str, k: int = 5) -> list[Neighbour]:
        """Labelled items most similar to a text (embedded with the collection's function)."""
        vector = get_embedder(self.embedding_model).embed([text])
        return self.neighbours(vector, k)[0]

    def near_duplicates(self, vectors: np.ndarray, threshold: float = 0.95) -> list[Neighbour | None]:
        """For each vector, the labelled item at least ``threshold`` similar to it, or None."""
        return [
            found[0] if found and found[0].similarity >= threshold else None for found in self.neighbours(vectors, 1)
        ]

    def labels(self, ids: list[str]) -> dict[str, str]:
        """The stored label of each of ``ids`` the memory holds."""
        if not ids:
            return {}
        found = self._collection.get(ids=list(ids), include=["metadatas"])
        return {i: str(meta["label"]) for i, meta in zip(found["ids"], found["metadatas"] or [], strict=True)}

    def label_counts(self) -> dict[str, int]:
        metas = self._collection.get(include=["metadatas"])["metadatas"] or []
        return dict(Counter(str(meta["label"]) for meta in metas))
