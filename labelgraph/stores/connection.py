"""Opening a run's databases, in one place: SQLite files (WAL, how durable, read-only views) and PostgreSQL
connections and pools that outlive a restart, whose errors never show a DSN or its password."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from labelgraph.config import CheckpointSettings
from labelgraph.errors import ConfigError, RunError

if TYPE_CHECKING:
    from psycopg import Connection
    from psycopg_pool import ConnectionPool

__all__ = [
    "RECONNECT_WAIT",
    "connect_postgres",
    "open_existing_sqlite",
    "open_sqlite",
    "postgres_dsn",
    "postgres_pool",
]


def open_sqlite(
    path: Path, *, synchronous: Literal["FULL", "NORMAL"] = "FULL", managed: bool = True, timeout: float = 30
) -> sqlite3.Connection:
    """A connection to the SQLite file at ``path`` (made if missing), in WAL mode, usable from any thread.

    ``synchronous``: FULL keeps every committed row through a power cut; NORMAL (for caches) through a killed
    process. ``managed``: the caller writes its own BEGIN and COMMIT (``isolation_level=None``); False leaves
    transactions to the sqlite3 module, as LangGraph's SqliteSaver expects. ``timeout``: seconds a write waits
    for another writer's lock."""
    isolation = {"isolation_level": None} if managed else {}
    connection = sqlite3.connect(str(path), check_same_thread=False, timeout=timeout, **isolation)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute(f"PRAGMA synchronous={synchronous}")
    return connection


def open_existing_sqlite(path: Path, *, write: bool = False, timeout: float = 10) -> sqlite3.Connection:
    """A connection to an existing SQLite file, never making one: read-only, or ``write`` (a check that must be
    able to replay a WAL file left by a killed process), usable from any thread."""
    uri = f"{Path(os.path.abspath(path)).as_uri()}?mode={'rw' if write else 'ro'}"
    return sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=timeout)


def postgres_dsn(settings: CheckpointSettings) -> tuple[str, str]:
    """The DSN in the variable ``settings`` names, and how errors name it (``$VAR``, never the DSN itself)."""
    assert settings.postgres_env is not None, "only for checkpoints in PostgreSQL"
    dsn = os.environ.get(settings.postgres_env)
    if not dsn:
        raise ConfigError(f"checkpoints: the environment variable {settings.postgres_env!r} is not set")
    return dsn, f"${settings.postgres_env}"


RECONNECT_WAIT = 30.0
"""Seconds a call waits for a lost PostgreSQL connection to come back (a restart, a dropped idle connection)."""


def _conninfo(dsn: str, source: str) -> tuple[dict[str, Any], str]:
    """The DSN's parameters and how errors name its database (``host:port/dbname``), or one ConfigError line."""
    try:
        from psycopg.conninfo import conninfo_to_dict
    except ImportError:
        raise ConfigError("PostgreSQL checkpoints need: pip install 'labelgraph[postgres]'") from None
    try:
        params = conninfo_to_dict(dsn)
    except Exception:  # the parser's message quotes the DSN, password included
        raise ConfigError(
            f"checkpoints: {source} is not a valid PostgreSQL DSN (not shown: it may hold a password)"
        ) from None
    return params, f"{params.get('host', 'localhost')}:{params.get('port', 5432)}/{params.get('dbname', '')}"


def _one_line(error: BaseException, params: dict[str, Any]) -> str:
    """``error``'s message on one line (libpq's carry a tab-indented hint), the DSN's password masked."""
    message = " ".join(str(error).split())
    return message.replace(str(params["password"]), "***") if params.get("password") else message


def connect_postgres(dsn: str, *, source: str, what: str = "checkpoint database", **options: Any) -> Connection[Any]:
    """A psycopg connection (``options`` go to ``Connection.connect``), or one ConfigError line naming ``what``,
    ``source`` (where the DSN came from), host and database: never the DSN or its password. A DSN without a
    ``connect_timeout`` gets 10 s, so an unreachable host is an error, not a two-minute wait."""
    params, where = _conninfo(dsn, source)
    from psycopg import Connection

    if "connect_timeout" not in params:
        options.setdefault("connect_timeout", 10)
    try:
        return Connection.connect(dsn, **options)
    except Exception as error:
        raise ConfigError(f"cannot connect to the {what} {where} ({source}): {_one_line(error, params)}") from None


def postgres_pool(
    dsn: str, *, source: str, what: str = "checkpoint database", wait: float = RECONNECT_WAIT, **options: Any
) -> ConnectionPool[Any]:
    """A pool of one connection that outlives the database's restarts and dropped connections: checked before each
    use (``ConnectionPool.check_connection``), a lost one is replaced, each call waiting up to ``wait`` seconds.

    The first connection is made here: an unreachable database is connect_postgres's ConfigError at once. Later,
    a database not back within ``wait`` s, or a connection lost mid-call, is one RunError line naming ``what``,
    host, database and ``source`` (never the DSN or its password); what was committed before stays committed."""
    connect_postgres(dsn, source=source, what=what, **options).close()
    params, where = _conninfo(dsn, source)
    if "connect_timeout" not in params:
        options.setdefault("connect_timeout", 10)
    pool = _pool_class()(
        dsn,
        named=(what, where, source, params),
        kwargs=options,
        min_size=1,
        max_size=1,
        open=False,
        check=_pool_class().check_connection,
        timeout=wait,
        reconnect_timeout=wait,  # then a new attempt with each call: no backoff of minutes after a long outage
        num_workers=1,
        name=f"labelgraph {what}",
    )
    pool.open()
    return pool


@cache
def _pool_class() -> type[ConnectionPool[Any]]:
    """``ConnectionPool`` whose ``connection()`` turns a lost connection into one RunError line (defined here:
    psycopg_pool is only there with ``labelgraph[postgres]``)."""
    from psycopg import OperationalError
    from psycopg_pool import ConnectionPool, PoolTimeout

    class ReconnectingPool(ConnectionPool[Any]):
        def __init__(self, dsn: str, *, named: tuple[str, str, str, dict[str, Any]], **settings: Any) -> None:
            self.named = named  # what the database is to errors: what, where, source, and the password to mask
            super().__init__(dsn, **settings)

        @contextmanager
        def connection(self, timeout: float | None = None) -> Iterator[Any]:
            what, where, source, params = self.named
            conn = None
            try:
                with super().connection(timeout) as conn:
                    yield conn
            except PoolTimeout:
                try:  # why: the pool's own error says only that it waited
                    connect_postgres(str(self.conninfo), source=source, what=what).close()
                except ConfigError as error:
                    raise RunError(f"{error} (tried for {self.timeout:g} s)") from None
                raise RunError(
                    f"the {what} {where} ({source}) gave no connection within {self.timeout:g} s; it answers again now"
                ) from None
            except OperationalError as error:
                lost = "lost the connection to" if conn is None or conn.closed else "an error in"
                raise RunError(f"{lost} the {what} {where} ({source}): {_one_line(error, params)}") from None

    return ReconnectingPool
