"""What the LLM's own doubt adds to routing (issue 23, item 5): the same eval through the real LLM annotator with one
answer an item, with self-consistency samples, with label-token logprobs, and with both.

    python benchmarks/llm_doubt.py DATASET [--accuracy 0.85] [--samples 5] [--seeds 3] [--budget 200]
        [--quality-target 0.9] [--configs one,samples,logprobs,both] [--embedding NAME] [--out DIR]

The LLM is the realistic simulated annotator (``difficulty:ACC``: wrong where texts are hard) served over HTTP by
``ScriptedLLM`` through ``DifficultyLLM``, so the annotator's requests, parsing, votes and logprobs are the
product's own: at temperature 0 it gives the ``difficulty:ACC`` answer, a sample after the first draws from its
belief at ``sample_temperature`` (0.7), logprobs carry its belief in the label, and the confidence it writes says
nothing (0.9 always). Each configuration runs ``labelgraph eval``'s loop (hybrid strategy, the critic on) for every
seed; per seed it prints the routing AUROC (the critic's ranking of unchecked machine labels), the frontier share
(certified / the frontier), the uniform-audit baseline's coverage, AULC, the LLM calls, and the machine labels
accepted with their true accuracy (FALSE where it is below the target). What it shows is what the
pipeline does with each signal *given a model whose sampling and logprobs follow one belief*; how much a real LLM's
samples and logprobs know about its errors only a recording of them can tell. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from labelgraph.config import LLMSettings
from labelgraph.encoding.embedders import get_embedder
from labelgraph.encoding.encoders import default_encoder
from labelgraph.evals.annotators import DifficultyLLM, text_model_probabilities
from labelgraph.evals.datasets import CachedEmbedder, Dataset, load_dataset
from labelgraph.evals.simulate import EvalSpec, difficulty_annotator, run_eval
from labelgraph.testing import ScriptedLLM

CONFIGS = {"one": (1, False), "samples": (None, False), "logprobs": (1, True), "both": (None, True)}
_COLUMNS = (("AUROC", 6), ("share", 6), ("frontier", 8), ("uniform", 8), ("AULC", 6), ("calls", 6), ("accepted", 11))
FIGURES = (
    "routing_auroc", "frontier_share", "frontier_coverage", "uniform_audit_coverage", "aulc", "llm_calls",
    "machine_accepted", "accepted_accuracy", "false_certification",
)  # fmt: skip


def simulated_llm(data: Dataset, accuracy: float, seed: int, probabilities: np.ndarray) -> DifficultyLLM:
    """The ``difficulty:ACC`` annotator of ``labelgraph eval`` for this seed, as an LLM behind an endpoint."""
    annotator = difficulty_annotator(data, accuracy, seed, probabilities)
    return DifficultyLLM(annotator, {f"t{n}": item.text for n, item in enumerate(data.train)}, seed)


def one_run(data: Dataset, config: str, samples: int, args: argparse.Namespace, seed: int, out: Path) -> dict:
    """One eval run of one configuration and seed: its summary figures."""
    answers, logprobs = CONFIGS[config]
    llm_stand_in = simulated_llm(data, args.accuracy, seed, args.probabilities)
    with ScriptedLLM(answerer=llm_stand_in, call_tools=False) as server:
        llm = LLMSettings(
            model="scripted", base_url=server.url, samples=answers or samples, logprobs=logprobs, concurrency=16
        )
        spec = EvalSpec(
            strategies=["hybrid"], annotator="llm", llm=llm, budget=args.budget, seeds=[seed],
            quality_target=args.quality_target,
        )  # fmt: skip
        results = run_eval(spec, data, out / f"{config}-s{seed}", embedder=args.embedder)
    row = results["summary"]["hybrid"]
    return {key: row[key]["mean"] for key in FIGURES}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    parser.add_argument("--accuracy", type=float, default=0.85)
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--budget", type=int, default=200)
    parser.add_argument("--quality-target", type=float, default=0.9)
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--embedding", default=None)
    parser.add_argument("--pool-size", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    unknown = [c for c in configs if c not in CONFIGS]
    if unknown:
        parser.error(f"unknown configuration {unknown[0]!r}: choose from {', '.join(CONFIGS)}")
    data = load_dataset(args.dataset, pool_size=args.pool_size)
    args.embedder = CachedEmbedder(get_embedder(args.embedding or default_encoder()))
    gold = [item.label for item in data.train]  # the text model once, not once a run
    args.probabilities = text_model_probabilities([item.text for item in data.train], gold, data.labels)  # type: ignore[arg-type]
    out = args.out or Path(tempfile.mkdtemp(prefix="llm-doubt-"))
    figures: dict[str, list[dict]] = {}
    print(f"{data.name}: {len(data.train)} texts, difficulty:{args.accuracy} behind an endpoint; runs in {out}")
    print(f"{'config':<9} {'seed':>4} " + " ".join(f"{name:>{w}}" for name, w in _COLUMNS))
    for config in configs:
        for seed in range(args.seeds):
            started = time.perf_counter()
            row = one_run(data, config, args.samples, args, seed, out)
            figures.setdefault(config, []).append(row)
            print(
                f"{config:<9} {seed:>4} {_f(row['routing_auroc'])} {_f(row['frontier_share'])} "
                f"{_f(row['frontier_coverage'], 8)} {_f(row['uniform_audit_coverage'], 8)} {_f(row['aulc'])} "
                f"{row['llm_calls']:>6.0f} {row['machine_accepted']:>4.0f} {_f(row['accepted_accuracy'])}"
                f"{' FALSE' if row['false_certification'] else ''}  ({time.perf_counter() - started:.0f} s)",
                flush=True,
            )
    means = {
        config: {key: _mean([r[key] for r in rows]) for key in FIGURES} | {"per_seed": rows}
        for config, rows in figures.items()
    }
    for config, row in means.items():
        print(f"{config:<9} mean AUROC {_f(row['routing_auroc'])}, share {_f(row['frontier_share'])}")
    summary = {"benchmark": "llm_doubt", "dataset": data.name, "accuracy": args.accuracy, "samples": args.samples}
    print(json.dumps({**summary, "quality_target": args.quality_target, "configs": means}))


def _mean(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return round(float(np.mean(kept)), 4) if kept else None


def _f(value: float | None, width: int = 6) -> str:
    return f"{'-' if value is None else f'{value:.3f}':>{width}}"


if __name__ == "__main__":
    main()
