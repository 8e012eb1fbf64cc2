"""Would float16 vectors do? Selection and neighbours on real MiniLM vectors stored as float32 against float16.

    python benchmarks/float16_vectors.py [--pool 19571] [--labelled 1000] [--k 50] [--trials 5]

AG News texts (../shared/datasets/agnews; vectors from the embedding cache or the model), L2-normalised float32,
and the same vectors rounded to float16 and read back as float32 (how float16 storage would be computed on). For
``--trials`` random labelled sets: k-center greedy's ``--k`` picks (how many the two share, in order and as a
set), the margin strategy's picks from a logistic student trained on the labelled set, and each pool text's 10
nearest labelled texts (the annotator's and the critic's neighbours: how many agree). Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
from agnews import agnews_rows, embedded
from sklearn.linear_model import LogisticRegression

from labelgraph.strategies.diversity import k_center_greedy
from labelgraph.strategies.uncertainty import margin, top_k


def neighbours(pool: np.ndarray, labelled: np.ndarray, k: int = 10) -> np.ndarray:
    """Each pool row's ``k`` most similar labelled rows, most similar first."""
    return np.argsort(-(pool @ labelled.T), axis=1, kind="stable")[:, :k]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pool", type=int, default=19_571)
    parser.add_argument("--labelled", type=int, default=1000)
    parser.add_argument("--k", type=int, default=50)
    parser.add_argument("--trials", type=int, default=5)
    args = parser.parse_args()
    rows = agnews_rows()
    rows = rows[: args.pool]
    full = embedded([row["text"] for row in rows])
    half = full.astype(np.float16).astype(np.float32)
    labels = sorted({row["label"] for row in rows})
    gold = np.array([labels.index(row["label"]) for row in rows])
    largest_error = float(np.abs(full - half).max())
    cosine_error = float(np.abs((full * full).sum(1) - (full * half).sum(1)).max())
    kcenter_same, kcenter_ordered, margin_same, neighbour_same = [], [], [], []
    for trial in range(args.trials):
        rng = np.random.default_rng(trial)
        order = rng.permutation(len(rows))
        labelled, pool = order[: args.labelled], order[args.labelled :]
        picks = [
            k_center_greedy(vectors[pool], vectors[labelled], args.k, np.random.default_rng(trial))
            for vectors in (full, half)
        ]
        kcenter_same.append(len(set(picks[0]) & set(picks[1])) / args.k)
        kcenter_ordered.append(float(np.mean(picks[0] == picks[1])))
        chosen = []
        for vectors in (full, half):
            student = LogisticRegression(max_iter=1000).fit(vectors[labelled], gold[labelled])
            chosen.append(set(top_k(margin(student.predict_proba(vectors[pool])), args.k, np.random.default_rng(0))))
        margin_same.append(len(chosen[0] & chosen[1]) / args.k)
        near = [neighbours(vectors[pool], vectors[labelled]) for vectors in (full, half)]
        neighbour_same.append(float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(*near, strict=True)])))
        print(
            f"trial {trial}: k-center picks shared {kcenter_same[-1]:.0%} ({kcenter_ordered[-1]:.0%} in the same "
            f"place), margin picks shared {margin_same[-1]:.0%}, 10 nearest labelled shared {neighbour_same[-1]:.2%}"
        )
    figures = {
        "pool": len(rows),
        "labelled": args.labelled,
        "k": args.k,
        "trials": args.trials,
        "largest_component_error": largest_error,
        "largest_self_cosine_error": cosine_error,
        "kcenter_picks_shared": round(float(np.mean(kcenter_same)), 4),
        "kcenter_picks_same_place": round(float(np.mean(kcenter_ordered)), 4),
        "margin_picks_shared": round(float(np.mean(margin_same)), 4),
        "neighbours_shared": round(float(np.mean(neighbour_same)), 4),
        "bytes_ratio": 0.5,
    }
    print(
        f"float16 halves the vectors' bytes; largest component error {largest_error:.2e}; over {args.trials} trials "
        f"k-center shares {figures['kcenter_picks_shared']:.0%} of its picks, margin "
        f"{figures['margin_picks_shared']:.0%}, the 10 nearest labelled {figures['neighbours_shared']:.2%}"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
