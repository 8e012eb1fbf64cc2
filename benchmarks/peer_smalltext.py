"""Peer baseline: small-text 1.4.1's query strategies beside ours, same embeddings, classifier, splits and seeds.

    python benchmarks/peer_smalltext.py [--dataset sst2] [--budget 200] [--batch 20] [--seeds 3]

Ours runs the real labelgraph loop (``labelgraph.evals``) with no machine annotator, so every selected item
goes to the simulated person, as in classic active learning; small-text's PoolBasedActiveLearner runs with a
scikit-learn logistic regression of the same settings on the same MiniLM vectors. Pairs: random / RandomSampling,
margin / BreakingTies, coreset / GreedyCoreset (cosine, on the vectors). Prints both tables and the ratio of
AULCs, then one JSON line. Needs ``pip install -e '.[bench]'`` (small-text 1.4.1, dill, tqdm).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score

from labelgraph.evals.datasets import CachedEmbedder, load_dataset
from labelgraph.evals.metrics import aulc, mean_std
from labelgraph.evals.simulate import EvalSpec, run_eval

os.environ.setdefault("LABELGRAPH_EMBEDDING", "minilm")  # measured on MiniLM, as its figures were


def smalltext_curve(name, x, y, x_test, y_test, seed_rows, batch, budget, classes, seed):
    from small_text import (
        BreakingTies,
        GreedyCoreset,
        PoolBasedActiveLearner,
        RandomSampling,
        SklearnClassifierFactory,
        SklearnDataset,
    )

    class VectorCoreset(GreedyCoreset):
        """GreedyCoreset on the dataset's own vectors (a scikit-learn classifier has no embed())."""

        def query(self, clf, dataset, indices_unlabeled, indices_labeled, y, n=10, **kwargs):
            rows = np.concatenate([indices_unlabeled, indices_labeled])
            return super().query(clf, dataset, indices_unlabeled, indices_labeled, y, n, embeddings=dataset.x[rows])

    strategy = {"random": RandomSampling(), "margin": BreakingTies(), "coreset": VectorCoreset("cosine")}[name]
    estimator = LogisticRegression(C=10.0, max_iter=2000, random_state=seed)
    targets = np.arange(classes)
    pool = SklearnDataset(x, y, target_labels=targets)
    learner = PoolBasedActiveLearner(SklearnClassifierFactory(estimator, classes), strategy, pool)
    np.random.seed(seed)  # small-text's random sampling draws from numpy's global generator
    learner.initialize_data(np.asarray(seed_rows), y[seed_rows])
    test = SklearnDataset(x_test, y_test, target_labels=targets)

    def predicted() -> np.ndarray:
        # small-text's predict() is the argmax over the classes seen so far, not a class id: map it back
        model = learner.classifier.model
        return model.classes_[model.predict_proba(test.x).argmax(axis=1)]

    points = [(0, f1_score(y_test, predicted(), average="macro"))]
    for step in range(budget // batch):
        asked = learner.query(num_samples=batch)
        learner.update(y[asked])
        points.append(((step + 1) * batch, f1_score(y_test, predicted(), average="macro")))
    return points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="sst2")
    parser.add_argument("--budget", type=int, default=200)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--seed-size", type=int, default=20)
    parser.add_argument("--pool-size", type=int, default=2000)
    parser.add_argument("--test-size", type=int, default=500)
    args = parser.parse_args()

    data = load_dataset(args.dataset, pool_size=args.pool_size, test_size=args.test_size)
    embedder = CachedEmbedder()
    strategies = ["random", "margin", "coreset"]
    spec = EvalSpec(
        strategies=strategies,
        annotator="none",
        seed_size=args.seed_size,
        batch_size=args.batch,
        budget=args.budget,
        rounds=args.budget // args.batch,
        seeds=list(range(args.seeds)),
    )
    with tempfile.TemporaryDirectory() as folder:
        ours = run_eval(spec, data, Path(folder), embedder=embedder)

    x = embedder.embed([i.text for i in data.train])
    x_test = embedder.embed([i.text for i in data.test])
    y = np.array([data.labels.index(i.label) for i in data.train])
    y_test = np.array([data.labels.index(i.label) for i in data.test])
    theirs: dict[str, list[float]] = {}
    for name in strategies:
        theirs[name] = []
        for seed in spec.seeds:
            seed_rows = random.Random(seed).sample(range(len(x)), args.seed_size)  # the seed set ours used
            points = smalltext_curve(
                name, x, y, x_test, y_test, seed_rows, args.batch, args.budget, len(data.labels), seed
            )
            theirs[name].append(aulc([p[0] for p in points], [p[1] for p in points], until=args.budget))

    print(f"{data.name}: pool {len(x)}, test {len(x_test)}, seed set {args.seed_size}, batch {args.batch}, "
          f"budget {args.budget}, seeds {args.seeds}; AULC of macro-F1 vs human labels (mean ± std)")  # fmt: skip
    print(f"  {'strategy':<10} {'labelgraph':>16} {'small-text 1.4.1':>18} {'ratio':>7}")
    figures = {"dataset": data.name, "budget": args.budget, "batch": args.batch, "seeds": args.seeds, "strategies": {}}
    for name in strategies:
        mine = ours["summary"][name]["aulc"]
        peer = mean_std(theirs[name])
        ratio = mine["mean"] / peer["mean"]
        print(
            f"  {name:<10} {mine['mean']:.3f} ± {mine['std']:.3f}"
            f"   {peer['mean']:.3f} ± {peer['std']:.3f}   {ratio:7.3f}"
        )
        figures["strategies"][name] = {"ours": mine, "smalltext": peer, "ratio": round(ratio, 4)}
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
