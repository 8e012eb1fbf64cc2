"""Embedding over Ray (``scale.ray``): the setting, the one-line error without Ray, and, on a real local Ray with
the real MiniLM, vectors equal to the in-process embedder's bit for bit, with the embedding cache in front."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from labelgraph.config import ScaleSettings, load_project
from labelgraph.encoding import fanout
from labelgraph.encoding.cache import EmbeddingCache, embed_texts, model_key
from labelgraph.encoding.embedders import SentenceTransformerEmbedder
from labelgraph.encoding.fanout import RAY_MISSING, RayEmbedder, embedder_for
from labelgraph.errors import ConfigError
from labelgraph.session.workspace import Workspace
from tests.conftest import SHARED, read_jsonl


def mixed_texts(count: int) -> list[str]:
    """Real texts of many lengths (length classes 16 to 128 tokens): SST-2, TREC and AG News, interleaved."""
    sources = [SHARED / "datasets" / name / "train.jsonl" for name in ("sst2", "trec", "agnews")]
    rows = [read_jsonl(path)[: count // 3 + 1] for path in sources]
    texts = [row["text"] for group in zip(*rows, strict=True) for row in group]
    return texts[:count]


def with_scale(project: Path, block: str) -> Path:
    """The project file with a ``scale:`` block appended as YAML text (so ``off`` is YAML's bare false)."""
    project.write_text(project.read_text(encoding="utf-8") + f"scale:\n  ray: {block}\n", encoding="utf-8")
    return project


# -- the setting and the error without Ray (make test) ------------------------------------------------------


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        ("off", "off"),  # YAML reads it as false
        ("'off'", "off"),
        ("auto", "auto"),
        ("on", "auto"),
        ("' Auto '", "auto"),
        ("ray://head.example:10001", "ray://head.example:10001"),
        ("10.0.0.5:6379", "10.0.0.5:6379"),
    ],
)
def test_scale_ray_accepts_off_auto_and_an_address(make_project, block: str, expected: str) -> None:
    assert load_project(with_scale(make_project(), block)).scale.ray == expected


def test_scale_ray_is_off_unless_set(make_project) -> None:
    config = load_project(make_project())
    assert config.scale.ray == "off"
    assert isinstance(embedder_for(config), SentenceTransformerEmbedder)  # in process, Ray never imported


@pytest.mark.parametrize("block", ["banana", "http://head:8265", "head", "ray://head", "3", "[auto]", "''"])
def test_scale_ray_rejects_junk_naming_the_field_and_line(make_project, block: str) -> None:
    project = with_scale(make_project(), block)
    with pytest.raises(ConfigError) as error:
        load_project(project)
    message = str(error.value)
    assert "field 'scale.ray'" in message and "off, auto" in message, message
    line = project.read_text(encoding="utf-8").splitlines().index(f"  ray: {block}") + 1
    assert f"line {line}:" in message, message
    assert len(message.splitlines()) == 1


def test_unknown_scale_setting_is_refused() -> None:
    with pytest.raises(ValueError, match="Extra inputs"):
        ScaleSettings.model_validate({"ray": "auto", "dask": "auto"})


def test_without_ray_a_run_stops_in_one_line_before_writing_its_folder(make_project, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` meets when Ray is not installed
    config = load_project(with_scale(make_project(), "auto"))
    with pytest.raises(ConfigError) as error:
        embedder_for(config)
    assert str(error.value) == RAY_MISSING
    assert RAY_MISSING == "scale.ray is set but Ray is not installed: pip install 'labelgraph[ray]'"
    with pytest.raises(ConfigError, match="Ray is not installed"):
        Workspace.create(config)
    assert config.run_dir is not None and not config.run_dir.exists()
    off = load_project(with_scale(make_project(), "off"))
    assert isinstance(embedder_for(off), SentenceTransformerEmbedder)  # off never imports Ray


# -- a real local Ray (make test-all) ----------------------------------------------------------------------


@pytest.mark.server
@pytest.mark.ray
def test_a_run_with_scale_ray_auto_embeds_only_uncached_texts_over_a_local_ray_it_then_stops(
    make_project, tmp_path, monkeypatch
) -> None:
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        pytest.skip("Ray is already connected in this process")
    monkeypatch.setenv("LABELGRAPH_VECTOR_CACHE", "")  # before Ray starts: its workers inherit the environment
    monkeypatch.setenv("LABELGRAPH_PROGRESS", "off")
    monkeypatch.setenv("LABELGRAPH_EMBED_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(fanout, "MIN_TEXTS", 0)  # the example pool is small: send it to Ray all the same
    sent: list[int] = []
    real_start = RayEmbedder._start

    def start(self: RayEmbedder, chunks: int) -> list[Any]:
        sent.append(chunks)
        return real_start(self, chunks)

    monkeypatch.setattr(RayEmbedder, "_start", start)
    project = with_scale(make_project(pool_size=300, test_size=100), "auto")
    workspace = Workspace.create(load_project(project))
    assert sent, "the pool went through Ray"
    assert not ray.is_initialized(), "the local Ray the run started is shut down once its texts are embedded"
    texts = [item.text for item in workspace.items]
    assert np.array_equal(np.asarray(workspace.vectors), SentenceTransformerEmbedder("minilm").embed(texts))
    test_texts = [item.text for item in workspace.test_items]
    assert np.array_equal(np.asarray(workspace.test_vectors), SentenceTransformerEmbedder("minilm").embed(test_texts))
    # the cache holds them under the in-process model's key: the same texts again never reach Ray
    sent.clear()
    cache = EmbeddingCache(tmp_path / "cache", model_key(SentenceTransformerEmbedder("minilm")))
    assert cache.stats()["texts"] == len(set(texts) | set(test_texts))
    embedder = RayEmbedder("minilm", "auto", min_texts=0)
    assert np.array_equal(embed_texts(embedder, texts, cache), np.asarray(workspace.vectors))
    assert sent == [] and embedder.actors == 0


@pytest.fixture(scope="module")
def local_ray() -> Iterator[Any]:
    """A local Ray of 2 CPUs for the module, started after the session's vector cache is turned off (its workers
    inherit the environment), so both paths really run the model; shut down after."""
    ray = pytest.importorskip("ray")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LABELGRAPH_VECTOR_CACHE", "")
        patch.setenv("LABELGRAPH_PROGRESS", "off")
        if ray.is_initialized():
            pytest.skip("Ray is already connected in this process")
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        try:
            yield ray
        finally:
            ray.shutdown()


@pytest.mark.server
@pytest.mark.ray
def test_ray_vectors_equal_the_in_process_ones_bit_for_bit(local_ray) -> None:
    texts = mixed_texts(600)
    in_process = SentenceTransformerEmbedder("minilm").embed(texts)
    embedder = RayEmbedder("minilm", "auto", chunk=64, min_texts=0)
    counted: list[int] = []
    over_ray = embedder.embed(texts, progress=counted.append)
    assert embedder.actors == 2  # one an actor a CPU of the cluster
    assert sum(counted) == len(texts) and len(counted) == -(-len(texts) // 64)  # chunk by chunk
    assert over_ray.dtype == np.float32 and over_ray.shape == (600, 384)
    assert np.allclose(np.linalg.norm(over_ray, axis=1), 1, atol=1e-5)
    assert np.array_equal(over_ray, in_process)
    # in other chunks, another order, beside other texts: still the same bits
    shuffled = np.random.default_rng(0).permutation(len(texts))
    again = embedder.embed([texts[row] for row in shuffled])
    assert np.array_equal(again, in_process[shuffled])
    embedder.close()
    assert embedder.actors == 0
    assert local_ray.is_initialized()  # a Ray this embedder did not start is left running
