"""AG News for the benchmarks: its rows (train then test, from ../shared/datasets/agnews) and their MiniLM vectors
through the machine's embedding cache."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from labelgraph.embed_cache import EmbeddingCache, cache_folder, embed_texts, model_key
from labelgraph.embeddings import get_embedder
from labelgraph.evals.datasets import datasets_root


def agnews_rows() -> list[dict[str, Any]]:
    """Every AG News row (19,571), train then test."""
    root = datasets_root()
    assert root is not None, "needs ../shared/datasets (or LABELGRAPH_DATASETS)"
    rows = []
    for name in ("train.jsonl", "test.jsonl"):
        rows += [json.loads(line) for line in (root / "agnews" / name).read_text().splitlines()]
    return rows


def agnews_pool(size: int) -> list[dict[str, Any]]:
    """``size`` pool rows (``id``, ``text``, gold ``label``): AG News, and past its 19,571 rows its texts again
    with a suffix (" (2)", " (3)", ...), each copy with its original's label: real texts, near-duplicates."""
    rows = agnews_rows()
    originals, copy = list(rows), 1
    while len(rows) < size:
        copy += 1
        rows += [{**row, "text": f"{row['text']} ({copy})"} for row in originals[: size - len(rows)]]
    return [{"id": f"t{n}", "text": row["text"], "label": row["label"]} for n, row in enumerate(rows[:size])]


def embedded(texts: list[str]) -> np.ndarray:
    """The texts' MiniLM vectors, from the embedding cache where it has them."""
    model = get_embedder("minilm")
    folder = cache_folder()
    cache = EmbeddingCache(folder, model_key(model)) if folder is not None else None
    return np.asarray(embed_texts(model, texts, cache), dtype=np.float32)
