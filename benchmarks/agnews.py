"""AG News for the benchmarks: its rows (train then test, from ../shared/datasets/agnews) and their MiniLM vectors
through the machine's embedding cache."""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from labelgraph.config import ProjectConfig
from labelgraph.encoding.cache import EmbeddingCache, cache_folder, embed_texts, model_key
from labelgraph.encoding.embedders import get_embedder
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


def scale_options(description: str, rounds: int, think: float | None = None) -> argparse.Namespace:
    """The options of the benchmarks that run the loop on a large AG News pool (``--think``: seconds the simulated
    person takes a batch, where a benchmark has one)."""
    parser = argparse.ArgumentParser(description=description)
    if think is not None:
        parser.add_argument("--think", type=float, default=think)
    parser.add_argument("--pool", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=rounds)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--keep", type=Path, help="build the run here and keep it (default: a temporary folder)")
    return parser.parse_args()


@contextmanager
def scale_project(options: argparse.Namespace, name: str) -> Iterator[tuple[ProjectConfig, list[str]]]:
    """A project on ``agnews_pool(options.pool)`` in a temporary folder (or ``--keep``), and its labels: ``margin``,
    the embedded annotator over the whole pool every round, ``--batch`` a round for ``--rounds`` rounds."""
    pool = agnews_pool(options.pool)
    labels = sorted({row["label"] for row in pool})
    with tempfile.TemporaryDirectory() if options.keep is None else _kept(options.keep) as tmp:
        folder = Path(tmp)
        (folder / "pool.jsonl").write_text("".join(json.dumps(row) + "\n" for row in pool))
        yield (
            ProjectConfig(
                name=name,
                pool=folder / "pool.jsonl",
                labels={label: "" for label in labels},
                batch_size=options.batch,
                budget=options.batch * options.rounds,
                max_rounds=options.rounds,
                strategy="margin",
                run_dir=folder / "run",
            ),
            labels,
        )


@contextmanager
def _kept(folder: Path) -> Iterator[str]:
    folder.mkdir(parents=True, exist_ok=True)
    yield str(folder)


def embedded(texts: list[str]) -> np.ndarray:
    """The texts' MiniLM vectors, from the embedding cache where it has them."""
    model = get_embedder("minilm")
    folder = cache_folder()
    cache = EmbeddingCache(folder, model_key(model)) if folder is not None else None
    return np.asarray(embed_texts(model, texts, cache), dtype=np.float32)
