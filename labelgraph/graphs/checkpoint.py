"""Checkpointers: SQLite in the run folder by default, PostgreSQL for many runs and machines."""

from __future__ import annotations

from pathlib import Path

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite import SqliteSaver

from labelgraph.config import CheckpointSettings
from labelgraph.errors import ConfigError
from labelgraph.graphs.state import STATE_TYPES
from labelgraph.stores.connection import RECONNECT_WAIT, open_sqlite, postgres_dsn, postgres_pool

__all__ = [
    "checkpointer_for",
    "close_checkpointer",
    "postgres_checkpointer",
    "sqlite_checkpointer",
]


def serializer() -> JsonPlusSerializer:
    """LangGraph's serializer, allowed to rebuild the run state's own pydantic types (and nothing else)."""
    return JsonPlusSerializer(allowed_msgpack_modules=STATE_TYPES)


def sqlite_checkpointer(path: Path) -> SqliteSaver:
    """A durable SQLite checkpointer (WAL, synchronous: a killed process leaves the last checkpoint intact)."""
    return SqliteSaver(open_sqlite(path, managed=False), serde=serializer())


def postgres_checkpointer(dsn: str, *, source: str = "the DSN", wait: float = RECONNECT_WAIT) -> BaseCheckpointSaver:
    """A PostgreSQL checkpointer (``langgraph-checkpoint-postgres``); creates its tables on first use.

    Its connection is re-established when lost (``postgres_pool``); errors name ``source`` (where the DSN came
    from), host and database, never the DSN or its password."""
    try:
        from langgraph.checkpoint.postgres import PostgresSaver
        from psycopg.rows import dict_row
    except ImportError:
        raise ConfigError("PostgreSQL checkpoints need: pip install 'labelgraph[postgres]'") from None
    pool = postgres_pool(dsn, source=source, wait=wait, autocommit=True, prepare_threshold=0, row_factory=dict_row)
    saver = PostgresSaver(pool, serde=serializer())
    saver.setup()
    return saver


def close_checkpointer(saver: BaseCheckpointSaver | None) -> None:
    """Release a checkpointer's connection: SQLite's, or the PostgreSQL pool and its threads."""
    connection = getattr(saver, "conn", None)
    if connection is not None:
        connection.close()


def checkpointer_for(settings: CheckpointSettings, sqlite_path: Path) -> BaseCheckpointSaver:
    """The project's checkpointer: PostgreSQL if it names a DSN variable, else SQLite at ``sqlite_path``."""
    if settings.postgres_env is None:
        return sqlite_checkpointer(sqlite_path)
    dsn, source = postgres_dsn(settings)
    return postgres_checkpointer(dsn, source=source)
