"""A pool of a million texts: making its run folder (read the pool, write the item store, vectors from the cache)
and opening it again, against the in-memory path it replaced.

    python benchmarks/pool_streaming.py [--texts 1000000] [--no-old] [--keep DIR]

Builds a pool of ``--texts`` texts, each one to four sentences drawn at random (a fixed seed) from the shared
datasets' train files (/work/shared/datasets/*/train.jsonl), with an id and a ``source`` column. No model runs:
every text's vector is put in a new embedding cache beforehand as a random unit vector under the default model's
key, as ``benchmarks/second_run.py`` does (said in the output and the JSON as ``synthetic_vectors``). Then, each
step in a new process:

- new create: ``Workspace.create`` (the pool read row by row into items.sqlite, vectors from the cache a batch at
  a time into vectors.npy);
- new open: ``Workspace.open`` (every file checked) and what a run's context asks first (``pool_ids``, the id to
  row map, the texts of 100 ids);
- old create: the path before the store: ``read_items`` into a list of ``Item``, ``items.jsonl``, every text
  embedded in one call (``embed_texts``), the matrix saved;
- old open: ``items.jsonl`` read into ``Item`` objects, the vectors mapped, and the context's id to row map and
  public copies of every item, as ``RunContext`` made them.

For each: seconds, peak RSS (``ru_maxrss``: file pages of the memory-mapped vectors count too) and peak anonymous
memory (sampled every 20 ms: what the process's own objects took). Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("LABELGRAPH_EMBEDDING", "minilm")  # measured on MiniLM, as its figures were

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"
MB = 2**20
DIM = 384


def sentences() -> tuple[list[str], list[str]]:
    """Every sentence of the shared train files, and the dataset each came from."""
    found, sources = [], []
    for path in sorted(DATASETS.glob("*/train.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            for sentence in re.split(r"(?<=[.!?])\s+", json.loads(line)["text"].strip()):
                if len(sentence) > 3:
                    found.append(sentence)
                    sources.append(path.parent.name)
    return found, sources


def write_pool(path: Path, n: int) -> int:
    """``n`` texts of one to four sentences recombined at random, as JSON lines; returns the distinct texts."""
    import numpy as np

    base, sources = sentences()
    rng = np.random.default_rng(12)
    distinct: set[int] = set()
    with path.open("w", encoding="utf-8") as handle:
        for start in range(0, n, 100_000):
            count = min(100_000, n - start)
            lengths = rng.integers(1, 5, size=count)
            picks = rng.integers(0, len(base), size=(count, 4))
            lines = []
            for offset in range(count):
                chosen = picks[offset, : lengths[offset]]
                text = " ".join(base[index] for index in chosen)
                distinct.add(hash(text))
                row = {"id": f"t{start + offset}", "text": text, "source": sources[chosen[0]]}
                lines.append(json.dumps(row, ensure_ascii=False))
            handle.write("\n".join(lines) + "\n")
    return len(distinct)


def fill_cache(pool: Path) -> int:
    """Every pool text's vector into the embedding cache as a random unit vector (no model runs); returns how many."""
    import numpy as np

    from labelgraph.encoding.cache import EmbeddingCache, cache_folder, model_key, text_hash
    from labelgraph.encoding.embedders import get_embedder

    root = cache_folder()
    assert root is not None
    cache = EmbeddingCache(root, model_key(get_embedder("minilm")))
    rng = np.random.default_rng(0)
    done, seen = 0, set()
    chunk: list[bytes] = []

    def put() -> None:
        vectors = rng.standard_normal((len(chunk), DIM), dtype=np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        cache.put(chunk, vectors)

    with pool.open(encoding="utf-8") as handle:
        for line in handle:
            key = text_hash(json.loads(line)["text"])
            if key in seen:
                continue
            seen.add(key)
            chunk.append(key)
            if len(chunk) == 4096:
                put()
                done += len(chunk)
                chunk = []
    if chunk:
        put()
        done += len(chunk)
    return done


class AnonPeak:
    """The largest anonymous resident memory of this process, sampled every 20 ms on a thread."""

    def __init__(self) -> None:
        self.peak = rss_anon_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss_anon_mb())

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return max(self.peak, rss_anon_mb())


def rss_anon_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child(step: str, project: Path) -> None:
    """One step in this (new) process: its figures as one JSON line on stdout."""
    import numpy as np

    from labelgraph.config import load_project
    from labelgraph.session.workspace import Workspace

    config = load_project(project)
    assert config.run_dir is not None
    sampler, start = AnonPeak(), time.perf_counter()
    figures: dict = {}
    if step == "new-create":
        workspace = Workspace.create(config)
        figures["rows"] = workspace.item_store.count()
    elif step == "new-open":
        workspace = Workspace.open(config.run_dir)
        figures["open_only_s"] = time.perf_counter() - start
        pool, rows = workspace.pool_ids, workspace.row_of
        figures["texts"] = len(workspace.item_store.texts([rows[i] for i in pool[:: max(1, len(pool) // 100)]]))
        figures["rows"] = len(pool)
    elif step == "old-create":
        from labelgraph.data import read_items, write_atomic
        from labelgraph.encoding.cache import EmbeddingCache, cache_folder, embed_texts, model_key
        from labelgraph.encoding.fanout import embedder_for
        from labelgraph.session.workspace import _save_items

        read = {"text_field": config.text_field, "id_field": config.id_field, "label_field": config.label_field,
                "labels": config.label_names, "max_text_chars": config.max_text_chars}  # fmt: skip
        items = read_items(config.pool, **read)
        for item in items:
            item.meta["in_pool"] = True
        figures["read_s"] = time.perf_counter() - start
        embedder = embedder_for(config)
        root = cache_folder()
        assert root is not None
        cache = EmbeddingCache(root, model_key(embedder))
        config.run_dir.mkdir(parents=True, exist_ok=True)
        _save_items(config.run_dir / "items.jsonl", items)
        vectors = embed_texts(embedder, [item.text for item in items], cache)
        with open(config.run_dir / "vectors.npy", "wb") as handle:
            np.save(handle, vectors, allow_pickle=False)
        meta = {"thread_id": "old", "config": config.model_dump(mode="json")}
        write_atomic(config.run_dir / "run.json", json.dumps(meta).encode("utf-8"))
        figures["rows"] = len(items)
    elif step == "old-open":
        from labelgraph.data import Item
        from labelgraph.session.workspace import _load_items, _load_vectors

        items = _load_items(config.run_dir / "items.jsonl")
        vectors = _load_vectors(config.run_dir / "vectors.npy", len(items))
        figures["open_only_s"] = time.perf_counter() - start
        rows = {item.id: row for row, item in enumerate(items)}  # RunContext.__post_init__ as it was
        public = [
            Item(id=i.id, text=i.text, meta={k: v for k, v in i.meta.items() if k not in {"seed", "in_pool"}})
            for i in items
        ]
        pool = [item.id for item in items if item.meta.get("in_pool")]
        figures["texts"] = len([public[rows[i]].text for i in pool[:: max(1, len(pool) // 100)]])
        figures["rows"] = len(pool) + 0 * len(vectors)
    figures["s"] = time.perf_counter() - start
    figures["peak_anon_mb"] = sampler.stop()
    figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures["model_loaded"] = "sentence_transformers" in sys.modules or "torch" in sys.modules
    print(json.dumps(figures))


def measure(step: str, project: Path, env: dict[str, str]) -> dict:
    command = [sys.executable, __file__, "--child", step, "--project", str(project)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"{step} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=1_000_000, help="texts in the pool")
    parser.add_argument("--no-old", action="store_true", help="skip the old in-memory path")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temporary one)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--project", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.project)
        return
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="pool-streaming-") as temporary:
        folder = args.keep or Path(temporary)
        folder.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PYTHONPATH": str(ROOT), "LABELGRAPH_PROGRESS": "off"}
        env["LABELGRAPH_EMBED_CACHE"] = str(folder / "cache")
        env.pop("LABELGRAPH_VECTOR_CACHE", None)
        os.environ.update(env)
        sys.path.insert(0, str(ROOT))
        pool = folder / "pool.jsonl"
        start = time.perf_counter()
        distinct = write_pool(pool, args.texts)
        filled = fill_cache(pool)
        print(
            f"pool: {args.texts:,} texts ({distinct:,} distinct, {pool.stat().st_size / MB:.0f} MB), recombined from "
            f"the shared datasets' train sentences; {filled:,} random unit vectors put in a new embedding cache "
            f"(no model runs) in {time.perf_counter() - start:.0f} s"
        )
        results: dict[str, dict] = {}
        for path in ("new", "old") if not args.no_old else ("new",):
            project = folder / f"{path}.yaml"
            project.write_text(
                f"name: {path}\npool: {pool}\nlabels: [a, b]\nbatch_size: 20\nbudget: 100\nrun_dir: {folder / path}\n",
                encoding="utf-8",
            )
            for step in ("create", "open"):
                results[f"{path}_{step}"] = one = measure(f"{path}-{step}", project, env)
                loaded = f" (model loaded: {one['model_loaded']})" if step == "create" else ""
                print(
                    f"{path} {step}: {one['s']:.1f} s, peak RSS {one['peak_rss_mb']:.0f} MB, peak anonymous "
                    f"{one['peak_anon_mb']:.0f} MB{loaded}"
                )
        sizes = {p.name: round(p.stat().st_size / MB, 1) for p in (folder / "new").iterdir() if p.is_file()}
        print(f"new run folder: {sizes} MB")
    figures: dict = {
        "texts": args.texts,
        "distinct_texts": distinct,
        "synthetic_vectors": filled,
        "model_loaded": any(one["model_loaded"] for one in results.values()),
        "run_folder_mb": sizes,
    }
    for name, one in results.items():
        figures[f"{name}_s"] = round(one["s"], 2)
        figures[f"{name}_peak_rss_mb"] = round(one["peak_rss_mb"])
        figures[f"{name}_peak_anon_mb"] = round(one["peak_anon_mb"])
        if "open_only_s" in one:  # Workspace.open (old: the items read) before what the context asks first
            figures[f"{name}_files_s"] = round(one["open_only_s"], 2)
    if "old_create" in results:
        for step in ("create", "open"):
            new, old = results[f"new_{step}"], results[f"old_{step}"]
            figures[f"{step}_speedup"] = round(old["s"] / new["s"], 2)
            figures[f"{step}_anon_ratio"] = round(old["peak_anon_mb"] / new["peak_anon_mb"], 2)
        print(
            f"old / new: create {figures['create_speedup']}x the time, {figures['create_anon_ratio']}x the memory; "
            f"open {figures['open_speedup']}x the time, {figures['open_anon_ratio']}x the memory"
        )
    figures["load_avg_before"] = [round(x, 2) for x in load]
    figures["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
