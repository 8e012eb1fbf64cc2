"""Items and labels, reading pool / seed / test / answer files, and writing exports.

Readers are strict: every problem raises :class:`DataError` naming the file, the line and the field,
before anything is written.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from labelgraph.errors import DataError

__all__ = [
    "Item",
    "LabelRecord",
    "Source",
    "read_answers",
    "read_items",
    "write_atomic",
    "write_export",
]

Source = Literal["human", "annotator", "seed", "synthetic", "student"]
Status = Literal["seed", "human", "accepted", "proposed", "predicted"]


csv.field_size_limit(2**31 - 1)  # a text is bounded by max_text_chars (a clear error), not csv's 128 KiB


class Item(BaseModel):
    """One text to label; ``label`` is set for seed and test items (and gold labels in evals)."""

    id: str
    text: str
    label: str | None = None
    meta: dict[str, Any] = Field(default_factory=dict)


class LabelRecord(BaseModel):
    """A label and its provenance: who gave it, when, how sure, and what the critic said.

    ``status``: ``seed`` and ``human`` labels come from people; ``accepted`` machine labels met the quality
    target; ``proposed`` ones did not (yet) and wait for a person or more evidence; ``predicted``: the student's
    prediction for a pool text with no other label (``confidence`` is its probability), exported on request.
    """

    id: str
    text: str
    label: str
    source: Source
    status: Status
    round: int
    p_correct: float | None = None
    """The critic's calibrated probability that a machine label is right (None for people's labels)."""
    kind: str | None = None
    """Why a person was asked: explore, fix or audit."""
    confidence: float | None = None
    verdict: str | None = None
    reasons: list[str] = Field(default_factory=list)
    annotator_label: str | None = None
    parent: str | None = None
    synthetic: bool = False
    """Written by the generator (``parent``: the item it edits, for a counterfactual), whoever labelled it."""


def _decoded_lines(path: Path) -> Iterator[tuple[int, str]]:
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise DataError(
                    f"not UTF-8 (byte {raw[error.start]:#04x} at column {error.start + 1}); re-save the file as UTF-8",
                    path=path,
                    line=number,
                ) from None
            yield number, line.removeprefix("\ufeff") if number == 1 else line  # Excel's byte-order mark


def _rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    suffix = path.suffix.lower()
    if suffix in {".jsonl", ".ndjson", ".json"}:
        for number, line in _decoded_lines(path):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise DataError(f"not valid JSON: {error.msg}", path=path, line=number) from None
            if not isinstance(row, dict):
                raise DataError("each line must be a JSON object", path=path, line=number)
            yield number, row
    elif suffix in {".csv", ".tsv"}:
        text = "".join(line for _, line in _decoded_lines(path))
        reader = csv.DictReader(io.StringIO(text, newline=""), delimiter="\t" if suffix == ".tsv" else ",")
        try:
            for row in reader:
                if None in row:
                    raise DataError("more cells than header columns", path=path, line=reader.line_num)
                yield reader.line_num, dict(row)
        except csv.Error as error:  # the csv module's own complaint, with where it stopped
            raise DataError(f"not valid CSV: {error}", path=path, line=reader.line_num) from None
    else:
        raise DataError(f"unsupported file type {suffix!r}: use .jsonl or .csv", path=path)


def read_items(
    path: Path,
    *,
    text_field: str = "text",
    id_field: str = "id",
    label_field: str = "label",
    labels: Iterable[str] | None = None,
    require_label: bool = False,
    max_text_chars: int = 20_000,
) -> list[Item]:
    """Read a JSONL or CSV file of items; a missing id becomes ``<file stem>-<line>``.

    With ``labels`` given, a label outside that set is an error; with ``require_label``, so is a missing one.
    """
    path = Path(path)
    if not path.exists():
        raise DataError("file not found", path=path)
    known = list(labels) if labels is not None else None
    items: list[Item] = []
    seen: dict[str, int] = {}
    for number, row in _rows(path):
        text = row.get(text_field)
        if not isinstance(text, str) or not text.strip():
            raise DataError("missing or empty text", path=path, line=number, field=text_field)
        if len(text) > max_text_chars:
            raise DataError(
                f"text has {len(text):,} characters, more than max_text_chars ({max_text_chars:,})",
                path=path,
                line=number,
                field=text_field,
            )
        raw_id = row.get(id_field)
        item_id = f"{path.stem}-{number}" if raw_id in (None, "") else str(raw_id)
        if item_id in seen:
            raise DataError(
                f"duplicate id {item_id!r} (first on line {seen[item_id]})",
                path=path,
                line=number,
                field=id_field,
            )
        seen[item_id] = number
        label = row.get(label_field)
        label = None if label in (None, "") else str(label)
        if label is None and require_label:
            raise DataError("missing label", path=path, line=number, field=label_field)
        if label is not None and known is not None and label not in known:
            raise DataError(
                f"unknown label {label!r} (labels: {', '.join(known)})",
                path=path,
                line=number,
                field=label_field,
            )
        # the file's other columns, kept apart from labelgraph's own flags (seed, synthetic, ...) they could shadow
        columns = {k: v for k, v in row.items() if k not in {text_field, id_field, label_field}}
        items.append(Item(id=item_id, text=text, label=label, meta={"columns": columns} if columns else {}))
    if not items:
        raise DataError("no items in file", path=path)
    return items


def read_answers(path: Path) -> list[tuple[int, str, str | None]]:
    """Read an answers file: one ``{"id": ..., "label": ...}`` a line; ``"label": null`` skips the item."""
    path = Path(path)
    if not path.exists():
        raise DataError("file not found", path=path)
    answers = []
    for number, row in _rows(path):
        if "id" not in row or row["id"] in (None, ""):
            raise DataError("missing id", path=path, line=number, field="id")
        if "label" not in row:
            raise DataError("missing label (use null to skip)", path=path, line=number, field="label")
        label = row["label"]
        answers.append((number, str(row["id"]), None if label is None else str(label)))
    if not answers:
        raise DataError("no answers in file", path=path)
    return answers


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a crash leaves either the old file or the new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with tmp.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_export(records: Iterable[LabelRecord], path: Path) -> int:
    """Write labels with provenance as JSONL (default) or CSV (by suffix); return how many."""
    path = Path(path)
    if path.suffix.lower() not in {".jsonl", ".ndjson", ".csv"}:
        suffix = repr(path.suffix) if path.suffix else "a name without a suffix"
        raise DataError(f"cannot export to {suffix}: name a .jsonl or .csv file", path=path)
    rows = [record.model_dump() for record in records]
    if path.suffix.lower() == ".csv":
        buffer = io.StringIO()
        fields = list(LabelRecord.model_fields)
        writer = csv.DictWriter(buffer, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "reasons": " | ".join(row["reasons"])})
        data = buffer.getvalue().encode("utf-8")
    else:
        data = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode("utf-8")
    write_atomic(path, data)
    return len(rows)
