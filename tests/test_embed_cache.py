"""The embedding cache: real MiniLM, real files. Vectors by (model, text hash), equal to a fresh embedding bit for
bit; a second run's workspace embeds nothing; damage is a warning, never a wrong vector; a kill loses one batch."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from labelgraph.config import load_project
from labelgraph.encoding import cache as embed_cache
from labelgraph.encoding.cache import EmbeddingCache, cache_folder, embed_texts, model_key
from labelgraph.encoding.embedders import SentenceTransformerEmbedder, get_embedder, padded_length
from labelgraph.session.workspace import Workspace
from tests.conftest import EXAMPLE, ROOT, read_jsonl

TEXTS = [row["text"] for row in read_jsonl(EXAMPLE / "pool.jsonl")]


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Texts each call to the model was given; no session vector cache between the tests and the model."""
    monkeypatch.delenv("LABELGRAPH_VECTOR_CACHE", raising=False)
    monkeypatch.setenv("LABELGRAPH_PROGRESS", "off")
    made: list[int] = []
    real = SentenceTransformerEmbedder._encode

    def counted(self, texts, progress=None):
        made.append(len(texts))
        return real(self, texts, progress)

    monkeypatch.setattr(SentenceTransformerEmbedder, "_encode", counted)
    return made


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("LABELGRAPH_EMBED_CACHE", str(folder))
    return folder


def minilm_cache(root: Path) -> EmbeddingCache:
    return EmbeddingCache(root, model_key(get_embedder("minilm")))


def test_cached_vectors_are_a_fresh_embedding_bit_for_bit(calls, tmp_path):
    model = get_embedder("minilm")
    texts = TEXTS[:60]
    first = embed_texts(model, texts, minilm_cache(tmp_path))
    assert sum(calls) == 60
    # another list: some texts cached, in another order, beside new ones and a duplicate
    mixed = [*texts[40:][::-1], *TEXTS[60:75], texts[3], texts[3]]
    cached = embed_texts(model, mixed, minilm_cache(tmp_path))
    assert calls[1:] == [15]  # only the new texts went to the model
    fresh = model.embed(mixed)  # no cache: the model on this very list
    assert cached.dtype == np.float32 and np.array_equal(cached, fresh)  # bit for bit
    assert np.array_equal(cached[:20], first[40:][::-1])
    one = model.embed([texts[7]])  # alone, in a call of its own: the same bits as among 60
    assert np.array_equal(one[0], first[7])


def test_a_text_is_padded_to_its_length_class():
    assert [padded_length(n, 256) for n in (2, 16, 17, 64, 65, 97, 129, 200, 256)] == [
        16, 16, 32, 64, 96, 128, 192, 256, 256,
    ]  # fmt: skip
    assert padded_length(300, 256) == 256 and padded_length(300, 512) == 384


def test_a_second_workspace_on_the_same_texts_makes_no_model_call(calls, cache_dir, make_project, tmp_path):
    project = make_project(pool_size=120, test_size=40)
    first = Workspace.create(load_project(project))
    assert sum(calls) == 126 + 40  # pool and seed, then the test set
    (tmp_path / "project.yaml").write_text(
        (tmp_path / "project.yaml").read_text().replace("run_dir: run", "run_dir: run2"), encoding="utf-8"
    )
    second = Workspace.create(load_project(project))
    assert second.path != first.path and sum(calls) == 166  # no call to the model
    assert np.array_equal(second.vectors, first.vectors) and np.array_equal(second.test_vectors, first.test_vectors)
    # the run's vectors are mapped from its folder, not copied into memory
    assert isinstance(second.vectors, np.memmap) and not second.vectors.flags.writeable
    assert minilm_cache(cache_dir).stats()["texts"] == 166


def test_the_cache_can_be_turned_off(calls, make_project, monkeypatch, tmp_path):
    monkeypatch.setenv("LABELGRAPH_EMBED_CACHE", "off")
    assert cache_folder() is None
    Workspace.create(load_project(make_project(pool_size=30, test_size=0, seed_size=0)))
    assert sum(calls) == 30
    monkeypatch.setenv("LABELGRAPH_EMBED_CACHE", str(tmp_path / "elsewhere"))
    assert cache_folder() == tmp_path / "elsewhere"
    monkeypatch.delenv("LABELGRAPH_EMBED_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_folder() == tmp_path / "xdg" / "labelgraph" / "embeddings"


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) - 700] ^= 0x10  # inside one vector: the file still loads, with one value changed
    path.write_bytes(bytes(data))


def _garbage_header(path: Path) -> None:
    path.write_bytes(b"not numpy" + path.read_bytes()[9:])


def _garbage_index(path: Path) -> None:
    index = path.parent.parent / "index.sqlite"
    for extra in index.parent.glob("index.sqlite-*"):
        extra.unlink()
    index.write_bytes(b"this is no database " * 500)


@pytest.mark.parametrize("damage", [_truncate, _flip_a_byte, _garbage_header, _garbage_index])
def test_a_damaged_cache_is_bypassed_with_a_warning(calls, tmp_path, caplog, damage):
    model = get_embedder("minilm")
    texts = TEXTS[:40]
    clean = embed_texts(model, texts, minilm_cache(tmp_path))
    (shard,) = (minilm_cache(tmp_path).folder / "shards").glob("*.npy")
    damage(shard)
    caplog.set_level(logging.WARNING, logger="labelgraph.encoding.cache")
    again = embed_texts(model, texts, minilm_cache(tmp_path))  # no exception
    assert np.array_equal(again, clean)  # never a wrong vector
    assert calls == [40, 40]  # embedded again
    (warning,) = [r.getMessage() for r in caplog.records]
    assert "\n" not in warning and "damaged" in warning and str(tmp_path) in warning
    caplog.clear()
    assert np.array_equal(embed_texts(model, texts, minilm_cache(tmp_path)), clean)
    assert calls == [40, 40] and not caplog.records  # repaired: found in the cache, without a word


def test_an_unwritable_cache_folder_is_bypassed_with_a_warning(calls, tmp_path, caplog):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    caplog.set_level(logging.WARNING, logger="labelgraph.encoding.cache")
    vectors = embed_texts(get_embedder("minilm"), TEXTS[:10], minilm_cache(blocker))
    assert np.array_equal(vectors, get_embedder("minilm").embed(TEXTS[:10]))
    (warning,) = [r.getMessage() for r in caplog.records]
    assert "cannot be used" in warning and "\n" not in warning


def test_another_model_name_does_not_share_vectors(calls, tmp_path):
    minilm = get_embedder("minilm")
    embed_texts(minilm, TEXTS[:20], minilm_cache(tmp_path))
    other = SentenceTransformerEmbedder("another-model")
    other._model = minilm._loaded()  # the same weights under another name: still its own vectors
    embed_texts(other, TEXTS[:20], EmbeddingCache(tmp_path, model_key(other)))
    assert calls == [20, 20]
    assert model_key(other) != model_key(minilm)
    assert EmbeddingCache(tmp_path, model_key(other)).folder != minilm_cache(tmp_path).folder

    class Plugin:  # a plug-in without a cache_key: keyed by its class and name
        name, dim = "minilm", 384

        def embed(self, texts):
            return minilm.embed(texts)

    assert model_key(Plugin()) != model_key(minilm) and model_key(Plugin()).endswith(":minilm")


def test_a_failed_embedding_keeps_the_batches_written(calls, tmp_path, monkeypatch):
    monkeypatch.setattr(embed_cache, "FLUSH_ROWS", 10)
    model = get_embedder("minilm")

    class Failing:
        name, dim, cache_key = "minilm", 384, model_key(model)

        def __init__(self) -> None:
            self.batches = 0

        def embed(self, texts):
            self.batches += 1
            if self.batches == 4:
                raise RuntimeError("out of memory")
            return model.embed(texts)

    with pytest.raises(RuntimeError):
        embed_texts(Failing(), TEXTS[:50], minilm_cache(tmp_path))
    assert minilm_cache(tmp_path).stats() == {"texts": 30, "shards": 3}
    before = sum(calls)
    vectors = embed_texts(model, TEXTS[:50], minilm_cache(tmp_path))
    assert sum(calls) - before == 20 and np.array_equal(vectors, model.embed(TEXTS[:50]))


KILLED = """
import sys
from pathlib import Path
from labelgraph.encoding import cache as embed_cache
from labelgraph.encoding.embedders import get_embedder
from tests.conftest import EXAMPLE, read_jsonl
embed_cache.FLUSH_ROWS = 8
model = get_embedder("minilm")
texts = [row["text"] for row in read_jsonl(EXAMPLE / "pool.jsonl")][:120]
embed_cache.embed_texts(model, texts, embed_cache.EmbeddingCache(Path(sys.argv[1]), embed_cache.model_key(model)))
"""


@pytest.mark.slow  # a new process loads the model: about 15 s on 2 busy cores
def test_a_killed_embedding_resumes_after_the_batches_written(calls, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LABELGRAPH_PROGRESS": "off"}
    env.pop("LABELGRAPH_VECTOR_CACHE", None)
    child = subprocess.Popen([sys.executable, "-c", KILLED, str(tmp_path)], env=env, cwd=ROOT)
    shards = minilm_cache(tmp_path).folder / "shards"
    deadline = time.monotonic() + 240
    while len(list(shards.glob("*.npy"))) < 3 and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)  # wherever it is: inside a shard's write, or the index's
    child.wait()
    assert child.returncode == -signal.SIGKILL, "the child finished before it was killed"
    written = minilm_cache(tmp_path).stats()["texts"]
    assert 8 <= written < 120
    vectors = embed_texts(get_embedder("minilm"), TEXTS[:120], minilm_cache(tmp_path))
    assert sum(calls) == 120 - written  # what was written is not embedded again
    assert np.array_equal(vectors, get_embedder("minilm").embed(TEXTS[:120]))


@pytest.mark.parametrize("cached", [False, True])
def test_a_pool_embedded_in_batches_shows_one_task(calls, make_project, monkeypatch, tmp_path, capsys, cached):
    """A pool read EMBED_ROWS texts at a time shows one task from 0 to the whole pool (not one per batch), with the
    texts the cache had counted as done."""
    from labelgraph.session import workspace

    monkeypatch.setenv("LABELGRAPH_PROGRESS", "plain")
    monkeypatch.setenv("LABELGRAPH_EMBED_CACHE", str(tmp_path / "cache") if cached else "off")
    monkeypatch.setattr(workspace, "EMBED_ROWS", 16)
    project = make_project(pool_size=50, test_size=0, seed_size=0)
    if cached:  # half the pool's texts are in the cache already
        pool = [row["text"] for row in read_jsonl(tmp_path / "pool.jsonl")]
        embed_texts(get_embedder("minilm"), pool[:25], minilm_cache(tmp_path / "cache"))
        capsys.readouterr()
    before = sum(calls)
    Workspace.create(load_project(project))
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("embedding")]
    assert lines[0] == "embedding: 50 to do" and "50/50 done" in lines[-1], lines
    assert sum(line.endswith("to do") for line in lines) == 1, lines
    assert sum(calls) - before == (25 if cached else 50)
