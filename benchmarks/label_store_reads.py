"""The label store's reads on a large run: what the training set, the coverage and the export read each round,
the full reads (one pydantic object a label, what they used before) against the light ones (columns, pages).

    python benchmarks/label_store_reads.py [--labels 1000000] [--page 5000]

Writes ``--labels`` machine labels and verdicts (a third accepted, a third proposed) into a fresh SQLite store
in a temporary folder, then times each read and measures the Python memory it allocates at its peak
(tracemalloc), both ways in this process on the same store. Ends with one JSON line of figures and ratios.
"""

from __future__ import annotations

import argparse
import gc
import json
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from labelgraph.stores.labels import LabelStore, MachineLabel, StoredVerdict

LABELS = ("world", "sports", "business", "sci/tech")
STATUSES = ("accepted", "proposed", "rejected")


def fill(store: LabelStore, count: int) -> None:
    """``count`` machine labels and verdicts shaped like the embedded annotator's and the critic's."""
    for start in range(0, count, 50_000):
        rows = range(start, min(count, start + 50_000))
        store.put_machine(
            MachineLabel(
                id=f"item-{n:08d}",
                round=1,
                label=LABELS[n % 4],
                confidence=0.5 + (n % 50) / 100,
                annotator="embedded",
                distribution={label: 0.25 for label in LABELS},
            )
            for n in rows
        )
        store.put_verdicts(
            StoredVerdict(
                id=f"item-{n:08d}",
                round=1,
                label=LABELS[n % 4],
                p_correct=0.5 + (n % 50) / 100,
                status=STATUSES[n % 3],
                reasons=["neighbours agree 0.80", "student agrees 0.91"],
                signals={name: 0.5 for name in ("confidence", "consensus", "student", "neighbours", "machine_knn")},
            )
            for n in rows
        )


def measure(read: Callable[[], Any]) -> tuple[float, float, int]:
    """(seconds, peak MB allocated, how many results) of one call."""
    gc.collect()
    tracemalloc.start()
    began = time.perf_counter()
    result = read()
    size = len(result) if hasattr(result, "__len__") else sum(1 for _ in result)
    seconds = time.perf_counter() - began
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return seconds, peak, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=int, default=1_000_000)
    parser.add_argument("--page", type=int, default=5000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        store = LabelStore(Path(folder) / "labels.sqlite")
        began = time.perf_counter()
        fill(store, args.labels)
        print(f"wrote {args.labels:,} machine labels and verdicts in {time.perf_counter() - began:.1f} s")
        vouched = ("accepted", "proposed")
        pairs = {
            "training_set": (
                lambda: {v.id: (v.label, v.p_correct) for v in store.verdicts().values() if v.status in vouched},
                lambda: store.verdict_labels(vouched),
            ),
            "coverage": (
                lambda: {v.id for v in store.verdicts().values() if v.status == "accepted"},
                lambda: store.verdict_ids("accepted"),
            ),
            "export_verdicts": (
                lambda: [v for v in store.verdicts().values() if v.status in vouched],
                lambda: store.iter_verdicts(vouched, page=args.page),
            ),
            "every_annotation": (store.machine, lambda: store.iter_machine(page=args.page)),
        }
        figures: dict[str, Any] = {"labels": args.labels, "page": args.page}
        for name, (full, light) in pairs.items():
            full_s, full_mb, full_n = measure(full)
            light_s, light_mb, light_n = measure(light)
            assert full_n == light_n, (name, full_n, light_n)
            print(
                f"{name:16} full {full_s:6.1f} s {full_mb:7.0f} MB | light {light_s:6.1f} s {light_mb:7.0f} MB"
                f" | {full_n:,} rows | {full_s / light_s:.1f}x faster, {full_mb / max(light_mb, 0.01):.0f}x less memory"
            )
            figures[name] = {
                "rows": full_n,
                "full_s": round(full_s, 2),
                "full_mb": round(full_mb, 1),
                "light_s": round(light_s, 2),
                "light_mb": round(light_mb, 1),
                "speedup": round(full_s / light_s, 2),
                "memory_ratio": round(full_mb / max(light_mb, 0.01), 1),
            }
        store.close()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
