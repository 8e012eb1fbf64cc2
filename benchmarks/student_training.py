"""A round's student training: time and peak memory at several label counts, logistic against fine-tuned.

    python benchmarks/student_training.py [--sizes 500,2000,10000] [--dataset agnews]

For each size N, in a fresh process (so peak memory is that size's own), on N texts of a dataset from
../shared/datasets, its training texts then its test texts (agnews by default: 11,971 + 7,600, so the 13,125
that 10,000 labels grow to fit):
- logistic: embed the texts with the frozen encoder, fit logistic regression (the baseline);
- finetune, first round: the first tune (``epochs``, 3) on N labels;
- finetune, a round after the labels grew by 25%: the warm tune (``warm_epochs``, 1) on 1.25 N labels;
- finetune, a round after they grew by 5%: no tune, the kept student (and its embedding of the new texts).
Times are wall seconds on this machine; read them with the load (printed). Ends with one JSON line: per size,
the seconds and peak RSS of each step, and the first tune's time as a ratio to the logistic baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"


def measure(dataset: str, size: int) -> dict[str, float]:
    """One size, in this process."""
    sys.path.insert(0, str(ROOT))
    from labelgraph.config import StudentSettings
    from labelgraph.encoding.embedders import SentenceTransformerEmbedder
    from labelgraph.student.finetune import FinetunedStudent
    from labelgraph.student.models import LogisticRegressionStudent

    rows = [  # train first, so the smaller sizes use the texts they always did
        json.loads(line)
        for name in ("train.jsonl", "test.jsonl")
        for line in (DATASETS / dataset / name).read_text().splitlines()
        if line
    ]
    grown = round(size * 1.25)
    if len(rows) < grown + round(grown * 0.05):
        raise SystemExit(f"{dataset} has {len(rows)} texts, fewer than {grown} x 1.05 for size {size}")
    texts, labels = [r["text"] for r in rows], [r["label"] for r in rows]
    names = sorted(set(labels))
    out: dict[str, float] = {}

    started = time.perf_counter()
    vectors = SentenceTransformerEmbedder("minilm").embed(texts[:size])
    LogisticRegressionStudent(names).fit(vectors, labels[:size])
    out["logistic_s"] = round(time.perf_counter() - started, 1)

    student = FinetunedStudent(names, StudentSettings(kind="finetune"))
    for step, n in (("first_tune_s", size), ("warm_tune_s", grown), ("no_tune_s", round(grown * 1.05))):
        started = time.perf_counter()
        student.fit(texts[:n], labels[:n])
        out[step] = round(time.perf_counter() - started, 1)
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    out["first_tune_vs_logistic"] = round(out["first_tune_s"] / max(out["logistic_s"], 0.1), 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="500,2000,10000")
    parser.add_argument("--dataset", default="agnews")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # the child process: one size
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.dataset, args.one)))
        return
    env = {**os.environ, "LABELGRAPH_PROGRESS": "off", "LABELGRAPH_EMBED_CACHE": "off"}
    results = {}
    for size in [int(s) for s in args.sizes.split(",")]:
        load = os.getloadavg()[0]
        child = subprocess.run(
            [sys.executable, __file__, "--dataset", args.dataset, "--one", str(size)],
            capture_output=True,
            text=True,
            env=env,
        )
        if child.returncode != 0:
            raise SystemExit(f"size {size} failed: {child.stderr.strip().splitlines()[-1:]}")
        figures = json.loads(child.stdout.strip().splitlines()[-1])
        results[str(size)] = {**figures, "load_before": round(load, 1)}
        print(f"{size:>6} labels: " + ", ".join(f"{k} {v}" for k, v in results[str(size)].items()), flush=True)
    print(json.dumps({"benchmark": "student_training", "dataset": args.dataset, "sizes": results}))


if __name__ == "__main__":
    main()
