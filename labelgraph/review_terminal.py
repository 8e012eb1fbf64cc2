"""Review disputed items in a terminal: keys 1-9 pick a label (``l`` types one of the project's labels by number
or name; anything else is refused), ``s`` skips, ``u`` undoes, ``q`` quits.

Every answer is stored the moment it is given, so quitting (or a crash) loses nothing. Once the queue is empty
the run may resume from here, and the review goes on with the items its next round asks for.
"""

from __future__ import annotations

import click
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from labelgraph.agents.human import ReviewItem
from labelgraph.errors import ReviewError

__all__ = ["review_in_terminal"]


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
    neighbours = (
        "\n".join(f"  {escape(f'[{n.label}]')} {n.similarity:.2f}  {escape(n.text[:100])}" for n in item.neighbours[:3])
        or "  (none yet)"
    )
    body = Table.grid()
    body.add_row(f"[bold]{escape(item.text)}[/]\n")
    body.add_row(table)
    if item.kind == "fix":
        body.add_row(f"\nmachine: {escape(item.rationale)}\nwhy you are asked:\n{reasons}")
    else:
        body.add_row(f"\nwhy you are asked:\n{reasons}")
    body.add_row(f"nearest labelled:\n{neighbours}")
    body.add_row("\n[dim]1-9 pick   l type one of the labels   s skip (set aside, never labelled)   u undo   q quit[/]")
    return Panel(body, title=f"{position}/{total}  {item.id}  ({item.kind})", subtitle=f"round {item.round}")


def ask_label(labels: list[str]) -> str | None:
    """A label typed by number or name (for more than nine labels); None if the entry matches none."""
    typed = click.prompt("label (number or name)", default="", show_default=False).strip()
    if typed.isdecimal() and 1 <= int(typed) <= len(labels):
        return labels[int(typed) - 1]
    if typed in labels:
        return typed
    click.echo(f"no label {typed!r}")
    return None


def _items(count: int) -> str:
    return f"{count} item{'s' * (count != 1)}"


def _walk(run, console: Console, queue: list[ReviewItem], reviewer: str) -> bool:
    """Ask for each item of ``queue`` in turn; False if the person quit."""
    labels = run.config.label_names
    done: list[int] = []
    index = 0
    while index < len(queue):
        item = queue[index]
        console.print(render(item, labels, index + 1, len(queue)))
        key = click.getchar()
        if key == "q":
            return False
        if key == "u":
            if not done:
                console.print("[yellow]nothing to undo[/]")
                continue
            try:
                run.withdraw(queue[done[-1]].id)
            except ReviewError as error:  # the run has taken it already: stay where we are
                console.print(f"[red]{escape(str(error))}[/]")
                continue
            index = done.pop()
            console.print(f"undid {escape(queue[index].id)}")
            continue
        if key == "s":
            answer = None
        elif key in "123456789" and len(key) == 1 and int(key) <= len(labels):
            answer = labels[int(key) - 1]
        elif key == "l":
            answer = ask_label(labels)
            if answer is None:
                continue
        else:
            console.print(f"[yellow]unknown key {escape(repr(key))}[/]")
            continue
        try:
            run.answer({item.id: answer}, reviewer=reviewer)
            console.print(f"{escape(item.id)}: {escape(answer or 'skipped')}")
            done.append(index)
        except ReviewError as error:  # someone answered it elsewhere meanwhile (the web page, the API)
            console.print(f"[yellow]{escape(str(error))}[/]")
        index += 1
    return True


def review_in_terminal(run, console: Console, *, reviewer: str = "cli") -> None:
    """Walk the queue of unanswered items; when it is empty, offer to resume the run, and when the run pauses
    again for people, go on with the new items."""
    from labelgraph.cli import progress, report

    queue = run.pending_reviews()
    if not queue:
        console.print("nothing waits for review.")
        return
    while True:
        finished = _walk(run, console, queue, reviewer)
        left = len(run.pending_reviews())
        if left or not finished:
            if left:
                console.print(f"{_items(left)} still wait{'s' * (left == 1)}; run this again to go on.")
            return
        if not click.confirm("All answered. Resume the run now?", default=True):
            console.print(f"continue later with  labelgraph resume {run.workspace.path}")
            return
        status = run.step(progress)
        queue = run.pending_reviews() if status.phase == "paused" else []
        if not queue:
            report(status)
            return
        console.print(f"[yellow]{_items(len(queue))} to review[/] (round {status.round}): the review goes on, q stops")
