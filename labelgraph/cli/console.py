"""The commands' output: nothing wraps (a command or an id split over two lines breaks when copied from a log),
and tables are as wide as their content, whatever the terminal's width or none when piped."""

from __future__ import annotations

import os
import shutil
import sys

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

__all__ = ["command_name", "print_table", "stdout_console"]


def stdout_console() -> Console:
    return Console(highlight=False, soft_wrap=True)


def print_table(console: Console, header: list[str], rows: list[list[str]]) -> None:
    """Columns as wide as their widest cell, never truncated ("rand…") nor wrapped; cells are plain text."""
    table = Table(box=None, header_style="bold", pad_edge=False)
    for name in header:
        table.add_column(Text(name), no_wrap=True)
    for row in rows:
        table.add_row(*map(Text, row))  # Text: a "[" in a name is no markup
    table.width = Measurement.get(console, console.options.update_width(1 << 16), table).maximum
    console.print(table, crop=False, markup=False)


def command_name() -> str:
    """How to call labelgraph again from the user's shell, for the commands the output suggests: ``labelgraph``
    when that name finds this program, else the path it was started by (``.venv/bin/labelgraph`` after ``make
    run``: a new shell has no virtual environment active, and a bare ``labelgraph`` would not be found)."""
    started = sys.argv[0] if sys.argv else ""
    if os.path.basename(started) != "labelgraph" or os.sep not in started:
        return "labelgraph"  # found on PATH, or not started as the command (python -m, a test runner)
    found = shutil.which("labelgraph")
    if found is not None and os.path.realpath(found) == os.path.realpath(started):
        return "labelgraph"
    return started
