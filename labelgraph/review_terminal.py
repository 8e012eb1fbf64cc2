"""Review disputed items in a terminal: keys 1-9 pick a label (``l`` types one of the project's labels by number,
name or the start of a name; anything else is refused), ``s`` skips, ``u`` undoes, ``q`` (or Ctrl-C) quits.

Every answer is stored the moment it is given, so quitting (or a crash) loses nothing. Once the queue is empty
the run may resume from here, and the review goes on with the items its next round asks for.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from labelgraph.agents.human import ReviewItem
from labelgraph.console import command_name
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


def review_in_terminal(
    run,
    console: Console,
    *,
    reviewer: str = "cli",
    resume: Callable[[Any], Any],
    report: Callable[[Any], None],
) -> None:
    """Walk the queue of unanswered items; when it is empty, offer to resume the run (or undo the last answer),
    and when the run pauses again for people, go on with the new items. Ctrl-C stops, keeping every answer.
    ``resume(run)`` advances the run to its next pause and returns its status; ``report(status)`` says where a
    run that needs no more review stands (the CLI's own, so this module needs nothing of it)."""
    queue = run.pending_reviews()
    if not queue:
        console.print("nothing waits for review.")
        return
    session = _Session(run, console, reviewer)
    try:
        index = 0
        while True:
            finished = session.walk(queue, index)
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
            status = resume(run)
            queue, index = (run.pending_reviews() if status.phase == "paused" else []), 0
            session.given.clear()  # committed: no undo from here
            if not queue:
                report(status)
                return
            console.print(
                f"[yellow]{_items(len(queue))} to review[/] (round {status.round}): the review goes on, q stops"
            )
    except (KeyboardInterrupt, click.exceptions.Abort):
        console.print(f"\ninterrupted: {session.closing()}")
