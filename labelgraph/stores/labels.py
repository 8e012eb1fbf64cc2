"""The label store: every machine annotation, critic verdict and human answer of a run, in SQLite (``labels.sqlite``
in the run folder) or, when the run's checkpoints are in PostgreSQL, in that database (a schema per run).

Bulk data lives here, not in the graph's checkpoint (which holds only the current round's ids), so a
checkpoint stays O(batch) however many labels the run has. Each node writes its rows as upserts keyed by item
id, computed only from rows of earlier rounds: a node re-run after a crash writes the same rows again.

    machine   one annotation per item (the annotator's label, confidence, votes; label NULL when it failed)
    verdicts  the critic's latest word per machine label: p_correct, accepted or proposed, reasons, signals
    human     one answer per item a person (or the seed file) labelled; label NULL = set aside
    relabels  each change of a committed answer after its commit (``Run.relabel``): who, when, old and new label
    draws     each draw of the person's batch (``labelgraph.critic.batch``): round, text, its probability, the rule
    answers   the inbox: each answer as a person gives it, kept until the graph commits it to ``human``; the first
              answer to an item wins, and a *claimed* answer (handed to the graph) can no longer be withdrawn
    synthetic the generator's texts: text, provenance (JSON) and float32 vector, by an id made from the text

Every query is written once, SQLite-style; a ``_Dialect`` fills in what the two databases spell differently
(placeholders, upserts, null-safe equality, the column that orders rows by their last write, table names).
"""

from __future__ import annotations

import hashlib
import itertools
import re
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, closing, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from labelgraph.config import CheckpointSettings
from labelgraph.data import LabelChange
from labelgraph.errors import ConfigError, ConflictError, RunError
from labelgraph.stores.connection import RECONNECT_WAIT, open_existing_sqlite, open_sqlite, postgres_dsn, postgres_pool

__all__ = [
    "ADOPTED_FILES",
    "HumanKind",
    "HumanLabel",
    "LabelStore",
    "MachineLabel",
    "OpenLabel",
    "StoredVerdict",
    "label_store_for",
    "schema_for",
]

HumanKind = Literal["seed", "explore", "fix", "audit"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS machine (
    id TEXT PRIMARY KEY, round INTEGER NOT NULL, label TEXT, confidence REAL NOT NULL,
    annotator TEXT NOT NULL, synthetic INTEGER NOT NULL, body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS verdicts (
    id TEXT PRIMARY KEY, round INTEGER NOT NULL, p_correct REAL NOT NULL, status TEXT NOT NULL, body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS human (
    id TEXT PRIMARY KEY, round INTEGER NOT NULL, label TEXT, kind TEXT NOT NULL, shown TEXT,
    machine_label TEXT, reviewer TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS relabels (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS relabels_id ON relabels (id);
CREATE TABLE IF NOT EXISTS draws (
    round INTEGER NOT NULL, position INTEGER NOT NULL, id TEXT NOT NULL, probability REAL NOT NULL,
    rule TEXT NOT NULL, PRIMARY KEY (round, position)
);
CREATE TABLE IF NOT EXISTS answers (
    item_id TEXT PRIMARY KEY, label TEXT, reviewer TEXT NOT NULL, round INTEGER NOT NULL, answered_at REAL NOT NULL,
    claimed INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS synthetic (
    id TEXT PRIMARY KEY, text TEXT NOT NULL, meta TEXT NOT NULL, vector BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS verdicts_status ON verdicts (status);
CREATE INDEX IF NOT EXISTS machine_round ON machine (round);
"""

_TABLES = ("machine", "verdicts", "human", "meta", "relabels", "draws", "answers", "synthetic")

_POSTGRES_SCHEMA = """
CREATE TABLE IF NOT EXISTS {machine} (
    id TEXT PRIMARY KEY, seq BIGSERIAL NOT NULL, round INTEGER NOT NULL, label TEXT,
    confidence DOUBLE PRECISION NOT NULL, annotator TEXT NOT NULL, synthetic INTEGER NOT NULL, body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS {verdicts} (
    id TEXT PRIMARY KEY, seq BIGSERIAL NOT NULL, round INTEGER NOT NULL, p_correct DOUBLE PRECISION NOT NULL,
    status TEXT NOT NULL, body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS {human} (
    id TEXT PRIMARY KEY, seq BIGSERIAL NOT NULL, round INTEGER NOT NULL, label TEXT, kind TEXT NOT NULL, shown TEXT,
    machine_label TEXT, reviewer TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS {meta} (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS {relabels} (seq BIGSERIAL PRIMARY KEY, id TEXT NOT NULL, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS relabels_id ON {relabels} (id);
CREATE TABLE IF NOT EXISTS {draws} (
    round INTEGER NOT NULL, position INTEGER NOT NULL, id TEXT NOT NULL, probability DOUBLE PRECISION NOT NULL,
    rule TEXT NOT NULL, PRIMARY KEY (round, position)
);
CREATE TABLE IF NOT EXISTS {answers} (
    item_id TEXT PRIMARY KEY, label TEXT, reviewer TEXT NOT NULL, round INTEGER NOT NULL,
    answered_at DOUBLE PRECISION NOT NULL, claimed INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS {synthetic} (
    id TEXT PRIMARY KEY, text TEXT NOT NULL, meta TEXT NOT NULL, vector BYTEA NOT NULL
);
CREATE INDEX IF NOT EXISTS verdicts_status ON {verdicts} (status);
CREATE INDEX IF NOT EXISTS machine_round ON {machine} (round);
CREATE INDEX IF NOT EXISTS machine_seq ON {machine} (seq)
"""
"""The SQLite tables in a schema of their own, plus ``seq``: SQLite's ``INSERT OR REPLACE`` gives a replaced row
a new rowid, so rows read back in the order of their last write; an upsert here takes a new ``seq`` for that."""

_POSTGRES_COLUMNS = {
    table: {column.split()[0] for column in re.sub(r",\s*PRIMARY KEY \([^)]*\)", "", body).split(",")}
    for table, body in re.findall(r"CREATE TABLE IF NOT EXISTS \{(\w+)\} \((.*?)\);", _POSTGRES_SCHEMA, re.S)
}
"""Each table's columns, read from the schema above (a table's own ``PRIMARY KEY (...)`` is not a column): a table of
that name with others is not the store's."""


def schema_for(run: str) -> str:
    """The PostgreSQL schema of a run's labels, from its thread id: ``labels_THREAD`` (within Postgres' 63 bytes,
    the end of a long name replaced by a hash of the whole)."""
    name = f"labels_{run}"
    if len(name.encode()) <= 63:
        return name
    digest = hashlib.sha256(run.encode()).hexdigest()[:16]
    return name.encode()[:46].decode(errors="ignore") + "_" + digest


ADOPTED_FILES = ("reviews.sqlite", "synthetic.sqlite")
"""Files of a run folder made up to 010994d whose rows now live in the store (``LabelStore.adopt``)."""

LOCK_WAIT = 30.0
"""Seconds a SQLite write waits for another process's transaction before it gives up in one line."""

WRITE_BATCH = 10_000
"""Rows of a write built and sent at a time (a round's verdicts at a million labels are not all in memory)."""


class _AlreadyAnswered(Exception):
    """An answer's item has one already: the transaction rolls back."""


class _NotAStore(Exception):
    """A schema of the label store's name holds tables of other columns."""


class _Dialect:
    """SQLite's spelling of the store's SQL (``labels.sqlite``)."""

    mark, same, order = "?", "IS", "rowid"
    lock_rows = ""
    """What a SELECT adds to keep its rows from other writers until the commit (BEGIN IMMEDIATE does it here)."""
    body_label = "json_extract(body, '$.label')"
    """The ``label`` field of a row's JSON body."""
    set_body_status = "json_set(body, '$.status', ?)"
    """A row's JSON body with its ``status`` field replaced."""

    def __init__(self) -> None:
        self.fields = {table: table for table in _TABLES}

    def sql(self, text: str) -> str:
        """``text`` with its {table}, {same}, {order} and {body_label} fields filled in and placeholders in this
        dialect's style."""
        words = {"same": self.same, "order": self.order, "body_label": self.body_label}
        words["set_body_status"], words["lock_rows"] = self.set_body_status, self.lock_rows
        text = text.format_map({**self.fields, **words})
        return text if self.mark == "?" else text.replace("?", self.mark)

    def connection(self, db: Any) -> AbstractContextManager[Any]:
        """The connection to use for one call: SQLite's own, which nothing can take away."""
        return nullcontext(db)

    def upsert(self, table: str, columns: tuple[str, ...]) -> str:
        """Insert a row into ``table``, or replace the one with its key (the first column)."""
        return f"INSERT OR REPLACE INTO {{{table}}} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"

    def setup(self, db: Any) -> None:
        """Create the tables that are missing."""
        db.executescript(_SCHEMA)

    @contextmanager
    def transaction(self, db: Any) -> Iterator[None]:
        """BEGIN IMMEDIATE (the write lock at once): committed whole, or rolled back whole. A lock another process
        held past ``LOCK_WAIT`` is one RunError line (nothing was written)."""
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as error:
            if "locked" not in str(error):
                raise
            raise RunError(
                f"the label store stayed busy for {LOCK_WAIT:g} s (another process writing a round); nothing was "
                "written: try again"
            ) from None
        try:
            yield
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise


class _PostgresDialect(_Dialect):
    """PostgreSQL's spelling: the run's tables in its own schema, upserts that move a row to the end as SQLite's do."""

    mark, same, order = "%s", "IS NOT DISTINCT FROM", "seq"
    lock_rows = " FOR UPDATE"
    body_label = "(body::json ->> 'label')"
    set_body_status = "jsonb_set(body::jsonb, '{status}', to_jsonb(?::text))::text"

    def __init__(self, schema: str) -> None:
        self.name = schema
        self.schema = '"' + schema.replace('"', '""') + '"'
        self.fields = {table: f"{self.schema}.{table}" for table in _TABLES}

    def connection(self, db: Any) -> AbstractContextManager[Any]:
        """A connection from the store's pool (``postgres_pool``), checked first: one lost to a restart or an idle
        timeout is replaced, so a call fails (one RunError line) only if the database stays away."""
        return db.connection()

    def upsert(self, table: str, columns: tuple[str, ...]) -> str:
        key, *rest = columns
        moves = table in ("machine", "verdicts", "human")  # the tables read back in write order
        sets = ", ".join([f"{column} = EXCLUDED.{column}" for column in rest] + (["seq = EXCLUDED.seq"] * moves))
        return (
            f"INSERT INTO {{{table}}} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
            f"ON CONFLICT ({key}) DO UPDATE SET {sets}"
        )

    def setup(self, db: Any) -> None:
        """Create the run's schema and the tables that are missing."""
        with db.transaction():  # one creator at a time: two runs opening at once do not race on the catalog
            db.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self.schema,))
            db.execute(f"CREATE SCHEMA IF NOT EXISTS {self.schema}")
            self.check(db)
            for statement in _POSTGRES_SCHEMA.format_map(self.fields).split(";"):
                db.execute(statement)

    def check(self, db: Any) -> None:
        """_NotAStore if a table of the schema has a store table's name but not its columns: the schema is
        something else's (or a label store of another version), and the store would fail at its first query."""
        found = db.execute(
            "SELECT table_name, array_agg(column_name::text ORDER BY ordinal_position) FROM information_schema.columns"
            " WHERE table_schema = %s GROUP BY table_name",
            (self.name,),
        ).fetchall()
        for table, columns in found:
            expected = _POSTGRES_COLUMNS.get(table)
            if expected is not None and set(columns) != expected:
                raise _NotAStore(
                    f"its table {table} has the columns {', '.join(columns)}, not a label store's "
                    f"({', '.join(sorted(expected))}): point the run at another database, or drop that schema"
                )

    def transaction(self, db: Any) -> AbstractContextManager[Any]:
        return db.transaction()


class MachineLabel(BaseModel):
    """One annotation as stored: the machine's label for an item (``label`` None when it failed)."""

    id: str
    round: int
    label: str | None
    confidence: float = 0.0
    annotator: str = ""
    synthetic: bool = False
    distribution: dict[str, float] = Field(default_factory=dict)
    votes: dict[str, int] = Field(default_factory=dict)
    tool_votes: dict[str, str] = Field(default_factory=dict)
    rationale: str = ""
    error: str | None = None
    intended: str | None = None
    parent: str | None = None
    judge: str | None = None
    """The LLM judge's verdict (accept, dispute, reject) when the project asks for one."""


@dataclass(frozen=True, slots=True)
class OpenLabel:
    """What the critic reads of a machine label: about 300 bytes, where a ``MachineLabel`` takes 1.7 KB (the
    critic scores every open label each round: 0.3 GB at a million, not 1.7)."""

    id: str
    label: str | None
    confidence: float
    votes: dict[str, int]
    tool_votes: dict[str, str]
    judge: str | None
    intended: str | None

    @classmethod
    def of(cls, m: MachineLabel) -> OpenLabel:
        return cls(m.id, m.label, m.confidence, m.votes, m.tool_votes, m.judge, m.intended)


class StoredVerdict(BaseModel):
    """The critic's latest verdict on a machine label."""

    id: str
    round: int
    label: str | None = None
    """The machine label judged."""
    p_correct: float
    status: Literal["accepted", "proposed", "rejected", "checked"]
    """``checked``: a person answered the text; ``p_correct`` is then out of fold (the calibration never saw it)."""
    reasons: list[str] = Field(default_factory=list)
    signals: dict[str, float] = Field(default_factory=dict)


class HumanLabel(BaseModel):
    """A person's answer (or a seed label): ``label`` None sets the item aside."""

    id: str
    round: int
    label: str | None
    kind: HumanKind
    shown: str | None = None
    """The machine label the person was shown (None for blind audits, explores and seeds)."""
    machine_label: str | None = None
    """The machine's label for the item when the person answered, shown or not (the critic learns from it)."""
    reviewer: str = ""


class LabelStore:
    """A run's labels: ``labels.sqlite`` at ``path``, or a PostgreSQL schema (``LabelStore.postgres``). Safe across
    threads (one connection under a lock) and processes: the loop writes from the process that holds the run (the run
    lock), answers from any (in SQLite a write waits for another's transaction, at most ``LOCK_WAIT`` s)."""

    def __init__(self, path: Path):
        dialect = _Dialect()
        db = None
        try:
            db = open_sqlite(path, timeout=LOCK_WAIT)  # WAL, synchronous: a killed process keeps every committed row
            dialect.setup(db)
        except sqlite3.DatabaseError as error:
            if db is not None:
                db.close()
            raise RunError(f"{path}: the label store is damaged ({error}); restore it from a backup") from None
        self._attach(db, dialect, Path(path))

    def _attach(self, db: Any, dialect: _Dialect, path: Path | None) -> None:
        self.path = path  # the SQLite file; None in PostgreSQL
        self._db, self._dialect = db, dialect  # the SQLite connection, or a pool of one PostgreSQL connection
        self._lock = threading.Lock()

    @classmethod
    def postgres(cls, dsn: str, *, run: str, source: str = "the DSN", wait: float | None = None) -> LabelStore:
        """The labels of run ``run`` (its thread id) in PostgreSQL, in schema ``schema_for(run)``, created on first
        use. A lost connection is re-established, each call waiting up to ``wait`` s (``RECONNECT_WAIT``) for the
        database to come back. Errors name ``source`` (where the DSN came from), never the DSN or its password."""
        wait = RECONNECT_WAIT if wait is None else wait
        what = "label store's database"
        pool = postgres_pool(dsn, source=source, what=what, wait=wait, autocommit=True, prepare_threshold=0)
        dialect = _PostgresDialect(schema_for(run))
        try:
            with pool.connection() as db:
                dialect.setup(db)
        except RunError:
            pool.close()
            raise
        except _NotAStore as error:
            pool.close()
            raise ConfigError(f"the schema {dialect.schema} ({source}) is not a label store: {error}") from None
        except Exception as error:
            pool.close()
            reason = " ".join(str(error).split())
            raise ConfigError(
                f"the label store's schema {dialect.schema} ({source}) cannot be made: {reason}"
            ) from None
        store = cls.__new__(cls)
        store._attach(pool, dialect, None)
        return store

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        """One write transaction under the lock: committed whole, or rolled back whole."""
        with self._lock, self._dialect.connection(self._db) as db, self._dialect.transaction(db):
            yield db

    def _write(self, sql: str, rows: Iterable[tuple[Any, ...]]) -> None:
        """Write every row in one transaction, ``WRITE_BATCH`` rows built at a time."""
        rows = iter(rows)
        batch = list(itertools.islice(rows, WRITE_BATCH))
        if not batch:
            return
        with self._transaction() as db:
            cursor = db.cursor()
            while batch:
                cursor.executemany(self._dialect.sql(sql), batch)
                batch = list(itertools.islice(rows, WRITE_BATCH))

    def _read(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock, self._dialect.connection(self._db) as db:
            return db.execute(self._dialect.sql(sql), args).fetchall()

    def _upsert(self, table: str, columns: tuple[str, ...]) -> str:
        return self._dialect.upsert(table, columns)

    # -- machine lane -------------------------------------------------------------------------------
    def put_machine(self, labels: Iterable[MachineLabel]) -> None:
        self._write(
            self._upsert("machine", ("id", "round", "label", "confidence", "annotator", "synthetic", "body")),
            (
                (m.id, m.round, m.label, m.confidence, m.annotator, int(m.synthetic), m.model_dump_json())
                for m in labels
            ),
        )

    def machine(self, *, before_round: int | None = None) -> dict[str, MachineLabel]:
        """Every annotation (of rounds before ``before_round`` when given), by item id, in write order. One object
        a label: for the critic, which scores them all; others page through ``iter_machine``."""
        sql, args = "SELECT body FROM {machine}", ()
        if before_round is not None:
            sql, args = sql + " WHERE round < ?", (before_round,)
        return {
            m.id: m
            for m in (MachineLabel.model_validate_json(row[0]) for row in self._read(sql + " ORDER BY {order}", args))
        }

    def open_labels(self, *, before_round: int, skip: set[str], page: int = 5000) -> list[OpenLabel]:
        """The annotations of rounds before ``before_round`` that gave a label, but for the ids in ``skip``, in
        write order, as the critic reads them: a page of full rows in memory at a time."""
        rows = self._pages(
            "body", "machine", page, key="{order}", where="round < ? AND label IS NOT NULL", args=(before_round,)
        )
        machine = (MachineLabel.model_validate_json(body) for _, body in rows)
        return [OpenLabel.of(m) for m in machine if m.id not in skip]

    def _pages(
        self, columns: str, table: str, page: int, *, key: str = "id", where: str = "", args: tuple[Any, ...] = ()
    ) -> Iterator[tuple[Any, ...]]:
        """Rows of ``SELECT <key>, <columns> FROM <table> [WHERE <where>]``, read ``page`` at a time in ``key``
        order (the primary key, or ``{order}`` for write order): a keyset, each page starting after the last key of
        the one before, so no page rereads or sorts the rest."""
        select = f"SELECT {key}, {columns} FROM {{{table}}} WHERE " + (f"{where} AND " if where else "")
        rows = self._read(select + f"TRUE ORDER BY {key} LIMIT ?", (*args, page))
        following = select + f"{key} > ? ORDER BY {key} LIMIT ?"
        while True:
            yield from rows
            if len(rows) < page:
                return
            rows = self._read(following, (*args, rows[-1][0], page))

    def iter_machine(self, *, page: int = 5000) -> Iterator[MachineLabel]:
        """Every annotation in id order, ``page`` rows in memory at a time."""
        for _, body in self._pages("body", "machine", page):
            yield MachineLabel.model_validate_json(body)

    def _bodies(self, table: str, ids: Iterable[str]) -> Iterator[str]:
        """The JSON bodies of these ids' rows in ``table`` (those that have one), 500 ids a query."""
        ids = list(ids)
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for (body,) in self._read(f"SELECT body FROM {{{table}}} WHERE id IN ({marks})", tuple(chunk)):
                yield body

    def machine_for(self, ids: list[str]) -> dict[str, MachineLabel]:
        """The annotations of these ids (those that have one)."""
        return {m.id: m for m in map(MachineLabel.model_validate_json, self._bodies("machine", ids))}

    def machine_ids(self) -> set[str]:
        return {row[0] for row in self._read("SELECT id FROM {machine}")}

    def annotated_before(self, round_number: int) -> list[str]:
        """The ids annotated last in rounds before ``round_number``, in write order."""
        return [
            row[0] for row in self._read("SELECT id FROM {machine} WHERE round < ? ORDER BY {order}", (round_number,))
        ]

    def annotated_in(self, round_number: int) -> int:
        """Annotations made (or refreshed) in a round."""
        return self._read("SELECT COUNT(*) FROM {machine} WHERE round = ?", (round_number,))[0][0]

    # -- verdicts -----------------------------------------------------------------------------------
    def put_verdicts(self, verdicts: Iterable[StoredVerdict]) -> None:
        self._write(
            self._upsert("verdicts", ("id", "round", "p_correct", "status", "body")),
            ((v.id, v.round, v.p_correct, v.status, v.model_dump_json()) for v in verdicts),
        )

    def set_statuses(self, statuses: dict[str, str]) -> None:
        """Change verdicts' status (column and body alike), nothing else: a look settles which labels are accepted
        without rewriting every verdict."""
        sql = "UPDATE {verdicts} SET status = ?, body = {set_body_status} WHERE id = ?"
        self._write(sql, ((status, status, item_id) for item_id, status in statuses.items()))

    def verdicts(self) -> dict[str, StoredVerdict]:
        """Every verdict, by item id: one object a label (the light reads below serve most callers)."""
        return {
            v.id: v
            for v in (StoredVerdict.model_validate_json(r[0]) for r in self._read("SELECT body FROM {verdicts}"))
        }

    def verdicts_for(self, ids: Iterable[str]) -> dict[str, StoredVerdict]:
        """The verdicts of these ids (those that have one)."""
        return {v.id: v for v in map(StoredVerdict.model_validate_json, self._bodies("verdicts", ids))}

    def iter_verdicts(self, statuses: Iterable[str], *, page: int = 5000) -> Iterator[StoredVerdict]:
        """The verdicts of these statuses in id order, ``page`` rows in memory at a time."""
        wanted = set(statuses)
        for _, status, body in self._pages("status, body", "verdicts", page):
            if status in wanted:
                yield StoredVerdict.model_validate_json(body)

    def verdict_ids(self, status: str) -> set[str]:
        """The ids whose verdict has this status."""
        return {row[0] for row in self._read("SELECT id FROM {verdicts} WHERE status = ?", (status,))}

    def verdict_labels(self, statuses: Iterable[str]) -> dict[str, tuple[str, float]]:
        """``(label, p_correct)`` by id for the verdicts of these statuses that judged a label: read as columns,
        not as one object a label."""
        statuses = tuple(statuses)
        sql = (
            "SELECT id, {body_label}, p_correct FROM {verdicts} WHERE status IN ("
            + ",".join("?" * len(statuses))
            + ") AND {body_label} IS NOT NULL"
        )
        return {item_id: (label, p) for item_id, label, p in self._read(sql, statuses)}

    # -- human lane ---------------------------------------------------------------------------------
    def put_human(self, answers: Iterable[HumanLabel]) -> None:
        self._write(
            self._upsert("human", ("id", "round", "label", "kind", "shown", "machine_label", "reviewer")),
            ((h.id, h.round, h.label, h.kind, h.shown, h.machine_label, h.reviewer) for h in answers),
        )

    def human(self, *, before_round: int | None = None) -> dict[str, HumanLabel]:
        """Every answer and seed label (of rounds before ``before_round`` when given), by item id."""
        sql, args = "SELECT id, round, label, kind, shown, machine_label, reviewer FROM {human}", ()
        if before_round is not None:
            sql, args = sql + " WHERE round < ?", (before_round,)
        keys = ("id", "round", "label", "kind", "shown", "machine_label", "reviewer")
        return {
            row[0]: HumanLabel(**dict(zip(keys, row, strict=True)))
            for row in self._read(sql + " ORDER BY {order}", args)
        }

    def relabel(self, changes: Iterable[tuple[str, LabelChange]]) -> None:
        """Replace committed answers, all or none, each change kept in the item's history. ConflictError (and
        nothing changed) if an answer is no longer the ``old_label`` the change replaces."""
        changes = list(changes)
        if not changes:
            return
        with self._transaction() as db:
            for item_id, change in changes:
                updated = db.execute(
                    self._dialect.sql("UPDATE {human} SET label = ? WHERE id = ? AND label {same} ?"),
                    (change.new_label, item_id, change.old_label),
                ).rowcount
                if updated != 1:
                    raise ConflictError(f"item {item_id!r} changed meanwhile; nothing was relabelled")
                insert = self._dialect.sql("INSERT INTO {relabels} (id, body) VALUES (?, ?)")
                db.execute(insert, (item_id, change.model_dump_json()))

    def relabels(self) -> dict[str, list[LabelChange]]:
        """The changes of committed answers by item id, oldest first (items never relabelled are absent)."""
        out: dict[str, list[LabelChange]] = {}
        for item_id, body in self._read("SELECT id, body FROM {relabels} ORDER BY seq"):
            out.setdefault(item_id, []).append(LabelChange.model_validate_json(body))
        return out

    def counts(self) -> dict[str, int]:
        """Labels by status: seed, human, set_aside, accepted, proposed, rejected, failed (machine gave none)."""
        out = dict.fromkeys(("seed", "human", "set_aside", "accepted", "proposed", "rejected", "failed"), 0)
        for kind, answered, count in self._read(
            "SELECT kind = 'seed', label IS NOT NULL, COUNT(*) FROM {human} GROUP BY 1, 2"
        ):
            out["seed" if kind and answered else "human" if answered else "set_aside"] += count
        for status, count in self._read(
            "SELECT status, COUNT(*) FROM {verdicts} WHERE id NOT IN (SELECT id FROM {human}) GROUP BY status"
        ):
            out[status] += count
        (failed,) = self._read(
            "SELECT COUNT(*) FROM {machine} WHERE label IS NULL AND id NOT IN (SELECT id FROM {human})"
        )[0]
        out["failed"] = failed
        return out

    # -- the person's batch, drawn by design ----------------------------------------------------------
    def put_draws(self, round_number: int, draws: Iterable[tuple[str, float, str]]) -> None:
        """A round's draws ``(id, probability, rule)`` in the order drawn, replacing any the round had (a select
        node re-run after a crash draws the same again)."""
        rows = [(round_number, position, *draw) for position, draw in enumerate(draws)]
        with self._transaction() as db:
            db.execute(self._dialect.sql("DELETE FROM {draws} WHERE round = ?"), (round_number,))
            if rows:
                insert = "INSERT INTO {draws} (round, position, id, probability, rule) VALUES (?, ?, ?, ?, ?)"
                db.cursor().executemany(self._dialect.sql(insert), rows)

    def draws(self, *, before_round: int | None = None) -> list[tuple[int, str, float, str]]:
        """Every draw ``(round, id, probability, rule)`` (of rounds before ``before_round`` when given), in order."""
        sql, args = "SELECT round, id, probability, rule FROM {draws}", ()
        if before_round is not None:
            sql, args = sql + " WHERE round < ?", (before_round,)
        return [tuple(row) for row in self._read(sql + " ORDER BY round, position", args)]  # type: ignore[misc]

    # -- the inbox: answers given, not yet committed -------------------------------------------------
    def put_answers(self, answers: dict[str, str | None], *, reviewer: str, round_number: int) -> None:
        """Store answers all or none; ConflictError (nothing stored) if any item was already answered."""
        now = time.time()
        insert = (
            "INSERT INTO {answers} (item_id, label, reviewer, round, answered_at) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (item_id) DO NOTHING"
        )
        insert = self._dialect.sql(insert)
        try:
            with self._transaction() as db:
                for item_id, label in sorted(answers.items()):  # one order for every writer: no deadlock in Postgres
                    if db.execute(insert, (item_id, label, reviewer, round_number, now)).rowcount != 1:
                        raise _AlreadyAnswered
        except _AlreadyAnswered:
            taken = self.answers(list(answers))
            raise ConflictError(f"already answered: {', '.join(sorted(taken))}") from None

    def claim_answers(self, ids: list[str]) -> dict[str, str | None]:
        """The stored answers for ``ids``, marked as handed to the graph (no undo from now on), once every one of
        ``ids`` has an answer; until then nothing is marked and the answer is ``{}``: a batch goes to the graph
        whole, so its answers can be undone or corrected until the last one is given."""
        ids = list(dict.fromkeys(ids))
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        with self._transaction() as db:
            rows = db.execute(
                self._dialect.sql(f"SELECT item_id, label FROM {{answers}} WHERE item_id IN ({marks}){{lock_rows}}"),
                ids,
            ).fetchall()
            if len(rows) < len(ids):
                return {}
            db.execute(self._dialect.sql(f"UPDATE {{answers}} SET claimed = 1 WHERE item_id IN ({marks})"), ids)
        return dict(rows)

    def withdraw_answer(self, item_id: str) -> bool:
        """Take back an answer that no step has claimed (undo); True if there was one.

        ConflictError if the answer is already with the graph."""
        with self._transaction() as db:
            deleted = db.execute(
                self._dialect.sql("DELETE FROM {answers} WHERE item_id = ? AND claimed = 0"), (item_id,)
            ).rowcount
        if deleted:
            return True
        if self.answers([item_id]):
            raise ConflictError(f"the answer for {item_id!r} is already being committed: it cannot be undone")
        return False

    def answers(self, ids: list[str]) -> dict[str, str | None]:
        """The stored answers for ``ids`` (claimed or not)."""
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        return dict(self._read(f"SELECT item_id, label FROM {{answers}} WHERE item_id IN ({marks})", tuple(ids)))

    # -- the generator's texts -----------------------------------------------------------------------
    def put_synthetic(self, rows: Iterable[tuple[str, str, str, bytes]]) -> None:
        """Generated texts ``(id, text, meta JSON, float32 vector bytes)``; an id already stored keeps its row (ids
        are made from the text, so a generate step re-run after a crash stores each text once)."""
        insert = "INSERT INTO {synthetic} (id, text, meta, vector) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO NOTHING"
        self._write(insert, rows)

    def synthetic(self, ids: list[str]) -> list[tuple[str, str, str, bytes]]:
        """The stored generated texts among ``ids``: ``(id, text, meta JSON, vector bytes)``."""
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        rows = self._read(f"SELECT id, text, meta, vector FROM {{synthetic}} WHERE id IN ({marks})", tuple(ids))
        return [(item_id, text, meta, bytes(vector)) for item_id, text, meta, vector in rows]

    # -- files of older run folders ------------------------------------------------------------------
    def adopt(self, folder: Path) -> None:
        """Move what a run folder made up to 010994d kept in files of its own into the store, then delete each file:
        the inbox (``reviews.sqlite``) and the generator's texts (``synthetic.sqlite``). Safe to repeat after a
        kill at any point (a row already here is kept) and from two processes at once (a file another one took is
        skipped). The caller holds the run: a process still writing to the old file would lose its answers."""
        answers = ("item_id", "label", "reviewer", "round", "answered_at", "claimed")
        self._adopt(folder / "reviews.sqlite", "answers", "answers", answers, key="item_id", defaults={"claimed": 0})
        self._adopt(folder / "synthetic.sqlite", "items", "synthetic", ("id", "text", "meta", "vector"), key="id")

    def _adopt(
        self,
        path: Path,
        table: str,
        into: str,
        columns: tuple[str, ...],
        *,
        key: str,
        defaults: Mapping[str, int] | None = None,
    ) -> None:
        """``columns`` of ``table`` in the SQLite file ``path`` into this store's ``into`` (a column an older file
        lacks takes its value in ``defaults``), then the file deleted, its WAL files after it."""
        if path.exists():
            try:
                with closing(open_existing_sqlite(path, timeout=30)) as old:
                    found = {row[1] for row in old.execute(f"PRAGMA table_info({table})")}
                    picked = ", ".join(c if c in found else str((defaults or {})[c]) for c in columns)
                    rows = old.execute(f"SELECT {picked} FROM {table}").fetchall() if found else []
            except sqlite3.OperationalError:
                if path.exists():
                    raise
                rows = []  # another process adopted it meanwhile
            marks = ", ".join("?" * len(columns))
            insert = f"INSERT INTO {{{into}}} ({', '.join(columns)}) VALUES ({marks}) ON CONFLICT ({key}) DO NOTHING"
            self._write(insert, rows)
        for suffix in ("", "-wal", "-shm"):  # the file first: a WAL left alone is never read again
            Path(f"{path}{suffix}").unlink(missing_ok=True)

    def put_meta(self, key: str, value: str) -> None:
        self._write(self._upsert("meta", ("key", "value")), [(key, value)])

    def meta(self, key: str) -> str | None:
        rows = self._read("SELECT value FROM {meta} WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    def close(self) -> None:
        with self._lock:
            self._db.close()


def label_store_for(settings: CheckpointSettings, folder: Path, *, run: str) -> LabelStore:
    """The run's label store, beside its checkpoints: in PostgreSQL (schema ``schema_for(run)``, the DSN the
    checkpoints use) when they are there, else ``labels.sqlite`` in the run folder. A run folder that already holds
    ``labels.sqlite`` keeps it whatever the checkpoints (a run begun before the store followed them)."""
    sqlite = folder / "labels.sqlite"
    if settings.postgres_env is None or sqlite.exists():
        return LabelStore(sqlite)
    dsn, source = postgres_dsn(settings)
    return LabelStore.postgres(dsn, run=run, source=source)
