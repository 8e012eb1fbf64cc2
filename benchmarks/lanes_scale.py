"""The two-lane loop on a large pool: checkpoint and label-store size, per-round overhead and peak memory.

    python benchmarks/lanes_scale.py [--pool 20000] [--rounds 20] [--batch 20] [--keep DIR]

The pool is AG News (train + test from ../shared/datasets/agnews: 19,571 texts); a larger --pool repeats them
with a suffix (" (2)", " (3)", ...), each copy with its original's gold label, so past 19,571 the texts are real
but near-duplicates: read the sizes, seconds and memory, not the coverage. A simulated person plays the gold
labels; the embedded annotator labels the whole pool every round (it refreshes as people label), the critic
scores every machine label, the student trains on all of them. Figures: seconds per round (median and max, after
the first), the checkpoint database's size after the last round and the largest single checkpoint, the label
store's size, the process's peak RSS. Ends with one JSON line.
"""

from __future__ import annotations

import json
import os
import resource
import sqlite3
import statistics
import time
from pathlib import Path

from agnews import scale_options, scale_project

from labelgraph.agents.human import SimulatedHuman
from labelgraph.session.run import Project

os.environ.setdefault("LABELGRAPH_EMBEDDING", "minilm")  # measured on MiniLM, as its figures were


def folder_size(path: Path, prefix: str) -> int:
    return sum(p.stat().st_size for p in path.glob(prefix + "*") if p.is_file())


def main() -> None:
    args = scale_options(__doc__.splitlines()[0], rounds=20)
    with scale_project(args, "scale") as (config, labels):
        folder = config.run_dir.parent
        started = time.perf_counter()
        run = Project(config).start()
        embedded = time.perf_counter() - started
        ends: list[float] = []

        def on_update(node: str, update: dict) -> None:
            if node == "train":  # a line a round, so a run stopped early still tells how far it got
                ends.append(time.perf_counter())
                took = ends[-1] - (ends[-2] if len(ends) > 1 else clock)
                sizes = {name: folder_size(folder / "run", name) for name in ("checkpoints.sqlite", "labels.sqlite")}
                print(f"round {len(ends)}: {took:.1f} s, {sizes}", flush=True)

        clock = time.perf_counter()
        status = run.run(SimulatedHuman(run.gold, labels, seed=0), on_update=on_update)
        rounds = [b - a for a, b in zip([clock, *ends[:-1]], ends, strict=True)]
        run_dir = folder / "run"
        with sqlite3.connect(run_dir / "checkpoints.sqlite") as db:
            largest = db.execute("SELECT MAX(LENGTH(checkpoint)) FROM checkpoints").fetchone()[0]
            writes = db.execute("SELECT MAX(LENGTH(value)) FROM writes").fetchone()[0]
        figures = {
            "pool": args.pool,
            "rounds": len(rounds),
            "human_labels": status.human_labels,
            "labels": status.labels,
            "accepted": status.counts["accepted"],
            "coverage": status.coverage,
            "embed_and_create_s": round(embedded, 1),
            "round_s_median": round(statistics.median(rounds[1:] or rounds), 2),
            "round_s_max": round(max(rounds), 2),
            "checkpoint_db_bytes": folder_size(run_dir, "checkpoints.sqlite"),
            "largest_checkpoint_bytes": largest,
            "largest_write_bytes": writes,
            "label_store_bytes": folder_size(run_dir, "labels.sqlite"),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        }
        run.close()
    for key, value in figures.items():
        print(f"{key:>26}: {value}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
