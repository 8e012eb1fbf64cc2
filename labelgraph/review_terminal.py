"""Review disputed items in a terminal: one key picks a label, ``s`` skips, ``u`` undoes, ``q`` quits.

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
    probability = {c.label: c.probability for c in item.candidates}
    table = Table.grid(padding=(0, 2))
    for key, label in enumerate(labels, start=1):
        mark = " [bold](annotator)[/]" if label == item.annotator_label else ""
        table.add_row(f"[bold cyan]{key}[/]", escape(label), f"{probability.get(label, 0.0):.2f}{mark}")
    # every text shown is data from the project's files: escaped, so "[...]" in it is never rich markup
    reasons = "\n".join(f"  - {escape(reason)}" for reason in item.reasons) or "  -"
    neighbours = (
        "\n".join(f"  {escape(f'[{n.label}]')} {n.similarity:.2f}  {escape(n.text[:100])}" for n in item.neighbours[:3])
        or "  (none yet)"
    )
    body = Table.grid()
    body.add_row(f"[bold]{escape(item.text)}[/]\n")
    body.add_row(table)
    body.add_row(f"\nannotator: {escape(item.rationale)}\ncritic disputes because:\n{reasons}")
    body.add_row(f"nearest labelled:\n{neighbours}")
    body.add_row("\n[dim]1-9 pick   s skip (set aside, never labelled)   u undo   q quit[/]")
    return Panel(body, title=f"{position}/{total}  {item.id}", subtitle=f"round {item.round}")


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
            index = done.pop()
            try:
                run.withdraw(queue[index].id)
                console.print(f"undid {queue[index].id}")
            except ReviewError as error:
                console.print(f"[red]{error}[/]")
            continue
        if key == "s":
            answer = None
        elif key.isdigit() and 1 <= int(key) <= len(labels):
            answer = labels[int(key) - 1]
        else:
            console.print(f"[yellow]unknown key {key!r}[/]")
            continue
        run.answer({item.id: answer}, reviewer=reviewer)
        console.print(f"{item.id}: {answer or 'skipped'}")
        done.append(index)
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
