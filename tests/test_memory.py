"""The Chroma memory against brute-force numpy, reopened in a new process, and written idempotently."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from labelgraph.data import LabelRecord
from labelgraph.encoding.embedders import get_embedder
from labelgraph.memory import Memory
from tests.conftest import EXAMPLE, cli_env, read_jsonl


@pytest.fixture(scope="module")
def labelled():
    rows = read_jsonl(EXAMPLE / "seed.jsonl") + read_jsonl(EXAMPLE / "test.jsonl")[:70]
    records = [
        LabelRecord(id=f"i{n}", text=row["text"], label=row["label"], source="human", status="human", round=1)
        for n, row in enumerate(rows)
    ]
    return records, get_embedder("minilm").embed([r.text for r in records])


def test_neighbours_match_brute_force(tmp_path, labelled):
    records, vectors = labelled
    memory = Memory.embedded(tmp_path / "memory")
    memory.add(records, vectors)
    queries = get_embedder("minilm").embed([row["text"] for row in read_jsonl(EXAMPLE / "pool.jsonl")[:20]])
    found = memory.neighbours(queries, 5)
    similarity = queries @ vectors.T
    for row, near in enumerate(found):
        expected = [records[i].id for i in np.argsort(-similarity[row])[:5]]
        assert [n.id for n in near] == expected
        assert [n.similarity for n in near] == pytest.approx(sorted(similarity[row], reverse=True)[:5], abs=1e-4)
        assert all(n.label == records[int(n.id[1:])].label and n.source == "human" for n in near)


def test_upsert_is_idempotent_and_counts_labels(tmp_path, labelled):
    records, vectors = labelled
    memory = Memory.embedded(tmp_path / "memory")
    memory.add(records, vectors)
    memory.add(records[:10], vectors[:10])
    assert memory.count() == len(records)
    counts = memory.label_counts()
    assert counts == {label: sum(r.label == label for r in records) for label in {r.label for r in records}}
    memory.remove([records[0].id])
    assert records[0].id not in memory.ids() and memory.count() == len(records) - 1


def test_near_duplicates(tmp_path, labelled):
    records, vectors = labelled
    memory = Memory.embedded(tmp_path / "memory")
    memory.add(records, vectors)
    texts = [records[3].text, "a completely unrelated sentence about tax forms and weather ."]
    duplicates = memory.near_duplicates(get_embedder("minilm").embed(texts), threshold=0.95)
    assert duplicates[0] is not None and duplicates[0].id == records[3].id
    assert duplicates[1] is None


def test_empty_memory_has_no_neighbours(tmp_path):
    memory = Memory.embedded(tmp_path / "memory")
    assert memory.neighbours(np.ones((2, 384), dtype=np.float32) / np.sqrt(384), 5) == [[], []]


def test_reopened_in_a_new_process_searches_by_text(tmp_path, labelled):
    records, vectors = labelled
    Memory.embedded(tmp_path / "memory").add(records, vectors)
    script = (
        "import sys; from labelgraph.memory import Memory;"
        "m = Memory.embedded(sys.argv[1]); print(m.count(), m.search(sys.argv[2], 1)[0].id)"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "memory"), records[7].text],
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [str(len(records)), records[7].id]
    assert "not found" not in out.stderr


def test_a_pool_sized_query_is_answered(tmp_path):
    """The embedded annotator asks for the neighbours of a whole pool at once (19,571 failed in Chroma's SQLite)."""
    memory = Memory.embedded(tmp_path / "m")
    rng = np.random.default_rng(0)
    stored = rng.normal(size=(30, 384)).astype(np.float32)
    stored /= np.linalg.norm(stored, axis=1, keepdims=True)
    records = [
        LabelRecord(id=f"i{n}", text=f"t{n}", label="a", source="human", status="human", round=1) for n in range(30)
    ]
    memory.add(records, stored)
    queries = np.concatenate([stored, rng.normal(size=(20_000, 384)).astype(np.float32)])
    found = memory.neighbours(queries, 3)
    assert len(found) == len(queries) and all(len(near) == 3 for near in found)
    assert [near[0].id for near in found[:30]] == [r.id for r in records]  # each stored vector finds itself first
