"""Chroma-backed memory: labelled items with their vectors, for neighbours, duplicates and label statistics.

Embedded by default (``PersistentClient`` in the run folder); a Chroma server over HTTP for scale.
Writes are upserts keyed by item id, so writing the same labels twice leaves one copy.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import chromadb
import numpy as np
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
from chromadb.config import Settings
from chromadb.utils.embedding_functions import register_embedding_function
from pydantic import BaseModel

from labelgraph.data import LabelRecord
from labelgraph.embeddings import get_embedder

__all__ = ["LabelgraphEmbeddingFunction", "Memory", "Neighbour"]

COLLECTION = "labelled"


def _settings() -> Settings:
    """Fresh settings for each client: chromadb's HttpClient writes its host and API into the object it is given."""
    return Settings(anonymized_telemetry=False)


_HNSW = {"space": "cosine", "ef_construction": 200, "ef_search": 200}


@register_embedding_function
class LabelgraphEmbeddingFunction(EmbeddingFunction[Documents]):
    """Chroma embedding function over a labelgraph embedder, so a reopened collection embeds queries alike."""

    def __init__(self, model: str = "minilm"):
        self.model = model

    def __call__(self, input: Documents) -> Embeddings:
        return list(get_embedder(self.model).embed(list(input)))

    @staticmethod
    def name() -> str:
        return "labelgraph"

    def get_config(self) -> dict[str, Any]:
        return {"model": self.model}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> LabelgraphEmbeddingFunction:
        return LabelgraphEmbeddingFunction(config.get("model", "minilm"))

    def default_space(self) -> str:  # type: ignore[override]
        return "cosine"


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
    """The labelled set as a Chroma collection (one per run)."""

    def __init__(self, client: Any, *, embedding_model: str = "minilm", collection: str = COLLECTION):
        self._client = client
        self.embedding_model = embedding_model
        self._collection = client.get_or_create_collection(
            collection,
            embedding_function=LabelgraphEmbeddingFunction(embedding_model),
            configuration={"hnsw": _HNSW},
        )

    @classmethod
    def embedded(cls, path: Path, *, embedding_model: str = "minilm") -> Memory:
        """A memory in ``path`` on this machine (Chroma ``PersistentClient``)."""
        return cls(chromadb.PersistentClient(str(path), settings=_settings()), embedding_model=embedding_model)

    @classmethod
    def server(cls, url: str, *, collection: str, embedding_model: str = "minilm") -> Memory:
        """A memory on a Chroma server (``chroma run``) over HTTP; one collection per run."""
        parts = urlsplit(url)
        client = chromadb.HttpClient(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or (443 if parts.scheme == "https" else 8000),
            ssl=parts.scheme == "https",
            settings=_settings(),
        )
        return cls(client, embedding_model=embedding_model, collection=collection)

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

    def label_counts(self) -> dict[str, int]:
        metas = self._collection.get(include=["metadatas"])["metadatas"] or []
        return dict(Counter(str(meta["label"]) for meta in metas))
