"""A run folder's items in SQLite (``items.sqlite``): one row per text, read by row when needed, never all at once.

    items       row (= the row of vectors.npy), id, text, label (gold or seed), meta (JSON object, NULL for none),
                line (of the file it came from), in_pool, seed
    test_items  the same for the test set (row = the row of test_vectors.npy), without the two flags
    info        key/value: the format version

:class:`ItemWriter` fills a new store from the project's files row by row, in batches, into a temporary file that
is renamed when complete; a repeated id is found by the store's unique index (no set of a million ids in memory).
:class:`ItemStore` reads one: ids in row order, items and texts by row, the pool's gold labels. A run folder from
before the store (``items.jsonl``) is read into an in-memory store of the same shape (:meth:`ItemStore.from_items`).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, overload

from labelgraph.data import Item, ItemRow, duplicate_id, remove_stale_temps
from labelgraph.stores.connection import open_existing_sqlite

__all__ = ["FORMAT", "ItemStore", "ItemView", "ItemWriter", "check_store"]

FORMAT = "1"
"""The store's format version (``info.format``)."""
BATCH = 8192
"""Rows written, or read, at a time."""
_BLOCK = 4096
"""Rows an :class:`ItemView` reads ahead when indexed one row at a time."""
_SCHEMA = """
CREATE TABLE info (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE items (
    row INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, text TEXT NOT NULL, label TEXT, meta TEXT,
    line INTEGER NOT NULL, in_pool INTEGER NOT NULL, seed INTEGER NOT NULL
);
CREATE TABLE test_items (
    row INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, text TEXT NOT NULL, label TEXT, meta TEXT,
    line INTEGER NOT NULL
);
"""
TABLES = ("items", "test_items")
_COLUMNS = {
    "items": ("row", "id", "text", "label", "meta", "line", "in_pool", "seed"),
    "test_items": ("row", "id", "text", "label", "meta", "line"),
}


_encode = json.JSONEncoder(ensure_ascii=False).encode  # one encoder: json.dumps makes one a call with options


def _meta_json(columns: dict[str, Any]) -> str | None:
    return _encode({"columns": columns}) if columns else None


class ItemWriter:
    """Write a new ``items.sqlite``: pool rows first (file order), then seed-only rows, then the test set.

    Used as a context manager: the file appears at ``path`` only when the block ends without an error; otherwise
    the temporary file is removed.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        remove_stale_temps(self.path)
        self._tmp = self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        self._db = sqlite3.connect(self._tmp, isolation_level=None)
        self._db.execute("PRAGMA journal_mode = MEMORY")  # a new file: nothing to protect until it is renamed
        self._db.execute("PRAGMA synchronous = OFF")  # synced once, before the rename
        self._db.executescript(_SCHEMA)
        self._db.execute("INSERT INTO info VALUES ('format', ?)", (FORMAT,))
        self._db.execute("BEGIN")
        self._rows = {"items": 0, "test_items": 0}

    def __enter__(self) -> ItemWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: Any) -> None:
        try:
            if kind is None:
                self._db.execute("COMMIT")
                self._db.close()
                with open(self._tmp, "rb") as handle:
                    os.fsync(handle.fileno())
                os.replace(self._tmp, self.path)
        finally:
            self._db.close()
            self._tmp.unlink(missing_ok=True)

    def _insert(self, table: str, batch: list[tuple[Any, ...]], path: Path, field: str) -> None:
        """Insert rows; a repeated id is the DataError ``read_items`` gives, naming the first line it was on."""
        names = _COLUMNS[table]
        sql = f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
        try:
            self._db.executemany(sql, batch)
        except sqlite3.IntegrityError:
            for row in batch:  # rows before the failing one went in: the first whose id is on an earlier line
                found = self._db.execute(f"SELECT line FROM {table} WHERE id = ?", (row[1],)).fetchone()
                if found is not None and found[0] < row[5]:
                    raise duplicate_id(row[1], found[0], path, row[5], field) from None
            raise

    def _add(self, table: str, rows: Iterable[ItemRow], path: Path, field: str, flags: tuple[int, ...]) -> int:
        """Stream ``rows`` into ``table`` in batches; a bad row's error comes after the rows before it went in, so
        errors come in the file's order (a repeated id on line 5 before an empty text on line 9)."""
        batch: list[tuple[Any, ...]] = []
        start = self._rows[table]
        source = iter(rows)
        while True:
            try:
                one = next(source, None)
            except Exception:  # a bad row: a repeated id among the rows before it comes first
                self._insert(table, batch, path, field)
                raise
            if one is not None:
                row = self._rows[table] + len(batch)
                batch.append((row, one.id, one.text, one.label, _meta_json(one.columns), one.line, *flags))
            if batch and (one is None or len(batch) >= BATCH):
                self._insert(table, batch, path, field)
                self._rows[table] += len(batch)
                batch = []
            if one is None:
                return self._rows[table] - start

    def add_pool(self, rows: Iterable[ItemRow], path: Path, id_field: str = "id") -> int:
        """The pool file's rows (``iter_items(..., unique=False)``); returns how many."""
        return self._add("items", rows, Path(path), id_field, (1, 0))

    def add_seeds(self, rows: Iterable[ItemRow]) -> int:
        """The seed file's rows (ids checked unique by ``iter_items``): a seed of a pool text gives it its label,
        any other becomes a new row after the pool's; returns how many rows were added."""
        added = []
        for one in rows:
            found = self._db.execute("UPDATE items SET label = ?, seed = 1 WHERE id = ?", (one.label, one.id))
            if found.rowcount == 0:
                added.append(one)
        return self._add("items", added, Path(), "id", (0, 1))

    def add_test(self, rows: Iterable[ItemRow], path: Path, id_field: str = "id") -> int:
        """The test file's rows; returns how many."""
        return self._add("test_items", rows, Path(path), id_field, ())

    def texts(self, table: str = "items", batch: int = 65536) -> Iterator[list[str]]:
        """The texts written so far, in row order, ``batch`` at a time (to embed them before the file is final)."""
        for start in range(0, self._rows[table], batch):
            query = f"SELECT text FROM {table} WHERE row >= ? AND row < ? ORDER BY row"
            yield [text for (text,) in self._db.execute(query, (start, start + batch))]

    def count(self, table: str = "items") -> int:
        """Rows written to ``table``."""
        return self._rows[table]

    def label_counts(self, table: str = "test_items") -> dict[str, int]:
        """Rows written to ``table`` by label (rows without one left out)."""
        query = f"SELECT label, COUNT(*) FROM {_table(table)} WHERE label IS NOT NULL GROUP BY label ORDER BY label"
        return dict(self._db.execute(query).fetchall())


class ItemStore:
    """A read-only ``items.sqlite`` (or an in-memory store of an older run folder's items). Safe across threads."""

    def __init__(self, path: Path | None, connection: sqlite3.Connection | None = None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._db = connection if connection is not None else self._connect()
        self._counts: dict[str, int] = {}

    def _connect(self) -> sqlite3.Connection:
        assert self.path is not None
        return open_existing_sqlite(self.path)

    def _query(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            if os.getpid() != self._pid and self.path is not None:  # a forked child: a connection of its own
                self._db, self._pid = self._connect(), os.getpid()
            return self._db.execute(sql, parameters).fetchall()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @classmethod
    def from_items(cls, items: list[Item], test_items: list[Item]) -> ItemStore:
        """An in-memory store of items as an older run folder's ``items.jsonl`` held them (flags in ``meta``)."""
        db = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        db.executescript(_SCHEMA)
        db.execute("INSERT INTO info VALUES ('format', ?)", (FORMAT,))

        def split(item: Item) -> tuple[str | None, int, int]:
            meta = {k: v for k, v in item.meta.items() if k not in {"in_pool", "seed"}}
            flags = int(bool(item.meta.get("in_pool"))), int(bool(item.meta.get("seed")))
            return (_encode(meta) if meta else None, *flags)

        rows = [(row, i.id, i.text, i.label, *split(i)) for row, i in enumerate(items)]
        db.executemany("INSERT INTO items VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [(*r[:5], r[0] + 1, *r[5:]) for r in rows])
        tests = [(row, i.id, i.text, i.label, split(i)[0], row + 1) for row, i in enumerate(test_items)]
        db.executemany("INSERT INTO test_items VALUES (?, ?, ?, ?, ?, ?)", tests)
        return cls(None, db)

    def count(self, table: str = "items") -> int:
        """Rows in ``table``."""
        if table not in self._counts:
            self._counts[table] = int(self._query(f"SELECT count(*) FROM {_table(table)}")[0][0])
        return self._counts[table]

    def ids(self, table: str = "items") -> list[str]:
        """Every id, in row order."""
        return [item_id for (item_id,) in self._query(f"SELECT id FROM {_table(table)} ORDER BY row")]

    def pool_rows(self) -> list[int]:
        """Rows of the pool's texts (not seed-only ones), in order."""
        return [row for (row,) in self._query("SELECT row FROM items WHERE in_pool ORDER BY row")]

    def seed_rows(self) -> list[int]:
        """Rows with a seed label, in order."""
        return [row for (row,) in self._query("SELECT row FROM items WHERE seed ORDER BY row")]

    def gold(self) -> dict[str, str]:
        """The labels the pool file came with (and seed labels of pool texts), by id."""
        return dict(self._query("SELECT id, label FROM items WHERE in_pool AND label IS NOT NULL ORDER BY row"))

    def _fetch(self, table: str, rows: Sequence[int], columns: str) -> dict[int, tuple[Any, ...]]:
        """Rows by row number: a scan when they are many, else lookups a batch at a time."""
        wanted = sorted(set(rows))
        table = _table(table)
        if len(wanted) > self.count(table) // 4:
            keep = None if len(wanted) == self.count(table) else set(wanted)
            out = {}
            for start in range(0, self.count(table), 65536):
                query = f"SELECT row, {columns} FROM {table} WHERE row >= ? AND row < ? ORDER BY row"
                found = self._query(query, (start, start + 65536))
                out.update((r[0], r[1:]) for r in found if keep is None or r[0] in keep)
            return out
        out = {}
        for start in range(0, len(wanted), 900):
            chunk = wanted[start : start + 900]
            query = f"SELECT row, {columns} FROM {table} WHERE row IN ({', '.join('?' * len(chunk))})"
            out.update((r[0], r[1:]) for r in self._query(query, chunk))
        return out

    def texts(self, rows: Sequence[int], table: str = "items") -> list[str]:
        """The texts at ``rows``, in that order."""
        found = self._fetch(table, rows, "text")
        return [found[row][0] for row in rows]

    def public(self, rows: Sequence[int]) -> list[Item]:
        """Items as agents see them: id, text and the file's other columns, never the gold label nor the flags."""
        found = self._fetch("items", rows, "id, text, meta")
        return [_item(found[row][0], found[row][1], None, found[row][2]) for row in rows]

    def get(self, rows: Sequence[int], table: str = "items") -> list[Item]:
        """Whole items at ``rows`` (gold label; ``in_pool`` and ``seed`` in ``meta``, as run folders always had)."""
        found = self._fetch(table, rows, _FULL[_table(table)])
        return [_item(*found[row]) for row in rows]

    def iterate(self, table: str = "items", start: int = 0, stop: int | None = None) -> Iterator[Item]:
        """Whole items in row order, read ``BATCH`` at a time."""
        table = _table(table)
        stop = self.count(table) if stop is None else min(stop, self.count(table))
        query = f"SELECT {_FULL[table]} FROM {table} WHERE row >= ? AND row < ? ORDER BY row"
        for begin in range(start, stop, BATCH):
            yield from (_item(*row) for row in self._query(query, (begin, min(begin + BATCH, stop))))


_FULL = {"items": "id, text, label, meta, in_pool, seed", "test_items": "id, text, label, meta"}


def _table(name: str) -> str:
    if name not in TABLES:
        raise ValueError(f"no table {name!r}")
    return name


def _item(item_id: str, text: str, label: str | None, meta: str | None, in_pool: int = 0, seed: int = 0) -> Item:
    """An :class:`Item` from a stored row (pydantic's validation is quicker than its ``model_construct``)."""
    fields: dict[str, Any] = json.loads(meta) if meta else {}
    if in_pool:
        fields["in_pool"] = True
    if seed:
        fields["seed"] = True
    return Item(id=item_id, text=text, label=label, meta=fields)


class ItemView(Sequence[Item]):
    """The items of one table as a read-only sequence; indexed one row at a time, it reads a block of rows ahead
    (code that walks rows in order makes one query a block, not one a row) and keeps only that block."""

    def __init__(self, store: ItemStore, table: str = "items") -> None:
        self._store, self._table = store, _table(table)
        self._block: tuple[int, list[Item]] = (-1, [])

    def __len__(self) -> int:
        return self._store.count(self._table)

    @overload
    def __getitem__(self, index: int) -> Item: ...
    @overload
    def __getitem__(self, index: slice) -> list[Item]: ...
    def __getitem__(self, index: int | slice) -> Item | list[Item]:
        size = len(self)
        if isinstance(index, slice):
            return self._store.get(range(size)[index], self._table)
        index = int(index)
        if index < 0:
            index += size
        if not 0 <= index < size:
            raise IndexError("item row out of range")
        start, block = self._block
        if not start <= index < start + len(block):
            start = index - index % _BLOCK
            block = list(self._store.iterate(self._table, start, start + _BLOCK))
            self._block = (start, block)
        return block[index - start]

    def __iter__(self) -> Iterator[Item]:
        return self._store.iterate(self._table)

    def __bool__(self) -> bool:
        return len(self) > 0

    def __repr__(self) -> str:
        return f"<{len(self)} {self._table} of {self._store.path or 'memory'}>"


def check_store(db: sqlite3.Connection) -> str | None:
    """Why an ``items.sqlite`` (that passed ``integrity_check``) is not a store of items; None if it is one.

    Checks the format, the tables' columns, rows numbered 0..n-1 with no gap, and every value's type (a text
    is text, a meta is a JSON object), in SQL: no row becomes a Python object."""
    tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if not {"info", *TABLES} <= tables:
        return f"no {', '.join(sorted({'info', *TABLES} - tables))} table"
    found = db.execute("SELECT value FROM info WHERE key = 'format'").fetchone()
    if found is None or found[0] != FORMAT:
        return f"format {found[0] if found else 'missing'!r}, expected {FORMAT!r}"
    for table, columns in _COLUMNS.items():
        have = [row[1] for row in db.execute(f"PRAGMA table_info({table})")]
        if have[: len(columns)] != list(columns):
            return f"the {table} table has columns {', '.join(have)}"
        bad = (
            "typeof(id) != 'text' OR typeof(text) != 'text' OR (label IS NOT NULL AND typeof(label) != 'text') "
            "OR (meta IS NOT NULL AND (typeof(meta) != 'text' OR NOT json_valid(meta) OR json_type(meta) != 'object'))"
        )
        count, low, high, wrong = db.execute(f"SELECT count(*), min(row), max(row), sum({bad}) FROM {table}").fetchone()
        if count and (low != 0 or high != count - 1):
            return f"the {table} table's rows are not numbered 0 to {count - 1}"
        if wrong:
            return f"{wrong} row(s) of the {table} table hold a value of the wrong type"
    if db.execute("SELECT count(*) FROM items WHERE in_pool").fetchone()[0] == 0:
        return "no pool items"
    return None
