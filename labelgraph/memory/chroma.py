"""What the memory needs from chromadb, imported only when a memory is first used (chromadb takes a while to load).

The embedding function is registered with chromadb here, so a reopened collection finds it by name.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import chromadb
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
from chromadb.config import Settings
from chromadb.utils.embedding_functions import register_embedding_function

from labelgraph.encoding.embedders import get_embedder

__all__ = ["LabelgraphEmbeddingFunction", "http_client", "persistent_client"]


def _settings() -> Settings:
    """Fresh settings for each client: chromadb's HttpClient writes its host and API into the object it is given."""
    return Settings(anonymized_telemetry=False)


def persistent_client(path: str) -> Any:
    return chromadb.PersistentClient(path, settings=_settings())


def http_client(url: str) -> Any:
    parts = urlsplit(url)
    return chromadb.HttpClient(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or (443 if parts.scheme == "https" else 8000),
        ssl=parts.scheme == "https",
        settings=_settings(),
    )


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
