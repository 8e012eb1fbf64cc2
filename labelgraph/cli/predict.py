"""``labelgraph predict``: label a file of texts with an exported student."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from labelgraph.data import MAX_DATA_BYTES, DataError, read_items, read_limited, write_atomic
from labelgraph.student.folder import check_folder, load_model

__all__ = ["predict_file", "read_texts"]


def read_texts(path: Path, *, text_field: str = "text") -> tuple[list[str], list[str]]:
    """Ids and texts from JSONL or CSV (as a pool file is read) or plain text (one text a non-empty line)."""
    if path.suffix.lower() == ".txt":
        try:
            lines = read_limited(path, limit=MAX_DATA_BYTES).decode("utf-8").splitlines()
        except UnicodeDecodeError as error:
            raise DataError(f"not UTF-8 text (byte {error.start})", path=path) from None
        rows = [(f"{path.stem}-{number}", line) for number, line in enumerate(lines, 1) if line.strip()]
        if not rows:
            raise DataError("no texts in file", path=path)
        return [i for i, _ in rows], [t for _, t in rows]
    items = read_items(path, text_field=text_field)
    return [item.id for item in items], [item.text for item in items]


def predict_file(model: Path, data: Path, output: Path | None, *, text_field: str = "text") -> int:
    """Write one JSON line per text (id, label, probability, probabilities); return how many.

    Cheap checks first: the folder's files and head, then every text of the input; only then the model loads
    (seconds)."""
    check_folder(model)
    ids, texts = read_texts(Path(data), text_field=text_field)
    student = load_model(model)
    probs = student.predict_proba(texts)
    lines = []
    for item_id, row in zip(ids, probs, strict=True):
        best = int(row.argmax())
        lines.append(
            json.dumps(
                {
                    "id": item_id,
                    "label": student.labels[best],
                    "probability": round(float(row[best]), 4),
                    "probabilities": {name: round(float(p), 4) for name, p in zip(student.labels, row, strict=True)},
                },
                ensure_ascii=False,
            )
        )
    text = "".join(line + "\n" for line in lines)
    if output is None:
        sys.stdout.write(text)
    else:
        write_atomic(Path(output), text.encode("utf-8"))
    return len(lines)
