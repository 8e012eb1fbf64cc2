"""The ``labelgraph`` command: the typer app (app.py), the review in a terminal and as a file, ``predict``, project
templates for ``init``, and output that never wraps (console.py)."""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    """``main``, for a ``labelgraph`` script installed before the command moved to ``labelgraph.cli.app``."""
    if name == "main":
        from labelgraph.cli.app import main

        return main
    raise AttributeError(f"module 'labelgraph.cli' has no attribute {name!r}")
