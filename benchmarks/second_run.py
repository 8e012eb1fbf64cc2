"""A second run on the same pool: the embedding cache gives every vector, the model is never called.

    python benchmarks/second_run.py [--texts 100000] [--first N] [--cache DIR]

Builds a pool of ``--texts`` distinct texts from /work/shared/datasets (every train, dev and test file, in a fixed
order; past the ~56k distinct texts there, each repeated with a suffix " (2)", " (3)"...), then runs two
projects on it, each ``Project.start()`` (validate, embed or fetch, write the run folder, build the run) in a new
process with the embedding cache in ``--cache`` (default: a new temporary folder):

- first run: a cold cache, the model embeds every text (``--first N``: only the first N texts are embedded and
  timed, to spare time; the rest of the pool enters the cache as random unit vectors under the model's key,
  said in the output and the JSON as ``synthetic_fill``: the second run's start does not depend on the values);
- second run, in a new run folder: model calls (must be 0), whether the model was loaded, seconds of
  ``Project.start()``, seconds of the whole process (Python, imports and start), peak RSS, and (when the first
  run embedded the whole pool) whether its vectors equal the first run's bit for bit;
- ``Workspace.open`` of the second run's folder (what ``resume`` and ``status`` do), the vectors memory-mapped,
  against the same load copying them into memory as before: seconds and anonymous memory taken, median of 3,
  a new process each.

Prints figures, then one JSON line.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LABELGRAPH_EMBEDDING", "minilm")  # measured on MiniLM, as its figures were

ROOT = Path(__file__).resolve().parents[1]
DATASETS = Path("/work/shared/datasets")
MB = 2**20


def pool_texts(n: int) -> list[str]:
    """``n`` distinct texts: the shared datasets' texts, then the same with a suffix."""
    base: dict[str, None] = {}
    for path in sorted(DATASETS.glob("*/*.jsonl")):
        if path.stem in {"train", "dev", "test"}:
            for line in path.read_text(encoding="utf-8").splitlines():
                text = json.loads(line)["text"].strip()
                if text:
                    base.setdefault(text)
    texts, unique = list(base)[:n], list(base)
    copy = 2
    while len(texts) < n:
        texts.extend(f"{text} ({copy})" for text in unique[: n - len(texts)])
        copy += 1
    return texts


def write_project(folder: Path, name: str, pool: Path) -> Path:
    project = folder / f"{name}.yaml"
    project.write_text(
        f"name: {name}\npool: {pool}\nlabels: [a, b]\nbatch_size: 20\nbudget: 100\nrun_dir: {folder / name}\n",
        encoding="utf-8",
    )
    return project


def child(role: str, project: Path, extra: dict) -> None:
    """One run's start in this process (a new one): figures as one JSON line on stdout."""
    import numpy as np

    from labelgraph.encoding.embedders import SentenceTransformerEmbedder, get_embedder
    from labelgraph.session.run import Project
    from labelgraph.session.workspace import Workspace

    if role == "open":  # reopen a run folder (what resume and status do): seconds, anonymous memory it took
        Workspace.open(project)  # once untimed: imports and a warm file cache
        anon = rss_anon_mb()
        start = time.perf_counter()
        workspace = Workspace.open(project)
        if extra["copy"]:  # the load as it was: the whole matrix read into memory
            workspace.vectors = np.array(workspace.vectors)
        seconds = time.perf_counter() - start
        grown = rss_anon_mb() - anon
        mapped = isinstance(workspace.vectors, np.memmap)
        print(json.dumps({"s": seconds, "anon_mb": grown, "memmap": mapped, "mb": workspace.vectors.nbytes / MB}))
        return

    texts_embedded: list[int] = []
    real = SentenceTransformerEmbedder._encode

    def counted(self, texts, progress=None):
        texts_embedded.append(len(texts))
        return real(self, texts, progress)

    SentenceTransformerEmbedder._encode = counted  # type: ignore[method-assign]
    start = time.perf_counter()
    run = Project.from_yaml(project).start()
    start_s = time.perf_counter() - start
    vectors = run.workspace.vectors
    figures = {
        "start_s": start_s,
        "model_calls": len(texts_embedded),
        "texts_embedded": sum(texts_embedded),
        "model_loaded": get_embedder("minilm")._model is not None,
        "rows": len(run.workspace.items),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "vectors_memmap": isinstance(vectors, np.memmap),
        "digest": hashlib.sha256(np.ascontiguousarray(vectors).tobytes()).hexdigest(),
    }
    run.close()
    if role == "first" and extra.get("fill"):
        from labelgraph.encoding.cache import EmbeddingCache, cache_folder, model_key, text_hash

        fill = pool_texts(extra["fill"])[extra["first"] :]
        cache = EmbeddingCache(cache_folder(), model_key(get_embedder("minilm")))
        rng = np.random.default_rng(0)
        for begin in range(0, len(fill), 4096):
            chunk = fill[begin : begin + 4096]
            vectors = rng.standard_normal((len(chunk), 384), dtype=np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            cache.put([text_hash(text) for text in chunk], vectors)
        figures["synthetic_fill"] = len(fill)
    print(json.dumps(figures))


def rss_anon_mb() -> float:
    """This process's anonymous resident memory (not file pages mapped from disk), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(role: str, project: Path, env: dict[str, str], extra: dict) -> dict:
    command = [sys.executable, __file__, "--child", role, "--project", str(project), "--extra", json.dumps(extra)]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"the {role} run failed:\n{done.stderr[-3000:]}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    figures["process_s"] = seconds
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=100_000, help="texts in the pool")
    parser.add_argument("--first", type=int, help="texts the first run embeds for real (default: all)")
    parser.add_argument("--cache", type=Path, help="the embedding cache folder (default: a new temporary one)")
    parser.add_argument("--child", choices=["first", "second", "open"], help=argparse.SUPPRESS)
    parser.add_argument("--project", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--extra", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.project, json.loads(args.extra))
        return
    first_n = min(args.first or args.texts, args.texts)
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="second-run-") as temporary:
        folder = Path(temporary)
        cache = args.cache or folder / "cache"
        env = {**os.environ, "PYTHONPATH": str(ROOT), "LABELGRAPH_EMBED_CACHE": str(cache)}
        env["LABELGRAPH_PROGRESS"] = "off"
        env.pop("LABELGRAPH_VECTOR_CACHE", None)
        texts = pool_texts(args.texts)
        lines = [json.dumps({"id": f"t{n}", "text": text}) for n, text in enumerate(texts)]
        pool = folder / "pool.jsonl"
        pool.write_text("\n".join(lines) + "\n", encoding="utf-8")
        first_pool = pool
        if first_n < args.texts:
            first_pool = folder / "first_pool.jsonl"
            first_pool.write_text("\n".join(lines[:first_n]) + "\n", encoding="utf-8")
        print(f"pool: {args.texts:,} distinct texts ({pool.stat().st_size / MB:.1f} MB); cache {cache}")
        extra = {"fill": args.texts, "first": first_n} if first_n < args.texts else {}
        first = measure("first", write_project(folder, "first", first_pool), env, extra)
        rate = first["texts_embedded"] / first["start_s"] if first["texts_embedded"] else None
        print(
            f"first run ({first_n:,} texts): {first['start_s']:.1f} s to start, {first['texts_embedded']:,} texts "
            f"embedded in {first['model_calls']} model calls"
            + (f" ({rate:.0f} texts/s with the model's load)" if rate else "")
            + f", process {first['process_s']:.1f} s, peak RSS {first['peak_rss_mb']:.0f} MB"
        )
        if first.get("synthetic_fill"):
            print(f"  then {first['synthetic_fill']:,} more texts entered the cache as random unit vectors")
            whole = first["start_s"] * args.texts / first_n
            print(f"  a first run on all {args.texts:,} would start in about {whole:.0f} s (extrapolated)")
        second = measure("second", write_project(folder, "second", pool), env, {})
        print(
            f"second run ({args.texts:,} texts, new run folder): {second['start_s']:.2f} s to start, "
            f"process {second['process_s']:.2f} s; {second['model_calls']} model calls, model loaded: "
            f"{second['model_loaded']}; peak RSS {second['peak_rss_mb']:.0f} MB"
        )
        opens: dict[bool, list[dict]] = {False: [], True: []}
        for _ in range(3):
            for copy in (False, True):
                opens[copy].append(measure("open", folder / "second", env, {"copy": copy}))
        mapped_s, copied_s = (sorted(one["s"] for one in opens[copy])[1] for copy in (False, True))
        mapped_mb, copied_mb = (sorted(one["anon_mb"] for one in opens[copy])[1] for copy in (False, True))
        vectors_mb = opens[True][0]["mb"]
        print(
            f"reopening its folder (median of 3, a new process each): {mapped_s:.2f} s with the vectors mapped "
            f"(+{mapped_mb:.0f} MB anonymous memory), {copied_s:.2f} s copying them as before (+{copied_mb:.0f} MB; "
            f"the vectors are {vectors_mb:.0f} MB)"
        )
        same = first_n == args.texts and first["digest"] == second["digest"]
        if first_n == args.texts:
            print(f"second run's vectors equal the first's bit for bit: {same}")
        cache_mb = sum(p.stat().st_size for p in Path(cache).rglob("*") if p.is_file()) / MB
    full_first_s = first["start_s"] if first_n == args.texts else None
    figures = {
        "texts": args.texts,
        "first_texts_embedded": first["texts_embedded"],
        "first_start_s": round(first["start_s"], 2),
        "first_texts_per_s": round(rate, 1) if rate else None,
        "synthetic_fill": first.get("synthetic_fill", 0),
        "second_model_calls": second["model_calls"],
        "second_texts_embedded": second["texts_embedded"],
        "second_model_loaded": second["model_loaded"],
        "second_start_s": round(second["start_s"], 2),
        "second_process_s": round(second["process_s"], 2),
        "second_peak_rss_mb": round(second["peak_rss_mb"]),
        "start_speedup": round(full_first_s / second["start_s"], 1) if full_first_s else None,
        "first_start_s_extrapolated": round(first["start_s"] * args.texts / first_n, 1),
        "start_speedup_extrapolated": round(first["start_s"] * args.texts / first_n / second["start_s"], 1),
        "second_vectors_memmap": second["vectors_memmap"],
        "same_vectors": same if first_n == args.texts else None,
        "open_mapped_s": round(mapped_s, 3),
        "open_copied_s": round(copied_s, 3),
        "open_mapped_anon_mb": round(mapped_mb, 1),
        "open_copied_anon_mb": round(copied_mb, 1),
        "vectors_mb": round(vectors_mb, 1),
        "cache_mb": round(cache_mb, 1),
        "load_avg_before": [round(x, 2) for x in load],
        "load_avg_after": [round(x, 2) for x in os.getloadavg()],
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
