"""The students at full supervision: every gold label of an eval pool, macro-F1 on its test texts.

    python benchmarks/full_supervision.py trec [--model all-mpnet-base-v2] [--students logistic,finetune]

The pool and test texts ``labelgraph eval`` samples (2,000 and 500), the eval's own ``full_supervision``: the
logistic student on the frozen ``--model`` vectors (from the embedding cache where it has them), and the student
fine-tuned from ``--model`` (``student: {kind: finetune, model: MODEL}``: 3 epochs, a tenth of the labels held
out for the temperature). Fit times are wall seconds; read them with the load average printed beside them. Ends
with one JSON line: each student's macro-F1 and fit time, and the fine-tuned one's macro-F1 as a ratio to the
logistic one's on the same encoder, measured in this process.
"""

from __future__ import annotations

import argparse
import json
import os

from labelgraph.config import StudentSettings
from labelgraph.encoding.embedders import get_embedder
from labelgraph.evals.datasets import CachedEmbedder, load_dataset
from labelgraph.evals.simulate import full_supervision


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    parser.add_argument("--model", default="minilm", help="the encoder: minilm, all-mpnet-base-v2, a folder")
    parser.add_argument("--students", default="logistic,finetune")
    args = parser.parse_args()
    data = load_dataset(args.dataset)
    embedder = CachedEmbedder(get_embedder(args.model))
    out: dict[str, dict[str, float]] = {}
    for kind in args.students.split(","):
        settings = StudentSettings(kind=kind, model=args.model)
        found = full_supervision(data, embedder, settings)  # type: ignore[arg-type]  (a str or settings)
        out[kind] = {"macro_f1": found["macro_f1"], "accuracy": found["accuracy"], "fit_s": found["fit_seconds"]}
        print(
            f"{data.name} {args.model} {kind}: macro-F1 {found['macro_f1']:.3f}, accuracy {found['accuracy']:.3f}, "
            f"fit {found['fit_seconds']} s (load {os.getloadavg()[0]:.1f})",
            flush=True,
        )
    ratio = out["finetune"]["macro_f1"] / out["logistic"]["macro_f1"] if {"finetune", "logistic"} <= set(out) else None
    print(json.dumps({"benchmark": "full_supervision", "dataset": data.name, "model": args.model, "students": out,
                      "finetune_over_logistic": round(ratio, 4) if ratio else None}))  # fmt: skip


if __name__ == "__main__":
    main()
