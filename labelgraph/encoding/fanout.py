"""Embedding fanned out over a Ray cluster (the project's ``scale: {ray: ...}``), the in-process vectors bit for bit.

    labelgraph process ──chunks of texts──▶ Ray actors (one a CPU, each loads the model once) ──vectors──▶ back

``RayEmbedder`` wraps the project's embedder: its name, dimension and cache key are the wrapped one's, so the
embedding cache (``labelgraph.encoding.cache``) sits in front as before and only the texts it lacks reach Ray. Each
actor holds the same embedder class the process would use (``SentenceTransformerEmbedder``), and that class pads
every text to its length class, so a text's vector does not depend on the texts embedded beside it: vectors made
by actors, in any chunks, equal the in-process ones bit for bit (``tests/test_fanout.py`` checks it).

Ray is optional (``pip install 'labelgraph[ray]'``) and imported only when ``scale.ray`` is not ``off``. A list of
fewer than ``MIN_TEXTS`` texts is embedded in this process (Ray's start and the actors' model loads cost more).
A local Ray this module started is shut down when its ``RayEmbedder`` is closed or collected; a cluster it only
connected to is left running.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

from labelgraph.config import ProjectConfig
from labelgraph.encoding.cache import model_key
from labelgraph.encoding.embedders import CACHE_ENV, Embedder, SentenceTransformerEmbedder, get_embedder
from labelgraph.errors import ConfigError

__all__ = ["RAY_MISSING", "RayEmbedder", "connect", "embedder_for", "import_ray"]

RAY_MISSING = "scale.ray is set but Ray is not installed: pip install 'labelgraph[ray]'"
CHUNK_TEXTS = 512
"""Texts a task sends to an actor: a few seconds of MiniLM on one core, many chunks a list to balance the actors."""
MIN_TEXTS = 1024
"""A list shorter than this is embedded in this process unless the actors are already up."""


def import_ray() -> ModuleType:
    """The ``ray`` module; ConfigError (one line, how to install it) when it is not installed."""
    try:
        import ray
    except ImportError:
        raise ConfigError(RAY_MISSING) from None
    return ray


def connect(address: str) -> bool:
    """Connect this process to Ray at ``address`` unless it is already connected; True if this call connected.

    ``auto``: ``$RAY_ADDRESS``, else the cluster last started on this machine (``ray start``), else a new local
    Ray of this machine's CPUs (no dashboard). ``ray://HOST:PORT`` is Ray Client; ``HOST:PORT`` a cluster's GCS.
    """
    ray = import_ray()
    if ray.is_initialized():
        return False
    if address == "auto":  # Ray's own discovery: an address or a running cluster, else it starts one
        ray.init(include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    elif address.startswith("ray://"):
        ray.init(address=address, logging_level=logging.WARNING)
    else:
        ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
    return True


class _Worker:
    """What runs in a Ray actor: the project's embedder, loaded once, fed chunk after chunk."""

    def __init__(self, spec: str, batch_size: int | None) -> None:
        self.embedder: Any = (
            SentenceTransformerEmbedder(spec, batch_size=batch_size) if batch_size is not None else get_embedder(spec)
        )

    def ready(self) -> int:
        """Load the model now; its dimension."""
        return int(self.embedder.dim)

    def embed(self, index: int, texts: list[str]) -> tuple[int, np.ndarray]:
        if isinstance(self.embedder, SentenceTransformerEmbedder):  # its own progress bar would go to a log
            return index, self.embedder.embed(texts, progress=lambda count=1: None)
        return index, np.asarray(self.embedder.embed(texts), dtype=np.float32)


class _Actors:
    """The actors and whether this process started Ray; closed by ``RayEmbedder.close`` or when it is collected."""

    def __init__(self) -> None:
        self.handles: list[Any] = []
        self.connected = False
        self.lock = threading.Lock()

    def close(self) -> None:
        with self.lock:
            if not self.handles and not self.connected:
                return
            ray = import_ray()
            for handle in self.handles:
                ray.kill(handle)
            self.handles = []
            if self.connected and ray.is_initialized():
                ray.shutdown()
            self.connected = False


class RayEmbedder:
    """The embedder ``spec`` names, run in Ray actors on the cluster at ``address`` (see the module's docstring).

    ``inner`` is the same embedder in this process: it gives the name, dimension and cache key, and embeds
    lists shorter than ``min_texts`` (``MIN_TEXTS``). ``actors`` defaults to the cluster's CPUs, one actor a CPU.
    """

    def __init__(
        self,
        spec: str,
        address: str = "auto",
        *,
        inner: Embedder | None = None,
        actors: int | None = None,
        chunk: int = CHUNK_TEXTS,
        min_texts: int | None = None,
    ) -> None:
        import_ray()
        self.spec, self.address = spec, address
        self.inner: Embedder = inner if inner is not None else get_embedder(spec)
        self.name = self.inner.name
        self.batch_size = int(getattr(self.inner, "batch_size", 64))
        self.wanted_actors, self.chunk, self.min_texts = actors, max(1, chunk), min_texts
        self._actors = _Actors()
        self._finalizer = weakref.finalize(self, self._actors.close)

    def __repr__(self) -> str:
        return f"RayEmbedder({self.spec!r}, {self.address!r})"

    @property
    def dim(self) -> int:
        return int(self.inner.dim)

    @property
    def cache_key(self) -> str:
        """The wrapped embedder's: its vectors are the same bits, so the embedding cache is shared with it."""
        return model_key(self.inner)

    @property
    def actors(self) -> int:
        """Actors up now (0 before the first list long enough for Ray)."""
        return len(self._actors.handles)

    def embed(self, texts: list[str], *, progress: Callable[..., None] | None = None) -> np.ndarray:
        """The texts' vectors, in order; ``progress(count)`` is called as chunks come back."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        least = MIN_TEXTS if self.min_texts is None else self.min_texts
        if len(texts) < least and not self._actors.handles:
            vectors = np.asarray(self.inner.embed(texts), dtype=np.float32)
            if progress is not None:
                progress(len(texts))
            return vectors
        from ray.util import ActorPool

        order = sorted(range(len(texts)), key=lambda row: -len(texts[row]))  # like lengths in one chunk
        chunks = [order[start : start + self.chunk] for start in range(0, len(order), self.chunk)]
        pool = ActorPool(self._start(len(chunks)))
        vectors: np.ndarray | None = None
        jobs = [(index, [texts[row] for row in rows]) for index, rows in enumerate(chunks)]
        for index, made in pool.map_unordered(lambda actor, job: actor.embed.remote(*job), jobs):
            rows = chunks[index]
            if vectors is None:
                vectors = np.empty((len(texts), made.shape[1]), dtype=np.float32)
            vectors[rows] = made
            if progress is not None:
                progress(len(rows))
        assert vectors is not None
        return vectors

    def start(self) -> int:
        """Connect, start the actors and wait for each to load its model (else the first list does it); their
        number."""
        handles = self._start(0)
        import_ray().get([handle.ready.remote() for handle in handles])
        return len(handles)

    def _start(self, chunks: int) -> list[Any]:
        """Connect to Ray and start the actors (once); the actors to use for ``chunks`` chunks (0: all)."""
        ray = import_ray()
        state = self._actors
        with state.lock:
            if not state.handles:
                state.connected = connect(self.address) or state.connected
                count = self.wanted_actors or max(1, int(ray.cluster_resources().get("CPU", 1)))
                batch_size = self.batch_size if isinstance(self.inner, SentenceTransformerEmbedder) else None
                worker = ray.remote(num_cpus=1, runtime_env={"env_vars": {CACHE_ENV: ""}})(_Worker)
                state.handles = [worker.remote(self.spec, batch_size) for _ in range(count)]
            return state.handles[: max(1, chunks)] if chunks else list(state.handles)

    def close(self) -> None:
        """Stop the actors, and the local Ray if this embedder started it (a later list starts them again)."""
        self._actors.close()


def embedder_for(config: ProjectConfig) -> Embedder:
    """The embedder a run uses to embed its texts: the project's model, over Ray when ``scale.ray`` is not off
    (ConfigError at once when Ray is not installed)."""
    inner = get_embedder(config.embedding_model)
    if config.scale.ray == "off":
        return inner
    return RayEmbedder(config.embedding_model, config.scale.ray, inner=inner)
