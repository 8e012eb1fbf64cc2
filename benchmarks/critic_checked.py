"""The critic's scoring of checked labels, one round on a large pool: one consensus fit a fold against a full
out-of-fold pass a fold (what ``graphs.critique._checked_signals`` did before).

    python benchmarks/critic_checked.py [--pool 19571] [--checked 200] [--human 400]

AG News texts (../shared/datasets/agnews, vectors from the embedding cache or the model) with their gold labels;
machine labels are gold with 15% replaced by another label at random; ``--human`` people's labels and
``--checked`` checked machine labels, in 5 folds. Both ways run in this process on the same data: seconds each,
the ratio, and how far the two ways' signals differ (mean absolute difference per signal), beside how far the new
way differs from itself with another seed (its random reference rows). Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from agnews import agnews_rows, embedded

from labelgraph.critic.signals import SIGNALS, CalibratedCritic
from labelgraph.stores.labels import MachineLabel

FOLDS = 5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pool", type=int, default=19_571)
    parser.add_argument("--checked", type=int, default=200)
    parser.add_argument("--human", type=int, default=400)
    args = parser.parse_args()
    rows = agnews_rows()
    rows = rows[: args.pool]
    labels = sorted({row["label"] for row in rows})
    vectors = embedded([row["text"] for row in rows])
    rng = np.random.default_rng(0)
    gold = np.array([labels.index(row["label"]) for row in rows])
    given = np.where(rng.random(len(rows)) < 0.15, (gold + rng.integers(1, len(labels), len(rows))) % len(labels), gold)
    order = rng.permutation(len(rows))
    human, checked, open_rows = (
        order[: args.human],
        order[args.human : args.human + args.checked],
        order[args.human + args.checked :],
    )

    def machine(row: int) -> MachineLabel:
        return MachineLabel(id=f"t{row}", round=1, label=labels[given[row]], confidence=1.0, annotator="simulated")

    others = [machine(row) for row in open_rows]
    fold_of = np.arange(len(checked)) % FOLDS
    results: dict[str, np.ndarray] = {}
    seconds: dict[str, float] = {}
    for way in ("full pass a fold (before)", "one fit a fold (now)", "one fit a fold, another seed"):
        critic = CalibratedCritic(labels, seed=1 if way.endswith("seed") else 0)
        out = np.zeros((len(checked), len(SIGNALS)))
        started = time.perf_counter()
        for fold in range(FOLDS):
            mine = checked[fold_of == fold]
            people = np.concatenate([human, checked[fold_of != fold]])
            people_labels = [labels[gold[row]] for row in people]
            if way.startswith("full"):
                rows_all = np.concatenate([open_rows, mine])
                features = critic.signals(
                    others + [machine(row) for row in mine], vectors[rows_all], vectors[people], people_labels
                )
                out[fold_of == fold] = features[len(others) :]
            else:
                out[fold_of == fold] = critic.signals(
                    [machine(row) for row in mine],
                    vectors[mine],
                    vectors[people],
                    people_labels,
                    others=(others, vectors[open_rows]),
                )
        seconds[way] = time.perf_counter() - started
        results[way] = out
        print(f"{way}: {seconds[way]:.1f} s", flush=True)
    before, now, reseeded = results.values()

    def difference(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
        return {name: round(float(np.abs(a[:, i] - b[:, i]).mean()), 4) for i, name in enumerate(SIGNALS)}

    figures = {
        "pool": len(rows),
        "checked": len(checked),
        "before_s": round(seconds["full pass a fold (before)"], 1),
        "now_s": round(seconds["one fit a fold (now)"], 1),
        "speedup": round(seconds["full pass a fold (before)"] / seconds["one fit a fold (now)"], 1),
        "mean_abs_signal_difference": difference(before, now),
        "same_way_other_seed": difference(now, reseeded),
    }
    print(f"speed-up {figures['speedup']}x; mean absolute difference of each signal: {difference(before, now)}")
    print(f"the same way with another seed (the noise of its random rows): {difference(now, reseeded)}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
