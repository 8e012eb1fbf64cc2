"""Progress of long steps: a rich bar on a terminal, a plain line every 10% or 10 s elsewhere (logs, CI).

    from labelgraph.progress import task

    with task("embedding", total=len(texts)) as advance:
        for chunk in chunks:
            ...
            advance(len(chunk))

``gather(description, *awaitables)`` is ``asyncio.gather`` that advances as each awaitable finishes. Progress
goes to stderr, so what a command prints on stdout (``status --json``, an export's path) stays clean.
``LABELGRAPH_PROGRESS=off`` silences it; ``plain`` gives the plain lines on a terminal too.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

__all__ = ["PROGRESS_BATCHES", "gather", "task"]

T = TypeVar("T")

PROGRESS_BATCHES = 2
"""An embedding of more than this many of the model's batches shows progress."""

EVERY_SECONDS = 30.0
"""Plain mode: a line at each further tenth of the total (at most one a second), or after this long without one."""

_lock = threading.RLock()
_bar: Any = None  # the rich Progress the open tasks share (rich draws one live display at a time)
_open = 0


def _mode() -> str:
    setting = os.environ.get("LABELGRAPH_PROGRESS", "").strip().lower()
    if setting in {"0", "off", "no", "false"}:
        return "off"
    if setting == "plain":
        return "plain"
    from rich.console import Console

    return "bar" if Console(stderr=True).is_terminal else "plain"


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, rest = divmod(int(seconds + 0.5), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{rest:02d}" if hours else f"{minutes}:{rest:02d}"


def _pace(rate: float) -> str:
    """Items a second, or seconds an item when slower than one a second."""
    return f"{rate:,.1f}/s" if rate >= 1 else f"{1 / rate:,.1f} s each" if rate > 0 else ""


class _Lines:
    """Plain mode: a line when the task starts, as it goes (see EVERY_SECONDS), and at the end."""

    def __init__(self, description: str, total: int | None):
        self.description, self.total, self.done = description, total, 0
        self.start = self.said_at = time.monotonic()
        self.said_tenth = 0
        self._say(f"{total:,} to do" if total else "started")

    def _say(self, text: str) -> None:
        print(f"{self.description}: {text}", file=sys.stderr, flush=True)

    def _rate(self, now: float) -> float:
        return self.done / (now - self.start) if now > self.start else 0.0

    def advance(self, count: int = 1) -> None:
        with _lock:
            self.done += count
            now = time.monotonic()
            if self.total and self.done >= self.total:
                return  # the closing line says it
            tenth = int(10 * self.done / self.total) if self.total else 0
            quiet = now - self.said_at
            if not (tenth > self.said_tenth and quiet >= 1.0) and quiet < EVERY_SECONDS:
                return
            self.said_tenth, self.said_at = tenth, now
            rate = self._rate(now)
            if not self.total:
                self._say(f"{self.done:,} done, {_pace(rate)}, {_clock(now - self.start)} so far")
                return
            eta = (self.total - self.done) / rate if rate else None
            self._say(f"{self.done:,}/{self.total:,} ({self.done / self.total:.0%}), {_pace(rate)}, ETA {_clock(eta)}")

    def close(self) -> None:
        now = time.monotonic()
        of = f"/{self.total:,}" if self.total else ""
        self._say(f"{self.done:,}{of} done in {_clock(now - self.start)} ({_pace(self._rate(now))})")


def _new_bar() -> Any:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class Rate(ProgressColumn):
        def render(self, task: Any) -> Text:
            speed = task.finished_speed or task.speed
            return Text(_pace(speed or 0.0), style="progress.data.speed")

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), Rate(), TimeElapsedColumn())
    return Progress(*columns, TextColumn("ETA"), TimeRemainingColumn(), console=Console(stderr=True))


@contextmanager
def _bar_task(description: str, total: int | None) -> Iterator[Callable[..., None]]:
    global _bar, _open
    with _lock:
        if _bar is None:
            _bar = _new_bar()
            _bar.start()
        bar, _open = _bar, _open + 1
        task_id = bar.add_task(description, total=total)
    try:
        yield lambda count=1: bar.advance(task_id, count)
    finally:
        with _lock:
            _open -= 1
            if _open:
                bar.remove_task(task_id)  # an inner step: its row goes, the outer one stays
            else:
                bar.stop()  # the last frame stays on the screen
                _bar = None


@contextmanager
def task(description: str, total: int | None = None) -> Iterator[Callable[..., None]]:
    """A long step: yields ``advance(count=1)``, to call as work gets done; ``total=None`` if unknown."""
    mode = _mode()
    if mode == "off":
        yield lambda count=1: None
    elif mode == "bar":
        with _bar_task(description, total) as advance:
            yield advance
    else:
        lines = _Lines(description, total)
        try:
            yield lines.advance
        finally:
            lines.close()


async def gather(description: str, *awaitables: Awaitable[T]) -> list[T]:
    """``asyncio.gather`` (results in order, the first error raised) with a task that counts them as they finish."""
    with task(description, total=len(awaitables)) as advance:

        async def counted(awaitable: Awaitable[T]) -> T:
            result = await awaitable
            advance()
            return result

        return list(await asyncio.gather(*(counted(one) for one in awaitables)))
