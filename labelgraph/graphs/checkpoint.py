"""Checkpointers: SQLite in the run folder by default, PostgreSQL for many runs and machines."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite import SqliteSaver

from labelgraph.config import CheckpointSettings
from labelgraph.errors import ConfigError
from labelgraph.graphs.state import STATE_TYPES

__all__ = ["checkpointer_for", "postgres_checkpointer", "sqlite_checkpointer"]


def serializer() -> JsonPlusSerializer:
    """LangGraph's serializer, allowed to rebuild the run state's own pydantic types (and nothing else)."""
    return JsonPlusSerializer(allowed_msgpack_modules=STATE_TYPES)


def sqlite_checkpointer(path: Path) -> SqliteSaver:
    """A durable SQLite checkpointer (WAL mode, so a killed process leaves the last checkpoint intact)."""
    connection = sqlite3.connect(str(path), check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    return SqliteSaver(connection, serde=serializer())


def postgres_checkpointer(dsn: str, *, source: str = "the DSN") -> BaseCheckpointSaver:
    """A PostgreSQL checkpointer (``langgraph-checkpoint-postgres``); creates its tables on first use.

    Errors name ``source`` (where the DSN came from), host and database, never the DSN or its password."""
    try:
        from langgraph.checkpoint.postgres import PostgresSaver
        from psycopg import Connection
        from psycopg.conninfo import conninfo_to_dict
        from psycopg.rows import dict_row
    except ImportError:
        raise ConfigError("PostgreSQL checkpoints need: pip install 'labelgraph[postgres]'") from None
    try:
        params = conninfo_to_dict(dsn)
    except Exception:  # the parser's message quotes the DSN, password included
        raise ConfigError(
            f"checkpoints: {source} is not a valid PostgreSQL DSN (not shown: it may hold a password)"
        ) from None
    where = f"{params.get('host', 'localhost')}:{params.get('port', 5432)}/{params.get('dbname', '')}"
    try:
        connection = Connection.connect(dsn, autocommit=True, prepare_threshold=0, row_factory=dict_row)
    except Exception as error:
        message = str(error)
        if params.get("password"):
            message = message.replace(str(params["password"]), "***")
        raise ConfigError(f"cannot connect to the checkpoint database {where} ({source}): {message}") from None
    saver = PostgresSaver(connection, serde=serializer())
    saver.setup()
    return saver


def checkpointer_for(settings: CheckpointSettings, sqlite_path: Path) -> BaseCheckpointSaver:
    """The project's checkpointer: PostgreSQL if it names a DSN variable, else SQLite at ``sqlite_path``."""
    if settings.postgres_env is None:
        return sqlite_checkpointer(sqlite_path)
    dsn = os.environ.get(settings.postgres_env)
    if not dsn:
        raise ConfigError(f"checkpoints: the environment variable {settings.postgres_env!r} is not set")
    return postgres_checkpointer(dsn, source=f"${settings.postgres_env}")
