"""The encoder as a setting: short names, folders and hub ids; the assembled wheels with their hash checked; a missing
model in one line; vectors, caches and collections kept apart by model. The real MiniLM saved as a folder stands in
for any other sentence-transformers model; the tests on all-mpnet-base-v2 itself skip where it is not installed."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import numpy as np
import pytest

from labelgraph.config import load_project
from labelgraph.data import LabelRecord
from labelgraph.encoding import encoders
from labelgraph.encoding.cache import model_key
from labelgraph.encoding.embedders import get_embedder
from labelgraph.encoding.encoders import KNOWN, MODELS_ENV, EncoderMissing, KnownEncoder, canonical, source
from labelgraph.errors import ConfigError, RunError
from labelgraph.evals.datasets import CachedEmbedder
from labelgraph.memory import Memory
from labelgraph.memory.store import collection_name
from labelgraph.session.workspace import Workspace
from tests.conftest import invoke_cli

TEXTS = ["a warm, funny film", "dull and far too long", "the cast is superb", "i walked out"]


@pytest.fixture(scope="session")
def minilm_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled MiniLM saved as a plain sentence-transformers folder (safetensors weights)."""
    folder = tmp_path_factory.mktemp("encoders") / "minilm-copy"
    get_embedder("minilm")._loaded().save(str(folder))  # type: ignore[attr-defined]
    return folder


def test_short_names_and_both_project_keys_name_one_encoder(make_project):
    assert canonical("all-MiniLM-L6-v2") == canonical("sentence-transformers/all-minilm-l6-v2") == "minilm"
    assert canonical("mpnet") == canonical("sentence-transformers/all-mpnet-base-v2") == "all-mpnet-base-v2"
    assert load_project(make_project(embedding="all-MiniLM-L6-v2")).embedding_model == "minilm"
    assert load_project(make_project(embedding_model="mpnet")).embedding_model == "all-mpnet-base-v2"
    assert load_project(make_project()).embedding_model == "minilm"
    both = make_project(embedding="minilm", embedding_model="minilm")
    with pytest.raises(ConfigError, match="give the encoder once"):
        load_project(both)


def test_the_default_is_mpnet_and_an_unnamed_encoder_keeps_the_run_folders(make_project, monkeypatch):
    monkeypatch.delenv("LABELGRAPH_EMBEDDING")
    assert load_project(make_project()).embedding_model == "all-mpnet-base-v2"
    monkeypatch.setenv("LABELGRAPH_EMBEDDING", "all-MiniLM-L6-v2")  # a machine's own default (the tests' one)
    made = Workspace.create(load_project(make_project(pool_size=12, seed_size=0, test_size=0)))
    assert made.config.embedding_model == "minilm"
    monkeypatch.delenv("LABELGRAPH_EMBEDDING")  # the project names none: the folder keeps its MiniLM
    again = Workspace.create(load_project(make_project(pool_size=12, seed_size=0, test_size=0, budget=40)))
    assert again.thread_id == made.thread_id and again.config.embedding_model == "minilm" and again.config.budget == 40
    named = load_project(make_project(pool_size=12, seed_size=0, test_size=0, embedding="mpnet"))
    with pytest.raises(RunError, match="embedding_model"):  # one that names another needs a new run folder
        Workspace.create(named)


def test_a_missing_encoder_is_one_line_and_no_run_folder(make_project, tmp_path):
    project = make_project(embedding="./no-such-model")
    result = invoke_cli("run", project)
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "no such folder" in errors[0] and "Traceback" not in result.output
    assert not (tmp_path / "run").exists()


def test_an_encoder_not_installed_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setenv(MODELS_ENV, str(tmp_path / "models"))
    absent = KNOWN["all-mpnet-base-v2"].model_copy(update={"parts": ["labelgraph-test-no-such-part-001"]})
    monkeypatch.setitem(KNOWN, "all-mpnet-base-v2", absent)
    hint = r"python -m labelgraph.encoding.encoders install all-mpnet-base-v2 .*, or set embedding: minilm"
    with pytest.raises(EncoderMissing, match=hint):
        source("all-mpnet-base-v2")
    assert not encoders.is_installed("mpnet")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the hub id, offline: one line, at once
    with pytest.raises(EncoderMissing, match="Hugging Face hub"):
        encoders.load("sentence-transformers/all-mpnet-base-v2")
    result = invoke_cli("eval", "sst2", "--embedding", "all-mpnet-base-v2")
    assert result.exit_code == 2 and "not installed" in result.output


def test_pickled_weights_are_refused(tmp_path):
    folder = tmp_path / "pickled"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "pytorch_model.bin").write_bytes(b"not loaded")
    with pytest.raises(ConfigError, match="pickled"):
        source(str(folder))


def split_zip(folder: Path, out: Path, parts: int) -> list[Path]:
    """``folder`` zipped under ``tiny/`` with two stray desktop.ini files, cut into ``parts`` pieces."""
    archive = out / "tiny.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zipped.write(path, f"tiny/{path.relative_to(folder)}")
        zipped.writestr("tiny/desktop.ini", "[.ShellClassInfo]")
        zipped.writestr("tiny/1_Pooling/desktop.ini", "[.ShellClassInfo]")
    data = archive.read_bytes()
    step = -(-len(data) // parts)
    pieces = []
    for n in range(parts):
        piece = out / f"tiny.zip.{n + 1:03d}"
        piece.write_bytes(data[n * step : (n + 1) * step])
        pieces.append(piece)
    return pieces


def test_wheels_pieces_are_joined_checked_and_cleaned(tmp_path, monkeypatch):
    from safetensors.numpy import save_file

    monkeypatch.setenv(MODELS_ENV, str(tmp_path / "models"))
    folder = tmp_path / "small"  # a real safetensors file, small enough to zip in no time
    folder.mkdir()
    save_file({"weight": np.arange(4096, dtype=np.float32).reshape(64, 64)}, str(folder / "model.safetensors"))
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text('{"pooling_mode_mean_tokens": true}')
    pieces = split_zip(folder, tmp_path, 3)
    digest = hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
    known = KnownEncoder(name="tiny", aliases=[], hub_id="example/tiny", dim=384, sha256_prefix=digest[:16])
    with pytest.raises(ConfigError, match="SHA-256"):
        encoders.install(known.model_copy(update={"sha256_prefix": "0" * 16}), pieces)
    assert list((tmp_path / "models").iterdir()) == []  # nothing half-made is left
    installed = encoders.install(known, pieces)
    assert installed == tmp_path / "models" / "tiny" and not list(installed.rglob("desktop.ini"))
    assert (installed / ".labelgraph-verified").read_text().strip() == digest
    assert (installed / "1_Pooling" / "config.json").is_file() and encoders.source(str(installed)) == str(installed)


def test_another_encoder_never_shares_cache_collection_or_run_folder(minilm_folder, make_project, tmp_path):
    folder = str(minilm_folder)
    other = get_embedder(folder)
    assert model_key(other) != model_key(get_embedder("minilm"))  # the embedding cache's folder
    assert collection_name("labelled", "all-MiniLM-L6-v2") == "labelled"  # as before: old run folders
    assert collection_name("labelled", folder).startswith("labelled-minilm-copy-")
    records = [
        LabelRecord(id=f"r{n}", text=t, label="positive", source="human", status="human", round=1)
        for n, t in enumerate(TEXTS)
    ]
    old = Memory.embedded(tmp_path / "old", embedding_model="minilm")
    old.add(records, get_embedder("minilm").embed(TEXTS))
    assert Memory.embedded(tmp_path / "old", embedding_model=folder).count() == 4  # a folder from before: its own
    vectors = other.embed(TEXTS)  # the same weights from a folder: the same vectors, under another key
    assert np.allclose(vectors, get_embedder("minilm").embed(TEXTS), atol=1e-5)
    new = Memory.embedded(tmp_path / "new", embedding_model=folder)
    new.add(records, vectors)
    assert new.count() == 4 and Memory.embedded(tmp_path / "new", embedding_model="minilm").count() == 0
    # an eval's embedder names the run folder's model, and the same embedder reopens it
    config = load_project(make_project(pool_size=12, seed_size=0, test_size=0))
    made = Workspace.create(config, embedder=CachedEmbedder(other))
    assert made.config.embedding_model == folder and made.vectors.shape == (12, 384)
    again = Workspace.create(config, embedder=CachedEmbedder(other))
    assert again.thread_id == made.thread_id and Workspace.open(config.run_dir).config.embedding_model == folder


@pytest.mark.skipif(not encoders.is_installed("all-mpnet-base-v2"), reason="all-mpnet-base-v2 is not installed")
def test_mpnet_is_the_stronger_encoder_when_installed():
    mpnet = get_embedder("mpnet")
    vectors = mpnet.embed(TEXTS)
    assert vectors.shape == (4, 768) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert (vectors[0] @ vectors[2]) > (vectors[0] @ vectors[1])  # the two warm reviews are the nearer pair
    assert "weights=78c0197b6159d926" in model_key(mpnet)
