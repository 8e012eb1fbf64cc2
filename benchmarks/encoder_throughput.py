"""Embedding throughput of each encoder: texts a second on this machine's CPU, MiniLM as the baseline.

    python benchmarks/encoder_throughput.py [--texts 1000] [--embedding minilm,all-mpnet-base-v2] [--busy 0]

The same texts for every encoder: ``--texts`` taken in turn from the five datasets' training files (sst2, trec,
agnews, subj, mr; ../shared/datasets), embedded through ``SentenceTransformerEmbedder`` with every cache off, in
one process, after the model is loaded (loading is timed apart). ``--busy K`` starts K processes that spin for the
whole measurement, a known load to read "loaded" figures by; the load average before and after is printed either
way. Ends with one JSON line: texts/s per encoder and each one's time as a ratio to the first's.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import time

from labelgraph.encoding.embedders import CACHE_ENV, SentenceTransformerEmbedder
from labelgraph.evals.datasets import datasets_root

DATASETS = ("sst2", "trec", "agnews", "subj", "mr")


def mixed_texts(count: int) -> list[str]:
    """``count`` texts, one from each dataset in turn, in file order."""
    root = datasets_root()
    assert root is not None, "needs ../shared/datasets (or LABELGRAPH_DATASETS)"
    files = [(root / name / "train.jsonl").read_text(encoding="utf-8").splitlines() for name in DATASETS]
    return [json.loads(files[n % len(files)][n // len(files)])["text"] for n in range(count)]


def spin(until: float) -> None:
    while time.time() < until:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=1000)
    parser.add_argument("--embedding", default="minilm,all-mpnet-base-v2")
    parser.add_argument("--busy", type=int, default=0, help="processes spinning beside the measurement")
    args = parser.parse_args()
    os.environ.pop(CACHE_ENV, None)  # every text through the model
    texts = mixed_texts(args.texts)
    busy = [multiprocessing.Process(target=spin, args=(time.time() + 3600,), daemon=True) for _ in range(args.busy)]
    for process in busy:
        process.start()
    before = os.getloadavg()[0]
    results = {}
    try:
        for name in args.embedding.split(","):
            model = SentenceTransformerEmbedder(name)
            started = time.perf_counter()
            dim = model.dim  # loads the model
            loaded = time.perf_counter() - started
            started = time.perf_counter()
            model.embed(texts, progress=lambda count=1: None)
            seconds = time.perf_counter() - started
            results[name] = {"dim": dim, "load_s": round(loaded, 1), "embed_s": round(seconds, 1),
                             "texts_per_s": round(len(texts) / seconds, 1)}  # fmt: skip
            print(f"{name}: {len(texts) / seconds:.1f} texts/s ({seconds:.1f} s for {len(texts)}; load {loaded:.1f} s; "
                  f"dim {dim})", flush=True)  # fmt: skip
    finally:
        for process in busy:
            process.terminate()
    after = os.getloadavg()[0]
    first = next(iter(results.values()))["embed_s"]
    for found in results.values():
        found["time_ratio"] = round(found["embed_s"] / first, 2)
    print(f"load average {before:.1f} before, {after:.1f} after; {args.busy} spinning processes beside")
    loads = {"load_before": round(before, 1), "load_after": round(after, 1)}
    print(json.dumps({"benchmark": "encoder_throughput", "texts": len(texts), "busy": args.busy, **loads,
                      "encoders": results}))  # fmt: skip


if __name__ == "__main__":
    main()
