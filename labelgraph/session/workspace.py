"""The run folder: a snapshot of the project's items and their vectors, written once and reused.

RUN/run.json            the resolved project settings (written last: its presence marks a complete folder)
RUN/items.sqlite        pool, seed and test items, with gold labels where the files had them, one row per text
                        (``labelgraph.stores.items``: read by row when needed, never all at once)
RUN/vectors.npy         one embedding per pool or seed row of items.sqlite (computed once, or from the embedding
                        cache; memory-mapped when the folder opens)
RUN/test_vectors.npy    one per test row, if the project names a test set
RUN/checkpoints.sqlite  the LangGraph checkpoints (one thread per run)
RUN/labels.sqlite       the label store: machine labels, verdicts, people's answers, the inbox of answers not yet
                        committed, the generator's texts (``labelgraph.stores.labels``; in PostgreSQL when the
                        checkpoints are)
RUN/llm_cache.sqlite    the LLM's answers and their cost, with an LLM
RUN/memory/             the Chroma store of labelled items

A folder made up to 010994d keeps its inbox in ``RUN/reviews.sqlite`` and generated texts in
``RUN/synthetic.sqlite``: the run's context moves their rows into the label store when it opens the folder, then
deletes both files (``LabelStore.adopt``).

Opening a folder checks every file first (the item store's rows and types, vectors have the right shape, each
SQLite file passes ``PRAGMA integrity_check``): a damaged one is named, with what can be done, before any code reads
it. A folder made before the item store (``items.jsonl`` and ``test.jsonl``) is read as it is, into memory, and
never rewritten: opening a folder changes nothing in it.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import sqlite3
import time
import uuid
import warnings
from collections.abc import Iterator
from contextlib import closing, contextmanager, nullcontext, suppress
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from labelgraph.config import ProjectConfig, check_run_dir
from labelgraph.data import Item, iter_items, open_regular, read_limited, remove_stale_temps, write_atomic
from labelgraph.encoding.cache import EmbeddingCache, cache_folder, embed_texts, model_key
from labelgraph.encoding.embedders import Embedder
from labelgraph.encoding.encoders import canonical, is_plugin, source
from labelgraph.encoding.fanout import embedder_for
from labelgraph.errors import DataError, RunDamaged, RunError, RunNotFound
from labelgraph.progress import task
from labelgraph.stores.connection import open_existing_sqlite
from labelgraph.stores.items import ItemStore, ItemView, ItemWriter, check_store

__all__ = ["Workspace"]

log = logging.getLogger(__name__)

RUN_FILE = "run.json"
_CHECK_ROWS = 65536
"""Rows of vectors checked at a time when a run folder opens."""
MAX_RUN_FILE_BYTES = 64 * 2**20
"""Largest run.json (settings and their history)."""
NO_LIMIT = 2**62

_NEW_RUN = "start a new run in another folder"
_CONTENTS = {  # what each file holds, and what can be done if it is damaged
    RUN_FILE: ("the run's settings", f"restore it from a backup, or {_NEW_RUN}"),
    "items.sqlite": ("the run's copy of the project's texts", f"restore it from a backup, or {_NEW_RUN}"),
    "items.jsonl": ("the run's copy of the project's texts", f"restore it from a backup, or {_NEW_RUN}"),
    "vectors.npy": ("the texts' embeddings", f"restore it from a backup, or {_NEW_RUN}"),
    "test.jsonl": ("the run's copy of the test set", f"restore it from a backup, or {_NEW_RUN}"),
    "test_vectors.npy": ("the test set's embeddings", f"restore it from a backup, or {_NEW_RUN}"),
    "checkpoints.sqlite": ("the loop's checkpoints", f"restore it from a backup, or {_NEW_RUN}"),
    "reviews.sqlite": (
        "answers not yet committed (kept apart by a folder made up to 010994d)",
        "restore it from a backup, or move it aside to go on without those answers (they are asked again)",
    ),
    "labels.sqlite": ("the run's labels", "restore it from a backup"),
    "synthetic.sqlite": ("the generated texts (kept apart by a folder made up to 010994d)", "restore it from a backup"),
    "llm_cache.sqlite": (
        "the LLM's answers and their cost",
        "restore it from a backup, or move it aside (the LLM is then asked, and paid, again)",
    ),
    "chroma.sqlite3": (
        "the memory of people's labels",
        "move the memory folder aside: 'labelgraph resume' builds it again from labels.sqlite",
    ),
}
ITEMS_FILE = "items.sqlite"
EMBED_ROWS = 32768
"""Texts read from the item store and embedded at a time when a run folder is made."""
SQLITE_FILES = (
    ITEMS_FILE,
    "checkpoints.sqlite",
    "reviews.sqlite",
    "labels.sqlite",
    "synthetic.sqlite",
    "llm_cache.sqlite",
    "memory/chroma.sqlite3",
)


def _damaged(path: Path, reason: str) -> RunDamaged:
    """The one-line error for a damaged file of a run folder: what it holds, and what can be done."""
    holds, remedy = _CONTENTS.get(path.name, ("part of the run", "restore it from a backup"))
    return RunDamaged(f"{path} is damaged ({reason}); it holds {holds}: {remedy}. Nothing was changed.")


def _save_embedded(path: Path, batches: Iterator[list[str]], rows: int, embed: Any, dtype: str = "float32") -> None:
    """Embed texts a batch at a time (``embed(texts) -> vectors``) into a new NumPy file of ``rows`` rows stored as
    ``dtype``, written in order (no list of every text, no matrix of every vector in memory), so that a crash
    leaves the old file or the new one. Temporary files that killed writers of ``path`` left behind are removed
    first."""
    remove_stale_temps(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        with open(tmp, "wb") as handle:
            done = 0
            for texts in batches:
                vectors = np.ascontiguousarray(embed(texts), dtype=dtype)
                if done == 0:
                    dim = vectors.shape[1]
                    header = {"descr": vectors.dtype.str, "fortran_order": False, "shape": (rows, dim)}
                    np.lib.format.write_array_header_2_0(handle, header)
                if vectors.shape != (len(texts), dim):
                    raise ValueError(f"the model gave vectors of shape {vectors.shape} for {len(texts)} texts")
                handle.write(vectors.tobytes())
                done += len(vectors)
            if done != rows:
                raise ValueError(f"embedded {done} texts of {rows}")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _save_items(path: Path, items: list[Item]) -> None:
    """The run folder's items as JSON lines: the format before the item store (kept for benchmarks and tests)."""
    write_atomic(path, "".join(item.model_dump_json() + "\n" for item in items).encode("utf-8"))


def _load_items(path: Path) -> list[Item]:
    """The items of an older run folder's JSON lines file; RunDamaged naming the line that cannot be read."""
    items = []
    try:
        with open_regular(path, limit=NO_LIMIT) as handle:
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    try:
                        items.append(Item.model_validate_json(line))
                    except ValidationError as error:
                        first = error.errors()[0]["msg"][:120]
                        raise _damaged(path, f"line {number} is not an item: {first}") from None
    except DataError as error:
        raise _damaged(path, str(error).removeprefix(f"{path}: ")) from None
    if not items:
        raise _damaged(path, "no items")
    return items


def _load_vectors(path: Path, rows: int, dim: int | None = None) -> np.ndarray:
    """A float32 (or float16) matrix of ``rows`` rows (and ``dim`` columns), finite, memory-mapped read-only
    (nothing copies the pool's vectors: at 1M x 384 that is 1.5 GB in float32); RunDamaged otherwise."""
    try:
        open_regular(path, limit=NO_LIMIT).close()
        with warnings.catch_warnings():  # NumPy parses a header with ast: a damaged one may warn of its escapes
            warnings.simplefilter("ignore", SyntaxWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            mapped = np.load(path, mmap_mode="r", allow_pickle=False)  # a shape larger than the file fails here
    except DataError as error:
        raise _damaged(path, str(error).removeprefix(f"{path}: ")) from None
    except Exception as error:  # whatever NumPy raises on bytes that are not an array file (ValueError, TokenError...)
        reason = (str(error).splitlines() or [type(error).__name__])[0][:120]
        if "pickle" in reason:  # no NumPy header: np.load took it for a pickle, which it never loads
            reason = "no NumPy header"
        elif "mmap length" in reason:
            reason = "shorter than its header says"
        raise _damaged(path, f"not a NumPy array file: {reason}") from None
    shape = getattr(mapped, "shape", None)
    kinds = (np.float32, np.float16)
    if not isinstance(mapped, np.ndarray) or mapped.dtype not in kinds or len(mapped.shape) != 2:
        raise _damaged(path, f"not a float32 or float16 matrix (shape {shape})")
    if mapped.shape[0] != rows or (dim is not None and mapped.shape[1] != dim):
        expected = f"{rows} x {dim}" if dim is not None else f"{rows} rows"
        raise _damaged(path, f"{mapped.shape[0]} x {mapped.shape[1]} vectors for {expected}")
    for start in range(0, len(mapped), _CHECK_ROWS):  # in slices: no full-size temporary
        if not np.isfinite(mapped[start : start + _CHECK_ROWS]).all():
            raise _damaged(path, "vectors hold NaN or infinite values")
    return mapped


def _open_store(path: Path) -> ItemStore:
    """The run folder's item store, checked (``_check_sqlite`` has passed): RunDamaged if it is not one."""
    try:
        with closing(_connect(path)) as db:
            reason = check_store(db)
    except sqlite3.Error as error:
        raise _damaged(path, str(error)[:120]) from None
    if reason is not None:
        raise _damaged(path, reason)
    return ItemStore(path)


def _connect(path: Path) -> sqlite3.Connection:
    """A connection to an existing SQLite file (never creates one)."""
    return open_existing_sqlite(path, write=True)


def _check_sqlite(path: Path) -> None:
    """RunDamaged unless ``path`` is a SQLite database that passes ``PRAGMA integrity_check`` and whose every row reads
    (it does not decode text)."""
    try:
        open_regular(path, limit=NO_LIMIT).close()
    except DataError as error:
        raise _damaged(path, str(error).removeprefix(f"{path}: ")) from None
    try:
        with closing(_connect(path)) as db:
            result = db.execute("PRAGMA integrity_check").fetchall()
            if result == [("ok",)]:
                tables = "SELECT name FROM sqlite_master WHERE type = 'table' AND sql NOT LIKE 'CREATE VIRTUAL%'"
                for (table,) in db.execute(tables).fetchall():
                    for _ in db.execute(f'SELECT * FROM "{table.replace(chr(34), chr(34) * 2)}"'):
                        pass
    except sqlite3.Error as error:
        raise _damaged(path, str(error)[:120]) from None
    except UnicodeDecodeError:  # integrity_check quoting bytes that are not text
        raise _damaged(path, "integrity_check: pages hold bytes that are not what they should be") from None
    if result != [("ok",)]:
        raise _damaged(path, f"integrity_check: {str(result[0][0])[:120] if result else 'no answer'}")


def _check_labels(path: Path) -> None:
    """Every stored label reads as what the label store expects (a changed byte in a row passes integrity_check)."""
    from labelgraph.critic.acceptance import Estimate
    from labelgraph.stores.labels import HumanLabel, MachineLabel, StoredVerdict

    keys = ("id", "round", "label", "kind", "shown", "machine_label", "reviewer")
    with closing(_connect(path)) as db:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        try:
            if "machine" in tables:
                for (body,) in db.execute("SELECT body FROM machine"):
                    MachineLabel.model_validate_json(body)
            if "verdicts" in tables:
                for body, status in db.execute("SELECT body, status FROM verdicts"):
                    if StoredVerdict.model_validate_json(body).status != status:
                        raise ValueError(f"a verdict's status {status!r} differs from its body")
            if "human" in tables:
                for row in db.execute(f"SELECT {', '.join(keys)} FROM human"):
                    HumanLabel(**dict(zip(keys, row, strict=True)))
            if "meta" in tables:
                for (body,) in db.execute("SELECT value FROM meta WHERE key = 'estimate'"):
                    Estimate.model_validate_json(body)
        except ValueError as error:  # pydantic's too
            raise _damaged(path, f"a stored label does not read: {str(error).splitlines()[0][:120]}") from None


def _check_checkpoint(path: Path, thread_id: str) -> None:
    """The run's last checkpoint deserialises (a changed byte inside it passes integrity_check)."""
    from langgraph.checkpoint.sqlite import SqliteSaver
    from langgraph.types import Interrupt

    from labelgraph.graphs.checkpoint import serializer

    with closing(_connect(path)) as db:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "checkpoints" not in tables:
            return
        try:
            saved = SqliteSaver(db, serde=serializer()).get_tuple({"configurable": {"thread_id": thread_id}})
            keys = {"channel_values", "channel_versions", "versions_seen"}
            if saved is not None and not (isinstance(saved.checkpoint, dict) and keys <= set(saved.checkpoint)):
                raise TypeError("a checkpoint without its channels")
            for _, channel, value in saved.pending_writes or [] if saved else []:
                if channel == "__interrupt__" and not all(isinstance(one, Interrupt) for one in value):
                    raise TypeError("a pause for review that did not deserialise")
        except Exception as error:  # whatever msgpack, JSON or pydantic raise on bytes that are not a checkpoint
            raise _damaged(path, f"the last checkpoint does not read ({type(error).__name__})") from None


def _read_meta(path: Path) -> tuple[ProjectConfig, str]:
    """The settings and thread id in a run folder's run.json; RunDamaged if it cannot be read."""
    file = path / RUN_FILE
    try:
        meta = json.loads(read_limited(file, limit=MAX_RUN_FILE_BYTES))
    except DataError as error:
        raise _damaged(file, str(error).removeprefix(f"{file}: ")) from None
    except (ValueError, RecursionError) as error:  # JSON errors, bytes that are not UTF-8
        raise _damaged(file, f"not valid JSON: {str(error).splitlines()[0][:120]}") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("thread_id"), str) or "config" not in meta:
        raise _damaged(file, "not a run file: no thread_id or config")
    if not meta["thread_id"].isprintable() or not meta["thread_id"].strip():
        raise _damaged(file, f"thread_id {meta['thread_id']!r} is not a name")
    try:
        return ProjectConfig.model_validate(meta["config"]), meta["thread_id"]
    except ValueError as error:  # pydantic
        first = str(error).splitlines()[0]
        raise RunError(
            f"{file}: not a run file this version of labelgraph can read ({first}); "
            f"{_NEW_RUN} (the old folder is left as it is)"
        ) from None


def _check_test_labels(config: ProjectConfig, counts: dict[str, int]) -> None:
    """A warning line when the test set lacks some of the project's labels (the first rows of a sorted file):
    its accuracy then leaves them out and its macro-F1 counts each as 0, which reads as a broken student."""
    missing = [name for name in config.label_names if name not in counts]
    if missing:
        has = ", ".join(f"{name} {count}" for name, count in counts.items())
        log.warning(
            f"warning: the test set {config.test} has no {', '.join(map(repr, missing))} "
            f"item{'s' * (len(missing) > 1 or counts == {})} ({has}): its accuracy leaves "
            f"{'that label' if len(missing) == 1 else 'those labels'} out and its macro-F1 counts "
            f"{'it' if len(missing) == 1 else 'each'} as 0; give a test set with every label (a random sample of "
            "the data, not its first rows)"
        )


def _write_run(path: Path, config: ProjectConfig, embedder: Embedder | None) -> None:
    """Read the project's files into the item store, embed its texts, write run.json last."""
    read = {
        "text_field": config.text_field,
        "id_field": config.id_field,
        "label_field": config.label_field,
        "labels": config.label_names,
        "max_text_chars": config.max_text_chars,
    }
    with ItemWriter(path / ITEMS_FILE) as writer:
        writer.add_pool(iter_items(config.pool, unique=False, warn_line_ids=True, **read), config.pool, config.id_field)
        # a seed or test file, often made apart from the pool, may name its columns text, id and label
        if config.seed is not None:
            writer.add_seeds(iter_items(config.seed, require_label=True, standard_names=True, **read))
        if config.test is not None:
            test = iter_items(config.test, require_label=True, unique=False, standard_names=True, **read)
            writer.add_test(test, config.test, config.id_field)
            _check_test_labels(config, writer.label_counts("test_items"))
        embedder = embedder or embedder_for(config)  # over Ray with scale.ray; the cache stays in front
        root = cache_folder()
        cache = EmbeddingCache(root, model_key(embedder)) if root is not None else None

        for table, file in (("items", "vectors.npy"), ("test_items", "test_vectors.npy")):
            rows = writer.count(table)
            if rows == 0 and table == "test_items":
                continue
            # texts go EMBED_ROWS at a time: more than that show one task for the whole pool, not one a batch
            with task("embedding", total=rows) if rows > EMBED_ROWS else nullcontext(None) as advance:

                def embed(texts: list[str], advance: Any = advance) -> np.ndarray:
                    return embed_texts(embedder, texts, cache, progress=advance)

                _save_embedded(path / file, writer.texts(table, EMBED_ROWS), rows, embed, config.scale.vectors)
    meta = {
        "thread_id": f"{config.name}-{uuid.uuid4().hex[:12]}",
        "config": config.model_dump(mode="json"),
    }
    write_atomic(path / RUN_FILE, json.dumps(meta, indent=2).encode("utf-8"))


FIXED_SETTINGS = frozenset(
    {"name", "pool", "seed", "test", "labels", "text_field", "id_field", "label_field", "embedding_model",
     "max_text_chars", "memory", "checkpoints", "run_dir", "random_seed"}
)  # fmt: skip
"""Settings that give a run's labels, texts and vectors their meaning: changing one needs a new run folder.
Every other setting may change between two commands; the run goes on with it."""


@dataclass
class Workspace:
    """A run folder, opened: its settings, its item store (texts read by row when needed) and its vectors
    (memory-mapped). Nothing here holds every text; the ids, in row order, are read once when first asked for."""

    path: Path
    config: ProjectConfig
    thread_id: str
    item_store: ItemStore
    vectors: np.ndarray
    test_vectors: np.ndarray
    _views: dict[str, ItemView] = field(default_factory=dict, repr=False)

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints.sqlite"

    def close(self) -> None:
        """Release the item store's connection (the vectors' maps go with the arrays)."""
        self.item_store.close()

    @property
    def memory_path(self) -> Path:
        return self.path / "memory"

    @property
    def items(self) -> ItemView:
        """Pool and seed items in row order (the rows of ``vectors``), with gold labels and the ``in_pool`` and
        ``seed`` flags in ``meta``: a sequence read from the store a block at a time, not a list in memory."""
        return self._views.setdefault("items", ItemView(self.item_store, "items"))

    @property
    def test_items(self) -> ItemView:
        """The test set's items, in the rows of ``test_vectors`` (empty without a test set)."""
        return self._views.setdefault("test_items", ItemView(self.item_store, "test_items"))

    @cached_property
    def ids(self) -> list[str]:
        """Every pool and seed id, in row order (read once)."""
        return self.item_store.ids()

    @cached_property
    def pool_ids(self) -> list[str]:
        """The pool's ids (not seed-only ones), in pool order (computed once)."""
        ids = self.ids
        return [ids[row] for row in self.item_store.pool_rows()]

    @cached_property
    def row_of(self) -> dict[str, int]:
        """Each pool or seed id's row (of ``vectors`` and the store)."""
        return {item_id: row for row, item_id in enumerate(self.ids)}

    def seed_items(self) -> list[Item]:
        """Items with a seed label (seed-only ones and pool texts the seed file labelled), in row order."""
        return self.item_store.get(self.item_store.seed_rows())

    def gold(self) -> dict[str, str]:
        """Labels the pool file came with (seed labels on pool texts too), by id."""
        return self.item_store.gold()

    @classmethod
    def create(cls, config: ProjectConfig, *, embedder: Embedder | None = None) -> Workspace:
        """Validate the project's files, embed every text once, and write the run folder.

        The files are read row by row into the item store (nothing holds every text), then the texts are embedded
        a batch at a time, streamed from the store. Vectors come from the machine's embedding cache where it has
        them (``labelgraph.encoding.cache``), so a second run on the same texts embeds nothing. ``embedder`` replaces
        the project's model (evals pass one that caches vectors across runs).
        """
        assert config.run_dir is not None, "config must be resolved first"
        spec = getattr(embedder, "model_spec", None)  # the run folder names the model its vectors come from
        if isinstance(spec, str) and spec and canonical(spec) != config.embedding_model:
            config = config.model_copy(update={"embedding_model": canonical(spec)})
        path = config.run_dir
        if (path / RUN_FILE).exists():
            existing = cls.open(path)
            if "embedding_model" not in config.model_fields_set and embedder is None:  # named nowhere: the folder's
                config = config.model_copy(update={"embedding_model": existing.config.embedding_model})
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
        check_run_dir(config)  # never write among the user's own files
        if embedder is None and not is_plugin(config.embedding_model):
            source(config.embedding_model)  # a missing model is one line, before the folder is made
        made_folder = not path.exists()
        path.mkdir(parents=True, exist_ok=True)
        try:
            _write_run(path, config, embedder)
        except BaseException:
            if made_folder:  # a bad file leaves no folder behind, as when everything was read before writing
                with suppress(OSError):  # the writers removed their temporary files; anything else stays
                    path.rmdir()
            raise
        return cls.open(path)

    @classmethod
    def open(cls, path: Path) -> Workspace:
        """The run in folder ``path``, every file checked first: RunDamaged names a damaged one."""
        path = Path(path)
        if not (path / RUN_FILE).exists():
            raise RunNotFound(f"{path}: not a run folder (no {RUN_FILE}); start one with 'labelgraph run PROJECT'")
        config, thread_id = _read_meta(path)
        if os.path.lexists(path / ITEMS_FILE) or not os.path.lexists(path / "items.jsonl"):
            _check_sqlite(path / ITEMS_FILE)
            store = _open_store(path / ITEMS_FILE)
            tests = store.count("test_items")
        else:  # a folder from before the item store: read as it was, changed in nothing
            items = _load_items(path / "items.jsonl")
            test_items = _load_items(path / "test.jsonl") if (path / "test.jsonl").exists() else []
            for name, loaded in (("items.jsonl", items), ("test.jsonl", test_items)):
                if len({item.id for item in loaded}) != len(loaded):
                    raise _damaged(path / name, "an id is on two lines")
            store, tests = ItemStore.from_items(items, test_items), len(test_items)
            del items, test_items
        vectors = _load_vectors(path / "vectors.npy", store.count())
        test_vectors = np.zeros((0, vectors.shape[1]), dtype=np.float32)
        if tests:
            test_vectors = _load_vectors(path / "test_vectors.npy", tests, vectors.shape[1])
            test_vectors = test_vectors.astype(np.float32, copy=False)  # a test set is small: float32 in memory
        for name in SQLITE_FILES:
            if name == ITEMS_FILE:  # checked above, before its rows were read
                continue
            if os.path.lexists(path / name):
                _check_sqlite(path / name)
        if (path / "labels.sqlite").exists():
            _check_labels(path / "labels.sqlite")
        if (path / "checkpoints.sqlite").exists():
            _check_checkpoint(path / "checkpoints.sqlite", thread_id)
        return cls(path, config, thread_id, store, vectors, test_vectors)

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
