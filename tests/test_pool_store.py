"""The run folder's item store (items.sqlite): a pool read row by row into it gives back what the files said;
a damaged store is named in one line; a bad row is the same error as before; an older folder still opens."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from labelgraph.config import ProjectConfig
from labelgraph.data import Item, read_items
from labelgraph.errors import DataError, RunDamaged
from labelgraph.session.workspace import Workspace, _save_items
from labelgraph.stores.items import BATCH

LABELS = {"pos": "good", "neg": "bad"}


class HashEmbedder:
    """Vectors from a hash of the text: instant and deterministic (no model)."""

    name = "hash-pool-store"

    def __init__(self) -> None:
        self.calls: list[int] = []

    def embed(self, texts: list[str]) -> np.ndarray:
        self.calls.append(len(texts))
        rows = [np.frombuffer(hashlib.sha256(t.encode()).digest()[:8], np.uint8) for t in texts]
        return np.array(rows, dtype=np.float32).reshape(len(texts), 8) + 1.0


@pytest.fixture(autouse=True)
def no_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABELGRAPH_EMBED_CACHE", "off")
    monkeypatch.setenv("LABELGRAPH_PROGRESS", "off")


def write_lines(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return path


def project(tmp_path: Path, pool: str, *, seed: str | None = None, test: str | None = None) -> ProjectConfig:
    settings: dict[str, Any] = {"name": "t", "pool": pool, "labels": LABELS, "run_dir": "run"}
    settings.update({key: value for key, value in (("seed", seed), ("test", test)) if value is not None})
    return ProjectConfig(**settings).resolved(tmp_path)


def expected_items(config: ProjectConfig) -> tuple[list[Item], list[Item]]:
    """What a run folder held before the store: every item read into memory, with the flags in ``meta``."""
    read: dict[str, Any] = {"labels": config.label_names}
    pool = read_items(config.pool, **read)
    for item in pool:
        item.meta["in_pool"] = True
    items = list(pool)
    by_id = {item.id: item for item in pool}
    for seed in read_items(config.seed, require_label=True, **read) if config.seed else []:
        seed.meta["seed"] = True
        if seed.id in by_id:
            by_id[seed.id].label = seed.label
            by_id[seed.id].meta["seed"] = True
        else:
            items.append(seed)
    test = read_items(config.test, require_label=True, **read) if config.test else []
    return items, test


def dumped(items: Any) -> list[dict[str, Any]]:
    return [item.model_dump() for item in items]


@pytest.fixture
def files(tmp_path: Path) -> ProjectConfig:
    """A pool with odd ids, columns, labels and texts; seeds on and off the pool; a test set."""
    pool = [
        {"id": "a", "text": "plain text", "label": "pos"},
        {"id": 7, "text": "a numeric id\nwith a newline", "source": "web", "score": 0.5},
        {"text": "no id: named after the line", "nested": {"deep": [1, {"x": None}]}},
        {"id": "d", "text": "emoji 😀 and accents éà, a tab\tand a NUL \x00 inside", "label": None},
        {"id": "e", "text": "  spaces around  ", "seed": "a column named like a flag"},
    ]
    seed = [{"id": "a", "text": "plain text", "label": "neg"}, {"id": "s1", "text": "seed only", "label": "pos"}]
    test = [{"id": "a", "text": "a test text may share an id", "label": "pos"}, {"text": "another", "label": "neg"}]
    write_lines(tmp_path / "pool.jsonl", pool)
    write_lines(tmp_path / "seed.jsonl", seed)
    write_lines(tmp_path / "test.jsonl", test)
    return project(tmp_path, "pool.jsonl", seed="seed.jsonl", test="test.jsonl")


def test_a_pool_read_into_the_store_and_reopened_gives_the_same_items(files):
    items, test = expected_items(files)
    embedder = HashEmbedder()
    created = Workspace.create(files, embedder=embedder)
    assert (files.run_dir / "items.sqlite").is_file()
    assert not (files.run_dir / "items.jsonl").exists()
    for workspace in (created, Workspace.open(files.run_dir)):
        assert dumped(workspace.items) == dumped(items)
        assert dumped(workspace.test_items) == dumped(test)
        assert [workspace.items[row].id for row in range(len(items))] == [item.id for item in items]
        assert dumped(workspace.items[-2:]) == dumped(items[-2:])
        assert workspace.ids == [item.id for item in items]
        assert workspace.pool_ids == ["a", "7", "pool-3", "d", "e"]
        assert workspace.row_of["s1"] == 5
        assert workspace.gold() == {"a": "neg"}  # the seed's label wins over the pool file's
        assert dumped(workspace.seed_items()) == dumped([item for item in items if item.meta.get("seed")])
        np.testing.assert_array_equal(workspace.vectors, embedder.embed([item.text for item in items]))
        np.testing.assert_array_equal(workspace.test_vectors, embedder.embed([item.text for item in test]))
    public = created.item_store.public([3, 0])  # as agents see them: no gold label, no flags
    assert dumped(public) == [
        {"id": "d", "text": items[3].text, "label": None, "meta": {}},
        {"id": "a", "text": "plain text", "label": None, "meta": {}},
    ]
    assert created.item_store.texts([4, 1]) == [items[4].text, items[1].text]


def test_a_csv_pool_streams_to_the_same_items(tmp_path):
    body = 'id,text,label,note\r\n1,"quoted, with a comma",pos,x\r\n2,"two\nlines",,\r\n'
    body += '3,\xe9t\xe9,neg,"a ""quote"""\r\n'
    (tmp_path / "pool.csv").write_text(body, encoding="utf-8", newline="")
    config = project(tmp_path, "pool.csv")
    items, _ = expected_items(config)
    workspace = Workspace.create(config, embedder=HashEmbedder())
    assert dumped(Workspace.open(workspace.path).items) == dumped(items)
    assert items[1].text == "two\nlines" and items[2].meta == {"columns": {"note": 'a "quote"'}, "in_pool": True}


def test_a_csv_with_old_mac_line_endings_reads_row_by_row_as_before(tmp_path):
    """Lines end at a lone carriage return too (as the whole-file read split them), and line numbers follow."""
    (tmp_path / "pool.csv").write_bytes(b'id,text\r1,"one\rcell"\r2,two\r3,\r')
    with pytest.raises(DataError) as error:
        read_items(tmp_path / "pool.csv")
    assert str(error.value) == f"{tmp_path / 'pool.csv'}, line 5, field 'text': missing or empty text"
    (tmp_path / "pool.csv").write_bytes(b'id,text\r1,"one\rcell"\r2,two\r')
    assert [(item.id, item.text) for item in read_items(tmp_path / "pool.csv")] == [("1", "one\rcell"), ("2", "two")]


def test_a_pool_larger_than_a_batch_is_embedded_from_the_store(tmp_path, monkeypatch):
    import labelgraph.session.workspace as workspace_module

    monkeypatch.setattr(workspace_module, "EMBED_ROWS", 1000)  # several embedding batches from a small pool
    rows = [{"id": f"t{n}", "text": f"text number {n}"} for n in range(BATCH + 1500)]
    config = project(tmp_path, write_lines(tmp_path / "pool.jsonl", rows).name)
    embedder = HashEmbedder()
    workspace = Workspace.create(config, embedder=embedder)
    assert max(embedder.calls) == 1000 and sum(embedder.calls) == len(rows)
    assert workspace.pool_ids == [row["id"] for row in rows]
    assert [item.text for item in workspace.items] == [row["text"] for row in rows]
    assert workspace.items[BATCH + 3].id == f"t{BATCH + 3}"
    np.testing.assert_array_equal(workspace.vectors[-1], embedder.embed([rows[-1]["text"]])[0])


BAD_POOLS = {
    "an empty text": [{"id": "a", "text": "x"}, {"id": "b", "text": " "}],
    "a repeated id": [{"id": "a", "text": "x"}, {"id": "b", "text": "y"}, {"id": "a", "text": "z"}],
    "a repeated id before an empty text": [{"id": "a", "text": "x"}, {"id": "a", "text": "y"}, {"text": ""}],
    "an unknown label": [{"id": "a", "text": "x", "label": "maybe"}],
    "a list for an id": [{"id": [1], "text": "x"}],
    "no rows": [],
}


@pytest.mark.parametrize("case", list(BAD_POOLS))
def test_a_bad_row_is_the_same_error_with_file_and_line(tmp_path, case):
    pool = write_lines(tmp_path / "pool.jsonl", BAD_POOLS[case])
    config = project(tmp_path, "pool.jsonl")
    with pytest.raises(DataError) as before:
        read_items(pool, labels=config.label_names)
    with pytest.raises(DataError) as now:
        Workspace.create(config, embedder=HashEmbedder())
    assert str(now.value) == str(before.value)
    assert str(now.value).startswith(str(pool)) and "\n" not in str(now.value)
    assert not config.run_dir.exists()  # nothing is left behind


def test_a_repeated_id_across_batches_names_both_lines(tmp_path):
    rows = [{"id": f"t{n}", "text": f"text {n}"} for n in range(BATCH + 10)] + [{"id": "t5", "text": "again"}]
    pool = write_lines(tmp_path / "pool.jsonl", rows)
    with pytest.raises(DataError, match="duplicate id") as error:
        Workspace.create(project(tmp_path, "pool.jsonl"), embedder=HashEmbedder())
    assert str(error.value) == f"{pool}, line {BATCH + 11}, field 'id': duplicate id 't5' (first on line 6)"


def make_run(tmp_path: Path, files: ProjectConfig) -> Path:
    Workspace.create(files, embedder=HashEmbedder())
    return files.run_dir


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


FILE_DAMAGES = {
    "truncated": lambda data: data[: len(data) // 2],
    "empty": lambda data: b"",
    "garbage": lambda data: bytes((n * 131 + 7) % 256 for n in range(len(data))),
}
ROW_DAMAGES = {
    "a text that is not UTF-8": "UPDATE items SET text = CAST(x'ff30' AS TEXT) WHERE row = 1",
    "a text that is bytes": "UPDATE items SET text = x'6869' WHERE row = 1",
    "a meta that is not JSON": "UPDATE items SET meta = '{\"columns\": ' WHERE row = 1",
    "a gap in the rows": "UPDATE items SET row = 99 WHERE row = 2",
    "a test row lost": "DELETE FROM test_items WHERE row = 0",
    "another format": "UPDATE info SET value = '9' WHERE key = 'format'",
    "no items table": "DROP TABLE items",
}


@pytest.mark.parametrize("damage", [*FILE_DAMAGES, *ROW_DAMAGES])
def test_a_damaged_store_is_named_in_one_line(tmp_path, files, damage):
    run = make_run(tmp_path, files)
    store = run / "items.sqlite"
    if damage in FILE_DAMAGES:
        store.write_bytes(FILE_DAMAGES[damage](store.read_bytes()))
    else:
        with closing(sqlite3.connect(store)) as db, db:
            db.execute(ROW_DAMAGES[damage])
    before = snapshot(run)
    with pytest.raises(RunDamaged) as error:
        Workspace.open(run)
    message = str(error.value)
    assert message.startswith(f"{store} is damaged (") and "\n" not in message, message
    assert "the run's copy of the project's texts" in message and "Nothing was changed" in message
    assert snapshot(run) == before


def test_a_missing_store_is_named(tmp_path, files):
    run = make_run(tmp_path, files)
    (run / "items.sqlite").unlink()
    with pytest.raises(RunDamaged, match=r"items.sqlite is damaged \(file not found\)"):
        Workspace.open(run)


def old_format(run: Path) -> Path:
    """Turn a run folder into one made before the item store: items.jsonl and test.jsonl instead."""
    workspace = Workspace.open(run)
    _save_items(run / "items.jsonl", list(workspace.items))
    _save_items(run / "test.jsonl", list(workspace.test_items))
    (run / "items.sqlite").unlink()
    return run


def test_an_older_run_folder_with_items_jsonl_still_opens_and_is_not_changed(tmp_path, files):
    items, test = expected_items(files)
    run = old_format(make_run(tmp_path, files))
    before = snapshot(run)
    workspace = Workspace.open(run)
    assert dumped(workspace.items) == dumped(items) and dumped(workspace.test_items) == dumped(test)
    assert workspace.pool_ids == ["a", "7", "pool-3", "d", "e"] and workspace.gold() == {"a": "neg"}
    assert dumped(workspace.item_store.public([0])) == [{"id": "a", "text": "plain text", "label": None, "meta": {}}]
    assert snapshot(run) == before and not (run / "items.sqlite").exists()
    lines = (run / "items.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    (run / "items.jsonl").write_text("".join([*lines[:-1], lines[0]]), encoding="utf-8")
    with pytest.raises(RunDamaged, match=r"items.jsonl is damaged \(an id is on two lines\)"):
        Workspace.open(run)
    (run / "items.jsonl").write_text('{"id": "a"}\n', encoding="utf-8")
    with pytest.raises(RunDamaged, match=r"items.jsonl is damaged \(line 1 is not an item"):
        Workspace.open(run)


def test_a_copied_run_folder_reads_its_own_store(tmp_path, files):
    run = make_run(tmp_path, files)
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    with closing(sqlite3.connect(copy / "items.sqlite")) as db, db:
        db.execute("UPDATE items SET text = 'changed in the copy' WHERE row = 0")
    assert Workspace.open(run).items[0].text == "plain text"
    assert Workspace.open(copy).items[0].text == "changed in the copy"


def test_a_float16_run_folder_holds_half_the_bytes_and_picks_as_float32_does(make_project, gold):
    """``scale: {vectors: float16}`` stores the pool's vectors in half the bytes; they are computed on as float32,
    within float16's rounding of the float32 ones, and a coreset run picks the same texts for people as float32 does."""
    from labelgraph.agents.human import SimulatedHuman
    from labelgraph.session.run import Project

    def finished(kind: str) -> tuple[Any, dict[str, int]]:
        project = make_project(strategy="coreset", run_dir=f"run-{kind}", scale={"vectors": kind})
        run = Project.from_yaml(project).start()
        stored = np.load(run.workspace.path / "vectors.npy", mmap_mode="r")
        assert stored.dtype == np.dtype(kind)
        vectors = run.context.vectors(run.context.pool_ids[:50])
        run.run(SimulatedHuman(gold, run.config.label_names, seed=1))
        picks = {h.id: h.round for h in run.store.human().values() if h.kind == "explore"}  # the strategy's
        sizes = (run.workspace.path / "vectors.npy").stat().st_size
        run.close()
        return (vectors, sizes), picks

    (full, full_bytes), full_picks = finished("float32")
    (half, half_bytes), half_picks = finished("float16")
    assert half.dtype == np.float32 and np.abs(half - full).max() < 5e-4 and not np.array_equal(half, full)
    assert half_bytes < 0.55 * full_bytes
    assert half_picks == full_picks and len(full_picks) >= 5
