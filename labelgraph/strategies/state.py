"""Selection state kept in the run folder between rounds: each row's distance to the nearest labelled item.

One file: a magic tag, a JSON header (the vectors' key, their row count, the labelled ids folded in), the float32
distances, and a SHA-256 of all that. A file that does not read back whole, or was written for other vectors,
is not used: the caller computes the distances afresh, so a crash or a changed pool never changes a pick.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from labelgraph.data import read_limited, write_atomic
from labelgraph.errors import DataError

__all__ = ["MinDistance", "load_state", "pool_key", "save_state"]

MAGIC = b"LGMINDv1"
_DIGEST = 32
_SAMPLED_ROWS = 4096


@dataclass
class MinDistance:
    """Each row's cosine distance to the nearest of the labelled items ``ids`` (inf while there are none)."""

    key: str
    ids: frozenset[str]
    distance: np.ndarray


def pool_key(vectors: np.ndarray, ids: Sequence[str]) -> str:
    """A name for a run's vectors: their shape, and the ids and vectors of 4,096 rows spread over them.

    Hashing every row would cost a second a round at 1M x 384 (a run folder's pool never changes; another pool
    changes its size, ids or vectors, which a sample catches).
    """
    digest = hashlib.sha256(f"{vectors.shape}|{vectors.dtype}|{len(ids)}\n".encode())
    step = max(1, len(ids) // _SAMPLED_ROWS)
    digest.update("\n".join(ids[::step][:_SAMPLED_ROWS]).encode("utf-8", "surrogatepass"))
    step = max(1, len(vectors) // _SAMPLED_ROWS)
    digest.update(np.ascontiguousarray(vectors[::step][:_SAMPLED_ROWS]).tobytes())
    return digest.hexdigest()


def save_state(path: Path, state: MinDistance) -> None:
    """Write ``state`` atomically (a crash leaves the old file or the new one)."""
    header = json.dumps({"key": state.key, "rows": len(state.distance), "ids": sorted(state.ids)}).encode()
    body = b"".join([MAGIC, len(header).to_bytes(8, "little"), header, state.distance.astype("<f4").tobytes()])
    write_atomic(path, body + hashlib.sha256(body).digest())


def load_state(path: Path, key: str, rows: int) -> MinDistance | None:
    """The state at ``path`` if it reads back whole and was written for ``key`` and ``rows`` rows; else None."""
    try:
        data = read_limited(path, limit=len(MAGIC) + 8 + 4 * rows + _DIGEST + 2**28)
    except DataError:
        return None
    body, digest = data[:-_DIGEST], data[-_DIGEST:]
    if len(data) < len(MAGIC) + 8 + _DIGEST or not body.startswith(MAGIC) or hashlib.sha256(body).digest() != digest:
        return None
    size = int.from_bytes(body[len(MAGIC) : len(MAGIC) + 8], "little")
    start = len(MAGIC) + 8 + size
    try:
        header = json.loads(body[len(MAGIC) + 8 : start])
        listed = header["ids"]
        ids = frozenset(listed)
        fits = isinstance(listed, list) and header["key"] == key and header["rows"] == rows
    except (ValueError, TypeError, KeyError, RecursionError):
        return None
    if not fits or len(body) - start != 4 * rows or not all(isinstance(one, str) for one in ids):
        return None
    distance = np.frombuffer(body, dtype="<f4", count=rows, offset=start).astype(np.float32)
    return MinDistance(key, ids, distance)
