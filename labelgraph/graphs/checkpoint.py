"""Checkpointers: SQLite in the run folder by default."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from langgraph.checkpoint.sqlite import SqliteSaver

__all__ = ["sqlite_checkpointer"]


def sqlite_checkpointer(path: Path) -> SqliteSaver:
    """A durable SQLite checkpointer (WAL mode, so a killed process leaves the last checkpoint intact)."""
    connection = sqlite3.connect(str(path), check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    return SqliteSaver(connection)
