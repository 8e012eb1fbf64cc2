"""Pending reviews as a file to answer elsewhere (a spreadsheet, a vendor tool): one row an item, with an empty
``label`` to fill; ``labelgraph review RUN --answers FILE`` reads the same file back (blank labels stay unanswered,
``skip`` sets an item aside), as often as it grows: rows given before count as given again, not as conflicts."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel

from labelgraph.agents.human import ReviewItem
from labelgraph.data import read_answers, write_atomic
from labelgraph.errors import ConflictError, DataError, ReviewError

if TYPE_CHECKING:
    from labelgraph.session.run import Run

__all__ = ["AnswersRead", "read_back", "write_pending"]

FIELDS = ["id", "label", "text", "kind", "candidates", "machine_label", "p_correct", "reasons", "round"]


def _row(item: ReviewItem) -> dict[str, object]:
    """What a reviewer needs; blind items (audit, explore) carry no machine opinion, as on the page."""
    return {
        "id": item.id,
        "label": "",
        "text": item.text,
        "kind": item.kind,
        "candidates": [
            {"label": c.label, **({"probability": c.probability} if c.probability is not None else {})}
            for c in item.candidates
        ],
        "machine_label": item.annotator_label,
        "p_correct": item.p_correct,
        "reasons": item.reasons,
        "round": item.round,
    }


def _flat(row: dict[str, object]) -> dict[str, object]:
    """A CSV row: lists joined into readable cells."""
    candidates = row["candidates"]
    return {
        **row,
        "candidates": "; ".join(
            f"{c['label']} {c['probability']:.2f}" if "probability" in c else str(c["label"])
            for c in candidates  # type: ignore[union-attr]
        ),
        "reasons": " | ".join(row["reasons"]),  # type: ignore[arg-type]
        "machine_label": row["machine_label"] or "",
        "p_correct": "" if row["p_correct"] is None else row["p_correct"],
    }


def write_pending(items: list[ReviewItem], path: Path) -> int:
    """Write the pending items to ``path`` (.jsonl or .csv by suffix); return how many."""
    suffix = path.suffix.lower()
    if suffix not in {".jsonl", ".ndjson", ".csv"}:
        raise DataError("cannot write pending reviews there: name a .jsonl or .csv file", path=path)
    rows = [_row(item) for item in items]
    if suffix == ".csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(_flat(row) for row in rows)
        data = buffer.getvalue()
    else:
        data = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    write_atomic(path, data.encode("utf-8"))
    return len(rows)


class AnswersRead(BaseModel):
    """What an answers file did to a run."""

    recorded: int
    """New answers stored in the inbox."""
    unchanged: int
    """Rows that repeat an answer given before, waiting for the commit or committed."""
    corrected: int
    """Answers not yet committed that the file replaced (``--correct``)."""
    relabelled: int
    """Committed labels the file changed (``--correct``; the old labels stay in their history)."""
    waiting: int
    """Items of the paused round that still have no answer."""
    blank: int
    """Of those, the ones the file holds, with a blank label."""


def read_back(run: Run, path: Path, *, reviewer: str, correct: bool = False) -> AnswersRead:
    """Give ``run`` the answers in ``path`` (JSONL, or a filled-in ``--pending`` sheet), all or none: every row is
    checked before anything is stored, and the first bad one is a one-line error naming its line.

    A row repeating an answer given before (waiting for the commit, or committed) counts as given again, so a
    sheet can be read back as it fills, across a ``resume``; a changed one is refused (the first answer wins)
    unless ``correct``, which replaces it, or relabels a committed one keeping the old label in its history.
    A seed's id is no answer to a review: an error, unless ``correct`` relabels the seed.
    """
    names = run.config.label_names
    committed = run.store.human()  # people's answers and seeds, by id
    batch = {item.id for item in run.pending_reviews(include_answered=True)}
    given, held = run.uncommitted(), run.held()
    relabel: list[tuple[str, str]] = []
    corrected: list[tuple[str, str | None]] = []
    fresh: list[tuple[str, str | None]] = []
    unchanged = 0
    blank: set[str] = set()
    for line, item_id, label, empty in read_answers(path, names, blanks=True):
        where = f"{path}, line {line}"
        if empty:
            blank.add(item_id)
            continue
        if label is not None and label not in names:
            raise ReviewError(f"{where}: unknown label {label!r} for item {item_id!r} (labels: {', '.join(names)})")
        if item_id in committed:
            old = committed[item_id]
            was = repr(old.label) if old.label is not None else "set aside"
            if old.kind == "seed" and not correct:
                raise ReviewError(
                    f"{where}: item {item_id!r} is a seed label ({was}), not an item asked for review; "
                    "change a seed's label with --correct or 'labelgraph relabel'"
                )
            if label == old.label:
                unchanged += 1
            elif not correct:
                raise ConflictError(
                    f"{where}: item {item_id!r} is already committed ({was}); pass --correct to relabel it "
                    "(the old label is kept in its history)"
                )
            elif label is None:
                raise ReviewError(
                    f"{where}: item {item_id!r} is committed ({was}): give a label, a commit cannot be undone"
                )
            else:
                relabel.append((item_id, label))
        elif item_id in given:
            if given[item_id] == label:
                unchanged += 1
            elif not correct:
                was = repr(given[item_id]) if given[item_id] is not None else "set aside"
                raise ConflictError(
                    f"{where}: item {item_id!r} is already answered ({was}): the first answer wins; "
                    "pass --correct to replace it"
                )
            elif item_id in held:
                raise ConflictError(
                    f"{where}: item {item_id!r}'s answer is already with the run, to be committed with its round: "
                    "resume once the round's items are answered, then relabel it with --correct"
                )
            else:
                corrected.append((item_id, label))
        elif item_id in batch:
            fresh.append((item_id, label))
        else:
            raise ReviewError(f"{where}: item {item_id!r} is not pending review")
    relabelled = run.relabel(relabel, reviewer=reviewer) if relabel else {}  # first: it refuses a running run
    for item_id, _ in corrected:  # a changed answer not yet committed: replaced
        run.withdraw(item_id)
    recorded = run.answer(corrected + fresh, reviewer=reviewer) if corrected or fresh else 0
    waiting = {item.id for item in run.pending_reviews()}
    return AnswersRead(
        recorded=recorded - len(corrected),
        unchanged=unchanged,
        corrected=len(corrected),
        relabelled=len(relabelled),
        waiting=len(waiting),
        blank=len(waiting & blank),
    )
