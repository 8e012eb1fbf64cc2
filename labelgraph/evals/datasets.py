"""Datasets for evals: by name from a ``datasets`` folder (``../shared/datasets`` when present), or by path."""

from __future__ import annotations

import hashlib
import os
import random
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from labelgraph.data import Item, read_items
from labelgraph.encoding.cache import EmbeddingCache, cache_folder, embed_texts, model_key
from labelgraph.encoding.embedders import Embedder, get_embedder
from labelgraph.encoding.encoders import default_encoder
from labelgraph.errors import ConfigError

__all__ = ["CachedEmbedder", "Dataset", "datasets_root", "load_dataset"]


class Dataset(BaseModel):
    """Train (the pool, with gold labels) and test items, and the label set in a stable order."""

    name: str
    labels: list[str]
    train: list[Item]
    test: list[Item]


def datasets_root() -> Path | None:
    """``$LABELGRAPH_DATASETS``, else a ``shared/datasets`` folder beside the working folder or this checkout."""
    if os.environ.get("LABELGRAPH_DATASETS"):
        return Path(os.environ["LABELGRAPH_DATASETS"])
    for base in (Path.cwd(), Path(__file__).resolve().parents[2]):
        candidate = base.parent / "shared" / "datasets"
        if candidate.is_dir():
            return candidate
    return None


def _sample(items: list[Item], size: int | None, seed: int) -> list[Item]:
    if size is None or size >= len(items):
        return items
    return random.Random(seed).sample(items, size)


def load_dataset(
    name: str | None,
    *,
    train: Path | None = None,
    test: Path | None = None,
    pool_size: int | None = 2000,
    test_size: int | None = 500,
    sample_seed: int = 13,
) -> Dataset:
    """A dataset by name (a folder with train.jsonl and test.jsonl) or by paths, subsampled reproducibly."""
    if train is None or test is None:
        root = datasets_root()
        if name is None:
            raise ConfigError("name a dataset, or give both --train and --test")
        folder = Path(name) if Path(name).is_dir() else (root / name if root else None)
        if folder is None or not (folder / "train.jsonl").exists():
            where = f"in {root}" if root else "(no datasets folder found; set LABELGRAPH_DATASETS)"
            raise ConfigError(f"dataset {name!r} not found {where}; or pass --train FILE --test FILE")
        train, test = folder / "train.jsonl", folder / "test.jsonl"
        name = folder.name
    train_items = read_items(train, require_label=True)
    test_items = read_items(test, require_label=True)
    labels = sorted({item.label for item in train_items})  # type: ignore[misc]
    unknown = sorted({item.label for item in test_items} - set(labels))  # type: ignore[misc]
    if unknown:
        raise ConfigError(f"{test}: labels {unknown} do not occur in {train}")
    return Dataset(
        name=name or Path(train).resolve().parent.name,
        labels=labels,  # type: ignore[arg-type]
        train=_sample(train_items, pool_size, sample_seed),
        test=_sample(test_items, test_size, sample_seed + 1),
    )


class CachedEmbedder:
    """An embedder that remembers every text's vector for this process, and takes the ones it lacks from the
    machine's embedding cache (``labelgraph.encoding.cache``) before the model: an eval embeds a dataset once per
    encoder, not once per process."""

    def __init__(self, inner: Embedder | None = None):
        self.inner = inner or get_embedder(default_encoder())
        self.name = self.inner.name
        self._vectors: dict[str, np.ndarray] = {}
        root = cache_folder()
        self._cache = EmbeddingCache(root, model_key(self.inner)) if root is not None else None

    @property
    def dim(self) -> int:
        return self.inner.dim

    @property
    def cache_key(self) -> str | None:
        """The inner model's: the vectors are its own, so the machine's embedding cache shares them with runs."""
        return getattr(self.inner, "cache_key", None)

    @property
    def model_spec(self) -> str | None:
        """The inner model's name as a project names it, so a run folder made with this embedder records it."""
        return getattr(self.inner, "model_spec", None)

    def embed(self, texts: list[str]) -> np.ndarray:
        keys = [hashlib.sha1(text.encode()).hexdigest() for text in texts]
        missing = list(dict.fromkeys(k for k in keys if k not in self._vectors))
        if missing:
            first = {k: t for k, t in zip(keys, texts, strict=True)}
            found = embed_texts(self.inner, [first[k] for k in missing], self._cache)
            self._vectors.update(zip(missing, found, strict=True))
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._vectors[k] for k in keys]).astype(np.float32, copy=False)
