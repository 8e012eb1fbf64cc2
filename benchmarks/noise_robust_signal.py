"""What the noise-robust student's signal (``benchmarks/noise_robust.py``) adds to routing AUROC, offline.

    python benchmarks/noise_robust_signal.py [--datasets mr,sst2,trec,agnews,subj] [--embedding minilm,...]

Each dataset's eval pool (the 2,000 texts ``labelgraph eval`` samples; vectors from the embedding cache or the
model) gets machine labels: MR ChatGPT's recorded ones (``llm_annotations_freeal_chatgpt.jsonl``, abstentions
left out), the others a simulated annotator right 85% of the time whose mistakes are the label a logistic
regression on every gold label finds likeliest after the true one, claiming confidence 1.0 (``simulated:0.85:flat``:
the critic must find them from the data). Per seed, 200 machine labels at random are "checked" (their gold label
known, and people's labels); the critic's signals of the checked ones are computed out-of-fold over 5 folds of the
checks, the rest with every check. ``CalibratedCritic.calibrate`` fits p_correct on the checked rows, and AUROC
(right against wrong) is taken over the unchecked rest: the critic's signals as they are, and with the
noise-robust signal beside them; also each signal alone. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np
from noise_robust import noise_robust_agreement  # beside this script
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from labelgraph.critic.signals import SIGNALS, CalibratedCritic
from labelgraph.encoding.embedders import get_embedder
from labelgraph.evals.datasets import CachedEmbedder, datasets_root, load_dataset
from labelgraph.stores.labels import OpenLabel

CHECKED = 200
FOLDS = 5
ACCURACY = 0.85
REPLAY = "mr/llm_annotations_freeal_chatgpt.jsonl"
KEYS = ("consensus", "noise_robust", "critic", "critic+noise_robust")


def machine_labels(name: str, texts: list[str], gold: np.ndarray, labels: list[str], vectors: np.ndarray) -> np.ndarray:
    """Label indices the machine gives (-1: abstained)."""
    if name == "mr":
        root = datasets_root()
        assert root is not None, "needs ../shared/datasets (or LABELGRAPH_DATASETS)"
        recorded = {}
        for line in (root / REPLAY).read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            recorded[row["text"]] = row["llm_label"]
        return np.array([labels.index(recorded[t]) if recorded.get(t) in labels else -1 for t in texts])
    reference = LogisticRegression(C=10.0, max_iter=2000).fit(vectors, gold)
    probs = reference.predict_proba(vectors)
    probs[np.arange(len(gold)), gold] = -1.0  # the likeliest label after the true one
    wrong = np.random.default_rng(0).random(len(gold)) >= ACCURACY
    return np.where(wrong, probs.argmax(axis=1), gold)


def open_label(row: int, label: str) -> OpenLabel:
    return OpenLabel(f"t{row}", label, 1.0, {label: 1}, {}, None, None)


def features(
    critic: CalibratedCritic,
    vectors: np.ndarray,
    given: list[str],
    gold: list[str],
    checked: np.ndarray,
    labels: list[str],
    seed: int,
) -> np.ndarray:
    """The critic's signals and the noise-robust one (last column); checked rows scored without their own check."""
    out = np.zeros((len(given), len(SIGNALS) + 1))
    fold_of = np.arange(len(checked)) % FOLDS
    groups = [(np.setdiff1d(np.arange(len(given)), checked), checked)]
    groups += [(checked[fold_of == fold], checked[fold_of != fold]) for fold in range(FOLDS)]
    for rows, people in groups:
        mask = np.zeros(len(given), dtype=bool)
        mask[rows] = True
        machine = [open_label(n, given[n]) for n in range(len(given))]
        human_vectors, human_labels = vectors[people], [gold[n] for n in people]
        signals = critic.signals(machine, vectors, human_vectors, human_labels)
        robust = noise_robust_agreement(vectors, given, human_vectors, human_labels, labels, seed=seed)
        out[mask, : len(SIGNALS)] = signals[mask]
        out[mask, -1] = robust[mask]
    return out


def auroc(right: np.ndarray, score: np.ndarray) -> float:
    return float(roc_auc_score(right, score)) if 0 < right.sum() < len(right) else float("nan")


def measure(name: str, encoder: str, seeds: int) -> dict[str, Any]:
    data = load_dataset(name)
    labels = data.labels
    texts = [item.text for item in data.train]
    gold_all = np.array([labels.index(item.label) for item in data.train])  # type: ignore[arg-type]
    vectors_all = CachedEmbedder(get_embedder(encoder)).embed(texts)
    given_all = machine_labels(name, texts, gold_all, labels, vectors_all)
    keep = given_all >= 0
    vectors, gold, given = vectors_all[keep], gold_all[keep], given_all[keep]
    right = given == gold
    rows: dict[str, list[float]] = {key: [] for key in KEYS}
    started = time.perf_counter()
    for seed in range(seeds):
        critic = CalibratedCritic(labels, seed=seed)
        checked = np.random.default_rng(100 + seed).choice(len(given), CHECKED, replace=False)
        rest = np.setdiff1d(np.arange(len(given)), checked)
        table = features(critic, vectors, [labels[g] for g in given], [labels[g] for g in gold], checked, labels, seed)
        rows["consensus"].append(auroc(right[rest], table[rest, SIGNALS.index("consensus")]))
        rows["noise_robust"].append(auroc(right[rest], table[rest, -1]))
        for key, columns in (("critic", slice(0, len(SIGNALS))), ("critic+noise_robust", slice(None))):
            p, _, _ = critic.calibrate(table[:, columns], checked, right[checked])
            rows[key].append(auroc(right[rest], p[rest]))
    return {
        "dataset": name,
        "embedding": encoder,
        "machine_labels": len(given),
        "machine_right": round(float(right.mean()), 4),
        "seconds": round(time.perf_counter() - started, 1),
        **{key: [round(v, 4) for v in values] for key, values in rows.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="mr,sst2,trec,agnews,subj")
    parser.add_argument("--embedding", default="minilm,all-mpnet-base-v2", help="encoders, comma-separated")
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    results = []
    print("dataset  encoder            right   consensus  noise-robust  critic  critic+noise-robust  gain")
    for name in args.datasets.split(","):
        for encoder in args.embedding.split(","):
            r = measure(name, encoder, args.seeds)
            results.append(r)
            mean = {key: float(np.mean(r[key])) for key in KEYS}
            print(
                f"{name:8} {encoder:18} {r['machine_right']:.3f}   {mean['consensus']:.3f}      "
                f"{mean['noise_robust']:.3f}         {mean['critic']:.3f}   {mean['critic+noise_robust']:.3f}"
                f"                {mean['critic+noise_robust'] - mean['critic']:+.3f}   per seed: critic "
                f"{r['critic']} with {r['critic+noise_robust']}",
                flush=True,
            )
    gains = [float(np.mean(r["critic+noise_robust"]) - np.mean(r["critic"])) for r in results]
    print(json.dumps({"benchmark": "noise_robust_signal", "mean_auroc_gain": round(float(np.mean(gains)), 4),
                      "results": results}))  # fmt: skip


if __name__ == "__main__":
    main()
