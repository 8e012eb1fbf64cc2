"""Review disputed items in a terminal: keys 1-9 pick a label (``l`` types any label by number or name),
``s`` skips, ``u`` undoes, ``q`` quits.

Every answer is stored the moment it is given, so quitting (or a crash) loses nothing.
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
    body.add_row("\n[dim]1-9 pick   l type a label   s skip (set aside, never labelled)   u undo   q quit[/]")
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


def review_in_terminal(run, console: Console, *, reviewer: str = "cli") -> None:
    """Walk the queue of unanswered items; offer to resume the run when it is empty."""
    labels = run.config.label_names
    queue = run.pending_reviews()
    if not queue:
        console.print("nothing waits for review.")
        return
    done: list[int] = []
    index = 0
    while index < len(queue):
        item = queue[index]
        console.print(render(item, labels, index + 1, len(queue)))
        key = click.getchar()
        if key == "q":
            break
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
            console.print(f"undid {queue[index].id}")
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
            console.print(f"[yellow]unknown key {key!r}[/]")
            continue
        try:
            run.answer({item.id: answer}, reviewer=reviewer)
            console.print(f"{item.id}: {answer or 'skipped'}")
            done.append(index)
        except ReviewError as error:  # someone answered it elsewhere meanwhile (the web page, the API)
            console.print(f"[yellow]{escape(str(error))}[/]")
        index += 1
    left = len(run.pending_reviews())
    if left:
        console.print(f"{left} items still wait; run this again to go on.")
        return
    if click.confirm("All answered. Resume the run now?", default=True):
        from labelgraph.cli import progress, report

        report(run.step(progress))
    else:
        console.print(f"continue later with  labelgraph resume {run.workspace.path}")
