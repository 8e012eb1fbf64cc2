"""Pending reviews as a file to answer elsewhere (a spreadsheet, a vendor tool): one row an item, with an empty
``label`` to fill; ``labelgraph review RUN --answers FILE`` reads the same file back (blank labels stay unanswered)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from labelgraph.agents.human import ReviewItem
from labelgraph.data import write_atomic
from labelgraph.errors import DataError

__all__ = ["write_pending"]

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
