"""Items and labels, reading pool / seed / test / answer files, and writing exports.

Readers are strict: every problem raises :class:`DataError` naming the file, the line and the field,
before anything is written.

Limits: a file the product reads must be a regular file (not a folder, FIFO, device or symbolic-link loop);
a pool, seed or test file holds at most ``MAX_DATA_BYTES`` (1 GiB), an answers file ``MAX_ANSWERS_BYTES``
(64 MiB); a JSON line nests at most ``MAX_JSON_DEPTH`` (64) levels, and its strings must be valid Unicode
(a lone surrogate such as ``"\\ud83d"`` is an error, not a crash later).
"""

from __future__ import annotations

import csv
import errno
import glob
import io
import json
import logging
import os
import secrets
import stat
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, Literal, NamedTuple

from pydantic import BaseModel, Field

from labelgraph.errors import DataError

log = logging.getLogger(__name__)

__all__ = [
    "MAX_ANSWERS_BYTES",
    "MAX_DATA_BYTES",
    "MAX_JSON_DEPTH",
    "FileAnswer",
    "Item",
    "ItemRow",
    "LabelChange",
    "LabelRecord",
    "Source",
    "duplicate_id",
    "iter_items",
    "open_regular",
    "process_alive",
    "read_answers",
    "read_items",
    "read_limited",
    "remove_stale_temps",
    "write_atomic",
    "write_export",
]

MAX_DATA_BYTES = 2**30
"""Largest pool, seed or test file (1 GiB)."""
MAX_ANSWERS_BYTES = 64 * 2**20
"""Largest answers file (64 MiB)."""
MAX_JSON_DEPTH = 64
"""Deepest nesting of a JSON line (the line's object is level 1)."""

Source = Literal["human", "annotator", "seed", "synthetic", "student"]
Status = Literal["seed", "human", "accepted", "proposed", "predicted"]


csv.field_size_limit(2**31 - 1)  # a text is bounded by max_text_chars (a clear error), not csv's 128 KiB


class Item(BaseModel):
    """One text to label; ``label`` is set for seed and test items (and gold labels in evals)."""

    id: str
    text: str
    label: str | None = None
    meta: dict[str, Any] = Field(default_factory=dict)


class LabelChange(BaseModel):
    """A committed label replaced (``labelgraph relabel``): who, when, from what, to what, and why."""

    at: str
    """When, as an ISO 8601 time in UTC."""
    by: str
    old_label: str | None
    """The label replaced (None: the item had been set aside)."""
    new_label: str
    note: str = ""


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
    relabelled_from: str | None = None
    """The label first committed, when someone has changed it since (``label`` is the current one)."""
    label_history: list[LabelChange] = Field(default_factory=list)
    """Each change of a committed label, oldest first (empty when it never changed)."""


def _kind(mode: int) -> str:
    """A file type in words, for an error message."""
    kinds = {
        stat.S_ISDIR: "a folder",
        stat.S_ISFIFO: "a FIFO (named pipe)",
        stat.S_ISCHR: "a character device",
        stat.S_ISBLK: "a block device",
        stat.S_ISSOCK: "a socket",
    }
    return next((name for test, name in kinds.items() if test(mode)), "not a regular file")


def open_regular(path: Path, *, limit: int) -> BinaryIO:
    """Open ``path`` to read if it is a regular file of at most ``limit`` bytes; else DataError.

    Opened without blocking, so a FIFO cannot hang us; type and size come from the open file itself.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise DataError("file not found", path=path) from None
    except OSError as error:
        reason = "a symbolic link loop" if error.errno == errno.ELOOP else error.strerror
        raise DataError(f"cannot open: {reason}", path=path) from None
    except ValueError as error:  # a NUL in the path
        raise DataError(f"cannot open: {error}", path=path) from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise DataError(f"{_kind(info.st_mode)}, not a regular file", path=path)
    if info.st_size > limit:
        os.close(fd)
        raise DataError(f"{info.st_size:,} bytes, more than the limit of {limit:,}", path=path)
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def read_limited(path: Path, *, limit: int) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes (checked while reading too: it may grow)."""
    with open_regular(path, limit=limit) as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise DataError(f"more than the limit of {limit:,} bytes", path=path)
    return data


def row_bytes(max_text_chars: int) -> int:
    """The most bytes a row of a pool, seed or test file may have: its text at ``max_text_chars`` characters, each
    escaped as JSON writes it at worst (12 bytes: a surrogate pair), and 1 MiB of other columns. A longer line is
    refused as it is read, before it is held whole (a 900 MB line would take gigabytes)."""
    return 12 * max_text_chars + 2**20


def _too_long(longest: int, what: str, path: Path, line: int) -> DataError:
    return DataError(
        f"{what} longer than {longest:,} bytes, more than any row with a text of at most max_text_chars "
        "characters (and 1 MiB of other columns); is the file what it should be? (else raise max_text_chars)",
        path=path,
        line=line,
    )


def _decoded_lines(path: Path, limit: int, longest: int | None = None) -> Iterator[tuple[int, str]]:
    """The file's lines, decoded, read one at a time; a line of more than ``longest`` bytes (its end of line
    included) is an error as soon as that many bytes are read."""
    read = 0
    with open_regular(path, limit=limit) as handle:
        number = 0
        while raw := handle.readline(-1 if longest is None else longest + 1):
            number += 1
            if longest is not None and len(raw) > longest:
                raise _too_long(longest, "a line", path, number)
            read += len(raw)
            if read > limit:
                raise DataError(f"more than the limit of {limit:,} bytes", path=path)
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise DataError(
                    f"not UTF-8 (byte {raw[error.start]:#04x} at column {error.start + 1}); re-save the file as UTF-8",
                    path=path,
                    line=number,
                ) from None
            yield number, line.removeprefix("\ufeff") if number == 1 else line  # Excel's byte-order mark


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def _value_problem(row: dict[str, Any]) -> tuple[str, str | None] | None:
    """Why a parsed JSON line cannot be stored (too deep, a lone surrogate), and the top-level field; or None."""
    stack: list[tuple[Any, int, str | None]] = [(row, 1, None)]
    while stack:
        value, depth, field = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return f"nested deeper than {MAX_JSON_DEPTH} levels", field
        if isinstance(value, dict):
            for key, inner in value.items():
                stack.append((key, depth, field or key))
                stack.append((inner, depth + 1, field or key))
        elif isinstance(value, list):
            stack.extend((inner, depth + 1, field) for inner in value)
        elif isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as error:
                code = f"\\u{ord(value[error.start]):04x}"
                return (
                    f"a lone surrogate ({code}) at character {error.start + 1}: not valid Unicode "
                    "(half of an emoji?); remove it or write the whole character",
                    field,
                )
    return None


def _json_row(line: str, path: Path, number: int) -> dict[str, Any]:
    try:
        row = json.loads(line, parse_constant=_no_constant)
    except json.JSONDecodeError as error:
        raise DataError(f"not valid JSON: {error.msg}", path=path, line=number) from None
    except RecursionError:
        raise DataError(f"not valid JSON: nested deeper than {MAX_JSON_DEPTH} levels", path=path, line=number) from None
    except ValueError as error:  # NaN, Infinity, an integer of thousands of digits
        raise DataError(f"not valid JSON: {error}", path=path, line=number) from None
    if not isinstance(row, dict):
        raise DataError("each line must be a JSON object", path=path, line=number)
    problem = _value_problem(row)
    if problem is not None:
        raise DataError(problem[0], path=path, line=number, field=problem[1])
    return row


def _universal_lines(lines: Iterable[tuple[int, str]]) -> Iterator[str]:
    r"""Lines split as ``io.StringIO(text, newline="")`` splits them: at ``\n``, ``\r\n`` and a lone ``\r``,
    endings kept (what the csv module expects)."""
    for _, line in lines:
        if "\r" not in line:
            yield line
            continue
        start = 0
        while (at := line.find("\r", start)) >= 0:
            end = at + 2 if line.startswith("\n", at + 1) else at + 1
            yield line[start:end]
            start = end
        if start < len(line):
            yield line[start:]


def _rows(
    path: Path, *, limit: int = MAX_DATA_BYTES, longest: int | None = None
) -> Iterator[tuple[int, dict[str, Any]]]:
    """The file's rows with their line numbers, read one at a time (never the whole file in memory); a row of
    more than ``longest`` bytes is an error before it is held whole."""
    suffix = path.suffix.lower()
    if suffix in {".jsonl", ".ndjson", ".json"}:
        for number, line in _decoded_lines(path, limit, longest):
            if line.strip():
                yield number, _json_row(line, path, number)
    elif suffix in {".csv", ".tsv"}:
        for _ in _decoded_lines(path, limit, longest):  # the whole file is UTF-8 (and within the limit) before any row
            pass
        start, taken = 1, 0  # where the row being read starts, and its characters so far (a cell may span lines)

        def counted(lines: Iterable[str]) -> Iterator[str]:
            nonlocal taken
            for line in lines:
                taken += len(line)
                if longest is not None and taken > longest:
                    raise _too_long(longest, "a row", path, start)
                yield line

        reader = csv.DictReader(
            counted(_universal_lines(_decoded_lines(path, limit))), delimiter="\t" if suffix == ".tsv" else ","
        )
        try:
            if reader.fieldnames is not None:  # the header read: rows are counted from the next line
                start, taken = reader.line_num + 1, 0
            for row in reader:
                if None in row:
                    raise DataError("more cells than header columns", path=path, line=reader.line_num)
                yield reader.line_num, dict(row)
                start, taken = reader.line_num + 1, 0
        except csv.Error as error:  # the csv module's own complaint, with where it stopped
            raise DataError(f"not valid CSV: {error}", path=path, line=reader.line_num) from None
    else:
        raise DataError(f"unsupported file type {suffix!r}: use .jsonl or .csv", path=path)


def _no_column(
    field: str, row: dict[str, Any], path: Path, number: int, setting: str, standard: str | None = None
) -> DataError:
    """The error for a field name that is not a column of the file, listing those that are; ``standard``: the
    column name a seed or test file may use instead."""
    columns = ", ".join(repr(str(name)[:40]) for name in list(row)[:20]) or "none"
    more = f" and {len(row) - 20} more" if len(row) > 20 else ""
    if standard is None or standard == field:
        advice = f"name the right one with {setting} in the project file"
    else:
        advice = (
            f"{setting} names this column in the pool, seed and test files alike; a seed or test file may call "
            f"it {standard!r} instead"
        )
    nor = f", nor {standard!r}" if standard is not None and standard != field else ""
    return DataError(
        f"no such column{nor} (the columns are {columns}{more}); {advice}", path=path, line=number, field=field
    )


STANDARD_FIELDS = {"text_field": "text", "id_field": "id", "label_field": "label"}
"""The column names a seed or test file may use where the project's field names are not its columns."""


def _scalar(value: Any, what: str, path: Path, number: int, field: str) -> str | None:
    """A string, number or null as text (None for null or ""); a list, object or true/false is an error."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise DataError(
            f"{what} must be a string or a number, got {json.dumps(value)[:40]}", path=path, line=number, field=field
        )
    return str(value)


class ItemRow(NamedTuple):
    """One validated row of a pool, seed or test file (what :class:`Item` is built from)."""

    line: int
    id: str
    text: str
    label: str | None
    columns: dict[str, Any]
    """The file's other columns (empty: none)."""

    def meta(self) -> dict[str, Any]:
        """The item's metadata as :class:`Item` keeps it."""
        return {"columns": self.columns} if self.columns else {}


def iter_items(
    path: Path,
    *,
    text_field: str = "text",
    id_field: str = "id",
    label_field: str = "label",
    labels: Iterable[str] | None = None,
    require_label: bool = False,
    max_text_chars: int = 20_000,
    unique: bool = True,
    standard_names: bool = False,
    warn_line_ids: bool = False,
) -> Iterator[ItemRow]:
    """The rows of a JSONL or CSV file of items, validated one at a time as :func:`read_items` does.

    ``unique=False`` leaves the check for a repeated id to the caller (``labelgraph.stores.items`` does it in SQLite,
    so a pool of a million texts keeps no set of ids); everything else raises here, at the first bad row.
    ``standard_names``: a column ``text``, ``id`` or ``label`` stands in for a field the file lacks (seed and test
    files, often made apart from the pool). ``warn_line_ids``: a file without its id column says, in a warning
    line, that its items are named by line. A row longer than :func:`row_bytes` is refused before it is held.
    """
    path = Path(path)
    known = list(labels) if labels is not None else None
    seen: dict[str, int] = {}
    first = True
    for number, row in _rows(path, longest=row_bytes(max_text_chars)):
        if first:  # the first row: are the named fields columns at all?
            standard = STANDARD_FIELDS if standard_names else {}
            names = {"text_field": text_field, "id_field": id_field, "label_field": label_field}
            for key, name in names.items():
                if name not in row and standard.get(key) in row:
                    names[key] = standard[key]
            text_field, id_field, label_field = names["text_field"], names["id_field"], names["label_field"]
            if text_field not in row:
                raise _no_column(text_field, row, path, number, "text_field", standard.get("text_field"))
            if require_label and label_field not in row:
                raise _no_column(label_field, row, path, number, "label_field", standard.get("label_field"))
            if id_field != "id" and id_field not in row:
                raise _no_column(id_field, row, path, number, "id_field", standard.get("id_field"))
            if id_field not in row and warn_line_ids:
                log.warning(
                    f"warning: {path} has no {id_field!r} column (id_field): its items are named by line "
                    f"({path.stem}-{number}, ...); set id_field to its id column if it has one"
                )
            first = False
        text = row.get(text_field)
        if text is not None and not isinstance(text, str):
            raise DataError(
                f"text must be a string, got {json.dumps(text)[:40]}", path=path, line=number, field=text_field
            )
        if not isinstance(text, str) or not text.strip():
            raise DataError("missing or empty text", path=path, line=number, field=text_field)
        if len(text) > max_text_chars:
            raise DataError(
                f"text has {len(text):,} characters, more than max_text_chars ({max_text_chars:,})",
                path=path,
                line=number,
                field=text_field,
            )
        raw_id = _scalar(row.get(id_field), "an id", path, number, id_field)
        item_id = f"{path.stem}-{number}" if raw_id is None else raw_id
        if unique:
            if item_id in seen:
                raise duplicate_id(item_id, seen[item_id], path, number, id_field)
            seen[item_id] = number
        label = _scalar(row.get(label_field), "a label", path, number, label_field)
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
        yield ItemRow(number, item_id, text, label, columns)
    if first:
        raise DataError("no items in file", path=path)


def duplicate_id(item_id: str, first: int, path: Path, line: int, field: str) -> DataError:
    """The error for an id given twice in a file."""
    return DataError(f"duplicate id {item_id!r} (first on line {first})", path=path, line=line, field=field)


def read_items(
    path: Path,
    *,
    text_field: str = "text",
    id_field: str = "id",
    label_field: str = "label",
    labels: Iterable[str] | None = None,
    require_label: bool = False,
    max_text_chars: int = 20_000,
    standard_names: bool = False,
) -> list[Item]:
    """Read a JSONL or CSV file of items; a missing id becomes ``<file stem>-<line>``.

    With ``labels`` given, a label outside that set is an error; with ``require_label``, so is a missing one.
    A field that is not a column of the file's first row is named as such, with the columns there are.
    Every item is held in memory: a run folder streams its pool with :func:`iter_items` instead.
    """
    rows = iter_items(
        path,
        text_field=text_field,
        id_field=id_field,
        label_field=label_field,
        labels=labels,
        require_label=require_label,
        max_text_chars=max_text_chars,
        standard_names=standard_names,
    )
    return [Item(id=row.id, text=row.text, label=row.label, meta=row.meta()) for row in rows]


SET_ASIDE = ("skip", "null")
"""What a spreadsheet's label cell says to set an item aside (any case), unless the project has a label so named."""


class FileAnswer(NamedTuple):
    """One answer of an answers file: the line it is on, the item, and its label (None: set the item aside);
    ``blank``: a sheet's row left blank, not answered yet (its label is None too)."""

    line: int
    id: str
    label: str | None
    blank: bool = False


def read_answers(path: Path, labels: Iterable[str] = (), *, blanks: bool = False) -> list[FileAnswer]:
    """Read an answers file: JSONL, one ``{"id": ..., "label": ...}`` a line (``"label": null`` sets the item
    aside; an empty label is an error), or a CSV or TSV sheet with ``id`` and ``label`` columns (what ``review
    --pending`` writes): there a blank label cell is not answered yet (left out, or with ``blanks`` given as a
    blank answer), and ``skip`` or ``null`` sets the item aside unless ``labels`` has a label of that name.
    Labels are trimmed of spaces around them.

    One answer an item: an id twice in the file is an error naming both lines (the first answer would win).
    """
    path = Path(path)
    sheet = path.suffix.lower() in {".csv", ".tsv"}
    names = set(labels)
    answers, rows = [], 0
    seen: dict[str, int] = {}
    for number, row in _rows(path, limit=MAX_ANSWERS_BYTES):
        if sheet and not any(str(cell or "").strip() for cell in row.values()):
            continue  # an empty row of a spreadsheet
        rows += 1
        item_id = _scalar(row.get("id"), "an id", path, number, "id")
        if item_id is None:
            raise DataError("missing id", path=path, line=number, field="id")
        if item_id in seen:
            raise DataError(
                f"a second answer for {item_id!r} (the first is on line {seen[item_id]}); keep one",
                path=path,
                line=number,
                field="id",
            )
        seen[item_id] = number
        if "label" not in row:
            use = "a 'label' column" if sheet else '"label" (null to set the item aside)'
            raise DataError(f"missing label: give {use}", path=path, line=number, field="label")
        label = row["label"]
        if label is not None:
            label = (_scalar(label, "a label", path, number, "label") or "").strip()
            if sheet and not label:  # not answered yet
                if blanks:
                    answers.append(FileAnswer(number, item_id, None, blank=True))
                continue
            if sheet and label not in names and label.lower() in SET_ASIDE:
                label = None
            elif not label:
                raise DataError(
                    "empty label: give one of the project's labels, or null to set the item aside",
                    path=path,
                    line=number,
                    field="label",
                )
        answers.append(FileAnswer(number, item_id, label))
    if not rows:
        raise DataError("no answers in file", path=path)
    return answers


def process_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (one of another user counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temps(path: Path) -> list[Path]:
    """Delete the ``.NAME.tmp-PID-*`` files a killed write of ``path`` left behind (PID no longer running)."""
    removed = []
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.tmp-*"):
        pid = tmp.name.rpartition(".tmp-")[2].split("-")[0]
        if pid.isdigit() and int(pid) > 0 and not process_alive(int(pid)) and tmp.is_file():
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


@contextmanager
def atomic_writer(path: Path) -> Iterator[BinaryIO]:
    """A file to write ``path`` through, put in its place only when the block ends without error: a crash leaves
    either the old file or the new one.

    Temporary files that killed writers of ``path`` left behind are removed first."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        with tmp.open("wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a crash leaves either the old file or the new one."""
    with atomic_writer(path) as handle:
        handle.write(data)


def write_export(records: Iterable[LabelRecord], path: Path) -> int:
    """Write labels with provenance as JSONL (default) or CSV (by suffix), one record at a time (nothing holds
    them all); return how many. The file appears whole or not at all."""
    path = Path(path)
    if path.suffix.lower() not in {".jsonl", ".ndjson", ".csv"}:
        suffix = repr(path.suffix) if path.suffix else "a name without a suffix"
        raise DataError(f"cannot export to {suffix}: name a .jsonl or .csv file", path=path)
    count = 0
    with atomic_writer(path) as handle:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(LabelRecord.model_fields))
        if path.suffix.lower() == ".csv":
            writer.writeheader()
        for record in records:
            row = record.model_dump()
            if path.suffix.lower() == ".csv":
                history = json.dumps(row["label_history"], ensure_ascii=False) if row["label_history"] else ""
                writer.writerow({**row, "reasons": " | ".join(row["reasons"]), "label_history": history})
            else:
                buffer.write(json.dumps(row, ensure_ascii=False) + "\n")
            handle.write(buffer.getvalue().encode("utf-8"))
            buffer.seek(0)
            buffer.truncate()
            count += 1
        handle.write(buffer.getvalue().encode("utf-8"))  # the CSV header of an empty export
    return count
