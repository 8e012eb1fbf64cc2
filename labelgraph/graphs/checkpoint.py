"""Checkpointers: SQLite in the run folder by default, PostgreSQL for many runs and machines."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite import SqliteSaver

from labelgraph.config import CheckpointSettings
from labelgraph.errors import ConfigError
from labelgraph.graphs.state import STATE_TYPES

if TYPE_CHECKING:
    from psycopg import Connection

__all__ = ["checkpointer_for", "connect_postgres", "postgres_checkpointer", "postgres_dsn", "sqlite_checkpointer"]


def serializer() -> JsonPlusSerializer:
    """LangGraph's serializer, allowed to rebuild the run state's own pydantic types (and nothing else)."""
    return JsonPlusSerializer(allowed_msgpack_modules=STATE_TYPES)


def sqlite_checkpointer(path: Path) -> SqliteSaver:
    """A durable SQLite checkpointer (WAL mode, so a killed process leaves the last checkpoint intact)."""
    connection = sqlite3.connect(str(path), check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    return SqliteSaver(connection, serde=serializer())


def postgres_dsn(settings: CheckpointSettings) -> tuple[str, str]:
    """The DSN in the variable ``settings`` names, and how errors name it (``$VAR``, never the DSN itself)."""
    assert settings.postgres_env is not None, "only for checkpoints in PostgreSQL"
    dsn = os.environ.get(settings.postgres_env)
    if not dsn:
        raise ConfigError(f"checkpoints: the environment variable {settings.postgres_env!r} is not set")
    return dsn, f"${settings.postgres_env}"


def connect_postgres(dsn: str, *, source: str, what: str = "checkpoint database", **options: Any) -> Connection[Any]:
    """A psycopg connection (``options`` go to ``Connection.connect``), or one ConfigError line naming ``what``,
    ``source`` (where the DSN came from), host and database: never the DSN or its password. A DSN without a
    ``connect_timeout`` gets 10 s, so an unreachable host is an error, not a two-minute wait."""
    try:
        from psycopg import Connection
        from psycopg.conninfo import conninfo_to_dict
    except ImportError:
        raise ConfigError("PostgreSQL checkpoints need: pip install 'labelgraph[postgres]'") from None
    try:
        params = conninfo_to_dict(dsn)
    except Exception:  # the parser's message quotes the DSN, password included
        raise ConfigError(
            f"checkpoints: {source} is not a valid PostgreSQL DSN (not shown: it may hold a password)"
        ) from None
    where = f"{params.get('host', 'localhost')}:{params.get('port', 5432)}/{params.get('dbname', '')}"
    if "connect_timeout" not in params:
        options.setdefault("connect_timeout", 10)
    try:
        return Connection.connect(dsn, **options)
    except Exception as error:
        message = " ".join(str(error).split())  # one line: libpq's messages carry a tab-indented hint
        if params.get("password"):
            message = message.replace(str(params["password"]), "***")
        raise ConfigError(f"cannot connect to the {what} {where} ({source}): {message}") from None


def postgres_checkpointer(dsn: str, *, source: str = "the DSN") -> BaseCheckpointSaver:
    """A PostgreSQL checkpointer (``langgraph-checkpoint-postgres``); creates its tables on first use.

    Errors name ``source`` (where the DSN came from), host and database, never the DSN or its password."""
    try:
        from langgraph.checkpoint.postgres import PostgresSaver
        from psycopg.rows import dict_row
    except ImportError:
        raise ConfigError("PostgreSQL checkpoints need: pip install 'labelgraph[postgres]'") from None
    connection = connect_postgres(dsn, source=source, autocommit=True, prepare_threshold=0, row_factory=dict_row)
    saver = PostgresSaver(connection, serde=serializer())
    saver.setup()
    return saver


def checkpointer_for(settings: CheckpointSettings, sqlite_path: Path) -> BaseCheckpointSaver:
    """The project's checkpointer: PostgreSQL if it names a DSN variable, else SQLite at ``sqlite_path``."""
    if settings.postgres_env is None:
        return sqlite_checkpointer(sqlite_path)
    dsn, source = postgres_dsn(settings)
    return postgres_checkpointer(dsn, source=source)
