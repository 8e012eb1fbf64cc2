"""The run folder: a snapshot of the project's items and their vectors, written once and reused.

RUN/run.json            the resolved project settings (written last: its presence marks a complete folder)
RUN/items.jsonl         pool and seed items, with gold labels where the files had them
RUN/vectors.npy         one embedding per line of items.jsonl (computed once)
RUN/test.jsonl, RUN/test_vectors.npy   the held-out set, if the project names one
RUN/checkpoints.sqlite  the LangGraph checkpoints (one thread per run)
RUN/reviews.sqlite      answers given by people, kept until committed
RUN/memory/             the Chroma store of labelled items
"""

from __future__ import annotations

import fcntl
import io
import json
import os
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from labelgraph.config import ProjectConfig
from labelgraph.data import Item, read_items, write_atomic
from labelgraph.embeddings import Embedder, get_embedder
from labelgraph.errors import DataError, RunError, RunNotFound

__all__ = ["Workspace"]

RUN_FILE = "run.json"


def _save_vectors(path: Path, vectors: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.save(buffer, vectors.astype(np.float32))
    write_atomic(path, buffer.getvalue())


def _save_items(path: Path, items: list[Item]) -> None:
    write_atomic(path, "".join(item.model_dump_json() + "\n" for item in items).encode("utf-8"))


def _load_items(path: Path) -> list[Item]:
    with path.open(encoding="utf-8") as handle:
        return [Item.model_validate_json(line) for line in handle if line.strip()]


FIXED_SETTINGS = frozenset(
    {"name", "pool", "seed", "test", "labels", "text_field", "id_field", "label_field", "embedding_model",
     "max_text_chars", "memory", "checkpoints", "run_dir", "random_seed"}
)  # fmt: skip
"""Settings that give a run's labels, texts and vectors their meaning: changing one needs a new run folder.
Every other setting may change between two commands; the run goes on with it."""


@dataclass
class Workspace:
    """A run folder and what it holds in memory once opened."""

    path: Path
    config: ProjectConfig
    thread_id: str
    items: list[Item]
    vectors: np.ndarray
    test_items: list[Item]
    test_vectors: np.ndarray

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints.sqlite"

    @property
    def reviews(self) -> Path:
        return self.path / "reviews.sqlite"

    @property
    def memory_path(self) -> Path:
        return self.path / "memory"

    @classmethod
    def create(cls, config: ProjectConfig, *, embedder: Embedder | None = None) -> Workspace:
        """Validate the project's files, embed every text once, and write the run folder.

        ``embedder`` replaces the project's model (evals pass one that caches vectors across runs).
        """
        assert config.run_dir is not None, "config must be resolved first"
        path = config.run_dir
        if (path / RUN_FILE).exists():
            existing = cls.open(path)
            before, after = existing.config.model_dump(mode="json"), config.model_dump(mode="json")
            changed = sorted(key for key in after if before.get(key) != after[key])
            fixed = [key for key in changed if key in FIXED_SETTINGS]
            if fixed:
                raise RunError(
                    f"{path} was started with other {', '.join(fixed)}, which give its labels their meaning; "
                    "use a new run_dir, or delete the folder to start over"
                )
            if changed:
                existing.change_settings(config, changed)
                return cls.open(path)
            return existing
        names = config.label_names
        read = {
            "text_field": config.text_field,
            "id_field": config.id_field,
            "label_field": config.label_field,
            "labels": names,
            "max_text_chars": config.max_text_chars,
        }
        pool = read_items(config.pool, **read)
        for item in pool:
            item.meta["in_pool"] = True
        items = list(pool)
        if config.seed is not None:
            by_id = {item.id: item for item in pool}
            for seed in read_items(config.seed, require_label=True, **read):
                seed.meta["seed"] = True
                if seed.id in by_id:
                    by_id[seed.id].label = seed.label
                    by_id[seed.id].meta["seed"] = True
                else:
                    items.append(seed)
        test = read_items(config.test, require_label=True, **read) if config.test is not None else []
        embedder = embedder or get_embedder(config.embedding_model)
        path.mkdir(parents=True, exist_ok=True)
        _save_items(path / "items.jsonl", items)
        _save_vectors(path / "vectors.npy", embedder.embed([item.text for item in items]))
        if test:
            _save_items(path / "test.jsonl", test)
            _save_vectors(path / "test_vectors.npy", embedder.embed([item.text for item in test]))
        meta = {
            "thread_id": f"{config.name}-{uuid.uuid4().hex[:12]}",
            "config": config.model_dump(mode="json"),
        }
        write_atomic(path / RUN_FILE, json.dumps(meta, indent=2).encode("utf-8"))
        return cls.open(path)

    @classmethod
    def open(cls, path: Path) -> Workspace:
        path = Path(path)
        if not (path / RUN_FILE).exists():
            raise RunNotFound(f"{path}: not a run folder (no {RUN_FILE}); start one with 'labelgraph run PROJECT'")
        try:
            meta = json.loads((path / RUN_FILE).read_text(encoding="utf-8"))
            config = ProjectConfig.model_validate(meta["config"])
            thread_id = str(meta["thread_id"])
        except (ValueError, KeyError, TypeError) as error:  # JSON, pydantic and missing-key errors alike
            first = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise RunError(
                f"{path / RUN_FILE}: not a run file this version of labelgraph can read ({first}); "
                "start a new run in another folder (the old folder is left as it is)"
            ) from None
        items = _load_items(path / "items.jsonl")
        vectors = np.load(path / "vectors.npy")
        if len(vectors) != len(items):
            raise DataError(f"{len(vectors)} vectors for {len(items)} items: the run folder is damaged", path=path)
        test_items, test_vectors = [], np.zeros((0, vectors.shape[1]), dtype=np.float32)
        if (path / "test.jsonl").exists():
            test_items = _load_items(path / "test.jsonl")
            test_vectors = np.load(path / "test_vectors.npy")
        return cls(path, config, thread_id, items, vectors, test_items, test_vectors)

    def change_settings(self, config: ProjectConfig, changed: list[str]) -> None:
        """Continue with new run-time settings (budget, rounds, batch size, critic, quality target, strategy...),
        recording each change in run.json's ``settings_history``."""
        with self.lock():
            meta = json.loads((self.path / RUN_FILE).read_text(encoding="utf-8"))
            before, after = meta["config"], config.model_dump(mode="json")
            meta["config"] = after
            entry = {
                "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "changed": {k: [before.get(k), after[k]] for k in changed},
            }
            meta.setdefault("settings_history", []).append(entry)
            write_atomic(self.path / RUN_FILE, json.dumps(meta, indent=2).encode("utf-8"))

    @contextmanager
    def lock(self):
        """Hold the run for this process; a second process gets a clear error instead of a tangle."""
        handle = os.open(self.path / ".lock", os.O_CREAT | os.O_RDWR)
        try:
            for attempt in range(20):  # a status read holds a shared lock for a moment: wait that out
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if attempt == 19:
                        raise RunError(f"{self.path}: another process is running this run") from None
                    time.sleep(0.05)
            yield
        finally:
            os.close(handle)
