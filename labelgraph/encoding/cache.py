"""The embedding cache: each text's vector by (model, SHA-256 of the text), shared by every run on the machine.

    ROOT/MODEL-KEY/index.sqlite    text hash -> shard, row, and a checksum of the row's bytes
    ROOT/MODEL-KEY/shards/*.npy    float32 vectors, one file per batch written, memory-mapped when read

ROOT is the project's ``embedding_cache`` setting, else ``$LABELGRAPH_EMBED_CACHE``, else
``$XDG_CACHE_HOME/labelgraph/embeddings`` (``~/.cache/labelgraph/embeddings``); ``off`` in either turns it off.
MODEL-KEY names the model and what its vectors depend on besides the text (``cache_key``: for a
sentence-transformers model the libraries' versions and the batching), so another model, or an upgrade, never
shares vectors. A sentence-transformers model gives a text the same bits whatever texts are embedded beside it
(see ``labelgraph.encoding.embedders``): vectors from the cache equal a fresh embedding's bit for bit.

Embedding goes in batches of ``FLUSH_ROWS`` texts, each written before the next starts: a killed run loses at most
the batch in progress, and the next one embeds only what is missing. A shard is written to a temporary file,
synced and renamed, and its rows enter the index in one transaction after that: a kill leaves either a shard no
row points to (removed later) or nothing. Every row read is checked against its checksum, so a truncated or changed
shard, or a damaged index, gives one warning line and its texts are embedded again (the cache repairs itself);
it is never a traceback, and never a wrong vector. A cache that cannot be written (read-only, disk full) is
bypassed with one warning.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np

from labelgraph.data import process_alive
from labelgraph.progress import PROGRESS_BATCHES, task
from labelgraph.stores.connection import open_sqlite

__all__ = ["EmbeddingCache", "cache_folder", "embed_texts", "model_key"]

log = logging.getLogger(__name__)

ENV = "LABELGRAPH_EMBED_CACHE"
LEGACY_ENV = "LABELGRAPH_VECTOR_CACHE"
"""The test suite's session cache (a SQLite file); when it is set and ``ENV`` is not, the cache is ``FILE.d``."""
OFF = frozenset({"off", "false", "no", "0", "none"})
FLUSH_ROWS = 4096
"""Texts embedded between two writes to the cache (about 10 s of MiniLM on 2 cores): what a kill can lose."""
ORPHAN_SECONDS = 3600.0
"""A shard no index row points to is removed once this old (younger, its writer may not have committed yet)."""
_CHECK_ROWS = 4096
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS shards (
    id INTEGER PRIMARY KEY, file TEXT NOT NULL UNIQUE, rows INTEGER NOT NULL, dim INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS vectors (
    key BLOB PRIMARY KEY, shard INTEGER NOT NULL, row INTEGER NOT NULL, checksum INTEGER NOT NULL
) WITHOUT ROWID;
"""
_lock = threading.Lock()
_warned: set[str] = set()


def _warn(message: str) -> None:
    """One line on stderr (once a process for the same message)."""
    with _lock:
        if message in _warned:
            return
        _warned.add(message)
    log.warning(message)


def cache_folder(setting: Path | str | None = None) -> Path | None:
    """The cache's root folder: the project's setting, else the environment's, else the per-user cache folder;
    None when turned off."""
    if setting is not None:
        return None if str(setting).strip().lower() in OFF else Path(setting).expanduser()
    value = os.environ.get(ENV, "").strip()
    if value:
        return None if value.lower() in OFF else Path(value).expanduser()
    legacy = os.environ.get(LEGACY_ENV, "").strip()
    if legacy:
        return Path(f"{legacy}.d")
    base = os.environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(base) if os.path.isabs(base) else Path.home() / ".cache") / "labelgraph" / "embeddings"


def model_key(embedder: Any) -> str:
    """What an embedder's vectors depend on besides the text: its ``cache_key`` if it has one, else its class and
    name (a plug-in whose vectors change should change its name or ``cache_key``)."""
    key = getattr(embedder, "cache_key", None)
    if isinstance(key, str) and key:
        return key
    kind = type(embedder)
    return f"{kind.__module__}.{kind.__qualname__}:{embedder.name}"


def text_hash(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


_weights: dict[int, np.ndarray] = {}


def checksums(rows: np.ndarray) -> np.ndarray:
    """One signed 64-bit checksum per row of its bytes: a weighted sum of its 16-bit words (odd weights, so a change
    of any one word always shows), computed ``_CHECK_ROWS`` rows at a time."""
    rows = np.ascontiguousarray(rows)
    words = rows.view(np.uint16).reshape(len(rows), -1)
    width = words.shape[1]
    if width not in _weights:
        _weights[width] = np.random.default_rng(0x1ABE16).integers(0, 2**63, size=width, dtype=np.uint64) | 1
    weights = _weights[width]
    out = np.empty(len(rows), dtype=np.uint64)
    for start in range(0, len(rows), _CHECK_ROWS):
        chunk = words[start : start + _CHECK_ROWS].astype(np.uint64)
        out[start : start + _CHECK_ROWS] = (chunk * weights).sum(axis=1, dtype=np.uint64)
    return out.view(np.int64)


class EmbeddingCache:
    """The vectors of one model (one ``model_key``) in the cache folder ``root``."""

    def __init__(self, root: Path, key: str):
        self.key = key
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", key.split("|")[0].rpartition(":")[2] or "model")[:48]
        self.folder = Path(root) / f"{slug}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"
        self.shards = self.folder / "shards"
        self.broken = False  # set once the cache cannot be used: this process goes on without it
        self._ready = False

    def __repr__(self) -> str:
        return f"EmbeddingCache({str(self.folder)!r})"

    # -- the index ---------------------------------------------------------------------------------
    @contextmanager
    def _index(self) -> Iterator[sqlite3.Connection]:
        db = open_sqlite(self.folder / "index.sqlite", managed=False, timeout=120)
        try:
            with db:
                yield db
        finally:
            db.close()

    def _prepare(self) -> None:
        """Create the folder and index, check the index is this model's, and tidy what killed writers left."""
        if self._ready:
            return
        self.shards.mkdir(parents=True, exist_ok=True)
        with self._index() as db:
            db.executescript(_SCHEMA)
            db.execute("INSERT OR IGNORE INTO meta VALUES ('model', ?)", (self.key,))
            stored = db.execute("SELECT value FROM meta WHERE key = 'model'").fetchone()
            if stored is None or stored[0] != self.key:
                raise sqlite3.DatabaseError(f"the index is another model's ({str(stored)[:60]})")
            known = {file for (file,) in db.execute("SELECT file FROM shards")}
        now = time.time()
        for path in self.shards.iterdir():
            try:
                age = now - path.stat().st_mtime
                if path.name.startswith(".") and ".tmp-" in path.name:  # a killed writer's half-written shard
                    pid = path.name.rpartition(".tmp-")[2].split("-")[0]
                    if pid.isdigit() and not process_alive(int(pid)):
                        path.unlink()
                elif path.suffix == ".npy" and path.name not in known and age > ORPHAN_SECONDS:
                    path.unlink()  # written, then killed before its rows were committed
            except OSError:
                pass
        self._ready = True

    def _damaged(self, reason: str) -> None:
        """The index cannot be read: start this model's cache again (its texts are embedded again)."""
        _warn(f"warning: the embedding cache {self.folder} is damaged ({reason}); it is rebuilt")
        self._ready = False
        try:
            shutil.rmtree(self.folder)
            self._prepare()
        except (OSError, sqlite3.Error) as error:
            self._bypass(error)

    def _bypass(self, error: BaseException) -> None:
        self.broken = True
        reason = str(error).splitlines()[0][:160] if str(error) else type(error).__name__
        _warn(f"warning: the embedding cache {self.folder} cannot be used ({reason}); embedding without it")

    # -- reading -----------------------------------------------------------------------------------
    def get(self, keys: list[bytes]) -> tuple[np.ndarray, np.ndarray | None]:
        """The positions in ``keys`` found, and their vectors (None if none found). A damaged shard or index gives
        a warning, and its texts count as not found (and are removed from the index)."""
        none = (np.zeros(0, dtype=np.int64), None)
        if self.broken or not keys:
            return none
        for attempt in range(2):
            try:
                self._prepare()
                with self._index() as db:
                    return self._read(db, keys)
            except sqlite3.DatabaseError as error:  # corrupt or not a database: a disk error or a mangled file
                if attempt or isinstance(error, sqlite3.OperationalError):
                    self._bypass(error)
                    return none
                self._damaged(str(error).splitlines()[0][:120] if str(error) else "unreadable index")
            except (OSError, sqlite3.Error) as error:
                self._bypass(error)
                return none
        return none

    def _read(self, db: sqlite3.Connection, keys: list[bytes]) -> tuple[np.ndarray, np.ndarray | None]:
        db.execute("CREATE TEMP TABLE IF NOT EXISTS wanted (position INTEGER PRIMARY KEY, key BLOB NOT NULL)")
        db.execute("DELETE FROM wanted")
        db.executemany("INSERT INTO wanted VALUES (?, ?)", enumerate(keys))
        found = db.execute(
            "SELECT wanted.position, vectors.shard, vectors.row, vectors.checksum, shards.file, shards.rows, "
            "shards.dim FROM wanted JOIN vectors ON vectors.key = wanted.key "
            "LEFT JOIN shards ON shards.id = vectors.shard ORDER BY vectors.shard, vectors.row"
        ).fetchall()
        db.execute("DELETE FROM wanted")
        if not found:
            return np.zeros(0, dtype=np.int64), None
        positions = np.fromiter((row[0] for row in found), dtype=np.int64, count=len(found))
        shard_ids = np.fromiter((row[1] for row in found), dtype=np.int64, count=len(found))
        rows = np.fromiter((row[2] for row in found), dtype=np.int64, count=len(found))
        expected = np.fromiter((row[3] for row in found), dtype=np.int64, count=len(found))
        dims = {row[6] for row in found}
        if len(dims) != 1 or None in dims:
            raise sqlite3.DatabaseError("rows point to shards the index does not list")
        dim = int(dims.pop())
        vectors = np.empty((len(found), dim), dtype=np.float32)
        good = np.ones(len(found), dtype=bool)
        bad_shards: list[int] = []
        starts = np.flatnonzero(np.r_[True, shard_ids[1:] != shard_ids[:-1]])
        for first, last in zip(starts, [*starts[1:], len(found)], strict=True):
            _, shard, _, _, file, count, _ = found[first]
            taken = slice(first, last)
            problem = self._fill(self.shards / file, count, dim, rows[taken], expected[taken], vectors[taken])
            if problem is not None:
                good[taken] = False
                bad_shards.append(shard)
                if problem:  # not a shard removed by another process just now: say it
                    _warn(f"warning: embedding cache shard {self.shards / file} is damaged ({problem}); its texts "
                          "are embedded again")  # fmt: skip
        if bad_shards:
            self._forget(db, bad_shards)
        if not good.all():
            positions, vectors = positions[good], vectors[good]
        return positions, (vectors if len(positions) else None)

    def _fill(
        self, path: Path, count: int, dim: int, rows: np.ndarray, expected: np.ndarray, out: np.ndarray
    ) -> str | None:
        """Copy ``rows`` of one shard into ``out``; the reason it cannot be read ('' if it is gone), else None."""
        try:
            mapped = np.load(path, mmap_mode="r", allow_pickle=False)
        except FileNotFoundError:
            return ""
        except Exception as error:  # whatever NumPy raises on a file that is not an array (ValueError, OSError...)
            return (str(error).splitlines() or [type(error).__name__])[0][:120]
        if not isinstance(mapped, np.ndarray) or mapped.dtype != np.float32 or mapped.shape != (count, dim):
            return f"{getattr(mapped, 'dtype', '?')} {getattr(mapped, 'shape', '?')}, the index says {count} x {dim}"
        if len(rows) and (rows.min() < 0 or rows.max() >= count):
            return "rows beyond its end"
        out[:] = mapped[rows]
        del mapped
        if not np.array_equal(checksums(out), expected):
            return "its bytes differ from the checksums written with them"
        return None

    def _forget(self, db: sqlite3.Connection, shards: list[int]) -> None:
        """Drop damaged shards from the index and the disk (their texts are then embedded again)."""
        for shard in shards:
            file = db.execute("SELECT file FROM shards WHERE id = ?", (shard,)).fetchone()
            db.execute("DELETE FROM vectors WHERE shard = ?", (shard,))
            db.execute("DELETE FROM shards WHERE id = ?", (shard,))
            if file is not None:
                (self.shards / file[0]).unlink(missing_ok=True)

    # -- writing -----------------------------------------------------------------------------------
    def put(self, keys: list[bytes], vectors: np.ndarray) -> None:
        """Keep ``vectors`` (one row per key): a shard file, then its rows in the index in one transaction."""
        if self.broken or not keys:
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        assert vectors.shape[0] == len(keys), "one vector per key"
        name = f"{uuid.uuid4().hex}.npy"
        try:
            self._prepare()
            tmp = self.shards / f".{name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
            try:
                with open(tmp, "wb") as handle:
                    np.save(handle, vectors, allow_pickle=False)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, self.shards / name)
            finally:
                tmp.unlink(missing_ok=True)
            sums = checksums(vectors).tolist()
            with self._index() as db:
                shard = db.execute(
                    "INSERT INTO shards (file, rows, dim) VALUES (?, ?, ?)", (name, len(keys), vectors.shape[1])
                ).lastrowid
                db.executemany(
                    "INSERT OR IGNORE INTO vectors VALUES (?, ?, ?, ?)",
                    ((key, shard, row, sums[row]) for row, key in enumerate(keys)),
                )
        except (OSError, sqlite3.Error) as error:
            (self.shards / name).unlink(missing_ok=True)
            self._bypass(error)

    def stats(self) -> dict[str, int]:
        """Texts and shards held (for people and benchmarks)."""
        self._prepare()
        with self._index() as db:
            texts = db.execute("SELECT count(*) FROM vectors").fetchone()[0]
            shards = db.execute("SELECT count(*) FROM shards").fetchone()[0]
        return {"texts": int(texts), "shards": int(shards)}


def embed_texts(
    embedder: Any,
    texts: list[str],
    cache: EmbeddingCache | None = None,
    progress: Callable[..., None] | None = None,
) -> np.ndarray:
    """The texts' vectors (float32, one row each): from the cache where it has them, the rest from ``embedder``
    in batches of ``FLUSH_ROWS``, each kept in the cache before the next (a killed run resumes after the last one
    written). Texts given twice are embedded once. Progress shows when more than a few batches are missing;
    ``progress(count)``: advance a caller's task instead (by every text, found in the cache or embedded)."""
    if cache is None or cache.broken:
        if hasattr(embedder, "embed_uncached"):  # the model itself: its embed may consult a cache
            return _checked(embedder.embed_uncached(texts, progress=progress), len(texts))
        vectors = _checked(embedder.embed(texts), len(texts))
        if progress is not None:
            progress(len(texts))
        return vectors
    hashes = [text_hash(text) for text in texts]
    first: dict[bytes, int] = {}
    for position, key in enumerate(hashes):
        first.setdefault(key, position)
    unique = list(first)
    positions, found = cache.get(unique)
    have = np.zeros(len(unique), dtype=bool)
    have[positions] = True
    missing = np.flatnonzero(~have).tolist()
    missing.sort(key=lambda index: -len(texts[first[unique[index]]]))  # like lengths together: little padding
    vectors: np.ndarray | None = None
    if found is not None:
        vectors = np.empty((len(unique), found.shape[1]), dtype=np.float32)
        vectors[positions] = found
        del found
    # a sentence-transformers embedder: ``embed_uncached`` is the model alone, advancing this progress, not its own
    quiet = hasattr(embedder, "embed_uncached")
    shown = progress is None and len(missing) > getattr(embedder, "batch_size", 64) * PROGRESS_BATCHES
    if progress is not None:  # what the cache had, and repeats of a text, count as done
        progress(len(texts) - len(missing))
    with task("embedding", total=len(missing)) if shown else nullcontext(progress) as advance:
        for start in range(0, len(missing), FLUSH_ROWS):
            batch = missing[start : start + FLUSH_ROWS]
            batch_texts = [texts[first[unique[index]]] for index in batch]
            if quiet:  # the model itself: its embed would consult a cache again
                made = embedder.embed_uncached(batch_texts, progress=advance or (lambda count=1: None))
            else:
                made = embedder.embed(batch_texts)
            made = _checked(made, len(batch))
            if vectors is None:
                vectors = np.empty((len(unique), made.shape[1]), dtype=np.float32)
            elif made.shape[1] != vectors.shape[1]:
                raise ValueError(f"the model gave {made.shape[1]} dimensions, the cache holds {vectors.shape[1]}")
            vectors[batch] = made
            cache.put([unique[index] for index in batch], made)
            if advance is not None and not quiet:
                advance(len(batch))
    assert vectors is not None
    if len(unique) == len(texts):
        return vectors
    slot = {key: index for index, key in enumerate(unique)}
    return vectors[np.fromiter((slot[key] for key in hashes), dtype=np.int64, count=len(hashes))]


def _checked(vectors: Any, rows: int) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[0] != rows:
        raise ValueError(f"the embedding model gave vectors of shape {vectors.shape} for {rows} texts")
    return vectors
