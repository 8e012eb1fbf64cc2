"""Review disputed items in a terminal: keys 1-9 pick a label (``l`` types one of the project's labels by number,
name or the start of a name; anything else is refused), ``s`` skips, ``u`` undoes, ``q`` (or Ctrl-C) quits.

Every answer is stored the moment it is given, so quitting (or a crash) loses nothing. Once the queue is empty
the run may resume from here, and the review goes on with the items its next round asks for as soon as they open,
while the round works in a thread; quitting then waits for the round to reach its pause (a second Ctrl-C stops
it at once: the checkpoints keep it, and ``labelgraph resume`` goes on).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from labelgraph.agents.human import ReviewItem
from labelgraph.cli.console import command_name
from labelgraph.errors import ReviewError

__all__ = ["review_in_terminal"]

KEYS = "1-9 pick   l type a label (or its start)   s skip (set aside, never labelled)   u undo   q quit"


def render(item: ReviewItem, labels: list[str], position: int, total: int) -> Panel:
    """The card for one item: text, labels with their keys and probabilities, reasons, neighbours."""
    probability = {c.label: c.probability for c in item.candidates if c.probability is not None}
    table = Table.grid(padding=(0, 2))
    for key, label in enumerate(labels, start=1):
        mark = " [bold](machine)[/]" if label == item.annotator_label else ""
        shown = f"{probability[label]:.2f}" if label in probability else ""  # blind items show no machine opinion
        table.add_row(f"[bold cyan]{key}[/]", escape(label), f"{shown}{mark}")
    # every text shown is data from the project's files: escaped, so "[...]" in it is never rich markup
    reasons = "\n".join(f"  - {escape(reason)}" for reason in item.reasons) or "  -"
    neighbours = Table.grid(padding=(0, 1))  # a column each: a long text wraps at its words, inside its column
    neighbours.add_column(no_wrap=True)
    neighbours.add_column(no_wrap=True)
    neighbours.add_column(overflow="fold")
    for n in item.neighbours[:3]:
        neighbours.add_row(f"  {escape(f'[{n.label}]')}", f"{n.similarity:.2f}", escape(shorten(n.text, 200)))
    body = Table.grid()
    body.add_row(f"[bold]{escape(item.text)}[/]\n")
    body.add_row(table)
    if item.kind == "fix":
        body.add_row(f"\nmachine: {escape(item.rationale)}\nwhy you are asked:\n{reasons}")
    else:
        body.add_row(f"\nwhy you are asked:\n{reasons}")
    body.add_row("nearest labelled:")
    body.add_row(neighbours if item.neighbours else "  (none yet)")
    body.add_row(f"\n[dim]{KEYS}[/]")
    return Panel(body, title=f"{position}/{total}  {item.id}  ({item.kind})", subtitle=f"round {item.round}")


def shorten(text: str, width: int) -> str:
    """``text`` on one line, cut at a word (with an ellipsis) if longer than ``width`` characters."""
    flat = " ".join(text.split())
    if len(flat) <= width:
        return flat
    cut = flat[: width - 1]
    return (cut.rsplit(" ", 1)[0] if " " in cut else cut) + " …"


def match_label(typed: str, labels: list[str]) -> str | None:
    """The label ``typed`` names: its number, its name (any case) or the start of exactly one name."""
    typed = typed.strip()
    if typed.isdecimal() and 1 <= int(typed) <= len(labels):
        return labels[int(typed) - 1]
    if typed in labels:
        return typed
    same = [label for label in labels if label.lower() == typed.lower()]
    starting = [label for label in labels if label.lower().startswith(typed.lower())] if typed else []
    found = same or starting
    return found[0] if len(found) == 1 else None


def ask_label(labels: list[str]) -> str | None:
    """A label typed by number, name or the start of a name; None if the entry names none, or several."""
    typed = click.prompt("label (number, name, or its start)", default="", show_default=False).strip()
    found = match_label(typed, labels)
    if found is None:
        several = [label for label in labels if typed and label.lower().startswith(typed.lower())]
        click.echo(f"{typed!r} starts {', '.join(several)}: type more" if several else f"no label {typed!r}")
    return found


def _items(count: int) -> str:
    return f"{count} item{'s' * (count != 1)}"


class _Session:
    """One review in the terminal: the items answered in it, in order (for undo and the closing count)."""

    def __init__(self, run, console: Console, reviewer: str):
        self.run, self.console, self.reviewer = run, console, reviewer
        self.given: list[tuple[int, ReviewItem, str | None]] = []  # not yet committed: (queue position, item, answer)
        self.kept = 0  # answers given in this review, less those undone

    def undo(self) -> int | None:
        """Withdraw the last answer given in this session; the queue position to ask again, or None."""
        if not self.given:
            self.console.print("[yellow]nothing to undo[/]")
            return None
        index, item, answer = self.given[-1]
        try:
            self.run.withdraw(item.id)
        except ReviewError as error:  # the run has taken it already
            self.console.print(f"[red]{escape(str(error))}[/]")
            return None
        self.given.pop()
        self.kept -= 1
        self.console.print(
            f"[bold]undone[/]: {escape(item.id)} ({escape(answer or 'skipped')} withdrawn): answer it again"
        )
        return index

    def walk(self, queue: list[ReviewItem], index: int = 0) -> bool:
        """Ask for each item of ``queue`` from ``index`` on; False if the person quit."""
        labels = self.run.config.label_names
        while index < len(queue):
            item = queue[index]
            self.console.print(render(item, labels, index + 1, len(queue)))
            key = click.getchar()
            if key == "q":
                return False
            if key == "u":
                back = self.undo()
                index = back if back is not None else index
                continue
            if key == "s":
                answer = None
            elif key in "123456789" and len(key) == 1 and int(key) <= len(labels):
                answer = labels[int(key) - 1]
            elif key == "l":
                answer = ask_label(labels)
                if answer is None:
                    continue
            elif key in ("\r", "\n"):
                continue
            else:
                self.console.print(f"[yellow]unknown key {escape(repr(key))}[/]")
                continue
            try:
                self.run.answer({item.id: answer}, reviewer=self.reviewer)
                self.console.print(f"{escape(item.id)}: {escape(answer or 'skipped')}")
                self.given.append((index, item, answer))
                self.kept += 1
            except ReviewError as error:  # someone answered it elsewhere meanwhile (the web page, the API)
                self.console.print(f"[yellow]{escape(str(error))}[/]")
            index += 1
        return True

    def closing(self) -> str:
        """How many answers this session kept, and what waits."""
        left = len(self.run.pending_reviews())
        kept = f"{self.kept} answer{'s' * (self.kept != 1)} from this review kept"
        if left:
            return f"{kept}; {_items(left)} still wait{'s' * (left == 1)}: run this again to go on"
        return f"{kept}; continue with  {command_name()} resume {self.run.workspace.path}"


class _Working:
    """A step advancing the run in a thread while the person reviews the batch it opened."""

    def __init__(self, resume: Callable[[Any], Any], run):
        self.run, self._outcome = run, {}
        # a daemon: a second Ctrl-C ends the process at once, the step as if killed (its checkpoints keep the run)
        self._thread = threading.Thread(target=self._go, args=(resume,), name="labelgraph-step", daemon=True)
        self._thread.start()

    def _go(self, resume: Callable[[Any], Any]) -> None:
        try:
            self._outcome["status"] = resume(self.run)
        except BaseException as error:  # raised again in the reviewing thread by finish()
            self._outcome["error"] = error

    def opened(self) -> list[ReviewItem]:
        """The next batch as soon as it opens for answers (the round still working); empty if the step ends
        without one."""
        while self._thread.is_alive():
            queue = self.run.pending_reviews()
            if queue:
                return queue
            self._thread.join(0.2)
        self.finish()
        return self.run.pending_reviews()

    def finish(self, console: Console | None = None) -> Any:
        """Wait for the step to reach its pause (or the end); its status."""
        if console is not None and self._thread.is_alive():
            console.print("[dim]the round finishes its work (the machine lane, the critic)...[/]")
        self._thread.join()
        if "error" in self._outcome:
            raise self._outcome["error"]
        return self._outcome["status"]


def review_in_terminal(
    run,
    console: Console,
    *,
    reviewer: str = "cli",
    resume: Callable[[Any], Any],
    report: Callable[[Any], None],
) -> None:
    """Walk the queue of unanswered items; when it is empty, offer to resume the run (or undo the last answer),
    and as soon as the next round's batch opens, go on with it while the round works in the background. Ctrl-C
    stops, keeping every answer (a round at work finishes first). ``resume(run)`` advances the run to its next
    pause and returns its status; ``report(status)`` says where a run that needs no more review stands (the CLI's
    own, so this module needs nothing of it)."""
    queue = run.pending_reviews()
    if not queue:
        console.print("nothing waits for review.")
        return
    session = _Session(run, console, reviewer)
    working: _Working | None = None
    try:
        index = 0
        while True:
            finished = session.walk(queue, index)
            if working is not None:  # the batch opened before its round's work: let the round reach its pause
                working.finish(console)
            if not finished or run.pending_reviews():
                console.print(session.closing())
                return
            choice = click.prompt(
                "All answered. Resume the run now? [Y/n, u undoes the last answer]", default="y", show_default=False
            ).strip()
            if choice.lower() == "u":
                back = session.undo()
                index = back if back is not None else len(queue)
                continue
            if choice.lower() in ("n", "no"):
                console.print(f"continue later with  {command_name()} resume {run.workspace.path}")
                return
            working = _Working(resume, run)
            queue, index = working.opened(), 0
            session.given.clear()  # handed to the graph: no undo from here
            if not queue:
                report(working.finish())
                return
            console.print(
                f"[yellow]{_items(len(queue))} to review[/] (round {queue[0].round}): the review goes on while the "
                "round works, q stops"
            )
    except (KeyboardInterrupt, click.exceptions.Abort):
        console.print(f"\ninterrupted: {session.closing()}")
        if working is not None:
            working.finish(console)
