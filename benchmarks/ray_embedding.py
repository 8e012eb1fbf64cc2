"""Embedding over a local Ray cluster against the same embedding in this process: time, and the same bits or not.

    python benchmarks/ray_embedding.py [--texts 20000] [--actors N] [--chunk 512] [--torch-threads N]

Takes ``--texts`` distinct real texts from /work/shared/datasets/*/train.jsonl (the datasets interleaved, so
short questions, sentences and news paragraphs mix; about 41k are there), then, with the embedding cache off
(``LABELGRAPH_EMBED_CACHE=off``, no ``LABELGRAPH_VECTOR_CACHE``):

- in process: ``SentenceTransformerEmbedder("minilm")``, its model loaded first (timed apart), then the texts
  (torch on its default threads, or ``--torch-threads``);
- over Ray: a new local Ray of this machine's CPUs (``scale.ray: auto`` with no cluster running), one
  ``RayEmbedder`` actor a CPU (or ``--actors``): the start (Ray, the actors, their models) timed apart, then
  the same texts in chunks of ``--chunk``.

Prints both, whether the vectors are equal bit for bit (and how many rows differ if not), then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ["LABELGRAPH_EMBED_CACHE"] = "off"  # before labelgraph reads it
os.environ.pop("LABELGRAPH_VECTOR_CACHE", None)
os.environ.setdefault("LABELGRAPH_PROGRESS", "off")

import numpy as np

DATASETS = Path("/work/shared/datasets")


def real_texts(count: int) -> tuple[list[str], dict[str, int]]:
    """``count`` distinct texts from the datasets' train files, taken in turn from each; and how many from each."""
    sources = {}
    for path in sorted(DATASETS.glob("*/train.jsonl")):
        rows = (json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
        sources[path.parent.name] = [str(row["text"]).strip() for row in rows]
    seen: dict[str, None] = {}
    taken = dict.fromkeys(sources, 0)
    position = 0
    while len(seen) < count and any(position < len(texts) for texts in sources.values()):
        for name, texts in sources.items():
            if position < len(texts) and texts[position] and texts[position] not in seen and len(seen) < count:
                seen[texts[position]] = None
                taken[name] += 1
        position += 1
    if len(seen) < count:
        raise SystemExit(f"only {len(seen)} distinct texts in {DATASETS}")
    return list(seen), taken


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=20_000)
    parser.add_argument("--actors", type=int, default=None, help="default: one a CPU of the cluster")
    parser.add_argument("--chunk", type=int, default=512)
    parser.add_argument("--torch-threads", type=int, default=None, help="in process; default: torch's own")
    args = parser.parse_args()

    import torch

    from labelgraph.encoding.embedders import SentenceTransformerEmbedder
    from labelgraph.encoding.fanout import RayEmbedder, import_ray

    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    texts, taken = real_texts(args.texts)
    load = os.getloadavg()
    print(f"{len(texts)} texts ({', '.join(f'{name} {n}' for name, n in taken.items())}), {os.cpu_count()} CPUs")

    local = SentenceTransformerEmbedder("minilm")
    began = time.perf_counter()
    local.dim  # noqa: B018 - loads the model
    local_load_s = time.perf_counter() - began
    began = time.perf_counter()
    in_process = local.embed(texts)
    local_s = time.perf_counter() - began
    print(
        f"in process: model {local_load_s:.1f} s, {len(texts)} texts {local_s:.1f} s "
        f"({len(texts) / local_s:.0f}/s, {torch.get_num_threads()} torch threads)"
    )

    ray = import_ray()
    embedder = RayEmbedder("minilm", "auto", actors=args.actors, chunk=args.chunk, min_texts=0)
    began = time.perf_counter()
    actors = embedder.start()
    ray_start_s = time.perf_counter() - began
    cluster_cpus = int(ray.cluster_resources().get("CPU", 0))
    began = time.perf_counter()
    over_ray = embedder.embed(texts)
    ray_s = time.perf_counter() - began
    embedder.close()
    print(
        f"over Ray: start {ray_start_s:.1f} s (Ray, {actors} actors on {cluster_cpus} CPUs, their models), "
        f"{len(texts)} texts {ray_s:.1f} s ({len(texts) / ray_s:.0f}/s)"
    )

    identical = bool(np.array_equal(in_process, over_ray))
    differing = int((in_process != over_ray).any(axis=1).sum())
    print(f"vectors identical bit for bit: {identical} ({differing} rows differ, shape {in_process.shape})")
    figures = {
        "benchmark": "ray_embedding",
        "texts": len(texts),
        "from": taken,
        "model": "minilm",
        "cpus": os.cpu_count(),
        "ray_version": ray.__version__,
        "actors": actors,
        "chunk": args.chunk,
        "in_process_model_load_s": round(local_load_s, 2),
        "in_process_s": round(local_s, 1),
        "in_process_texts_per_s": round(len(texts) / local_s, 1),
        "in_process_torch_threads": torch.get_num_threads(),
        "ray_start_s": round(ray_start_s, 1),
        "ray_s": round(ray_s, 1),
        "ray_texts_per_s": round(len(texts) / ray_s, 1),
        "ray_speedup": round(local_s / ray_s, 2),
        "identical": identical,
        "rows_differing": differing,
        "load_avg_before": [round(x, 2) for x in load],
        "load_avg_after": [round(x, 2) for x in os.getloadavg()],
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
