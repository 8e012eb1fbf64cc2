"""How much of the frontier any sampling-based certifier could hope to certify: an upper bound on the expected
share of the frontier, per recorded run and target.

    python benchmarks/share_bound.py EVAL_OUT [EVAL_OUT ...] [--targets 0.9,0.95] [--confidence 0.9]

The frontier is the largest top set of the run's final ranking whose true accuracy meets the target, so the sets
near it are barely above the target, and a valid test passes a set exactly at the target with probability at most
its level. The bound grants a certifier far more than the product has: it knows which top set to test, puts every
answer of the run as a uniform check inside it and tests it once at the full level (Clopper-Pearson, no looks, no
multiplicity, no ranking to learn). Then for any s, P(share >= s) is at most the best chance to pass among the
sets of share s or more, and a share over 1 (a set past the frontier, below the target) happens with probability
at most 1 - confidence, so, as E[share] is the integral of P(share >= s) over s,

    E[share] <= integral from 0 to 1 of  max chance to pass of a set of share >= s  ds
                + (1 - confidence) * (most share - 1)

A procedure that trusts the critic's calibration could do better only by betting on the model being right, which
a guarantee that holds however good the critic cannot do. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

from labelgraph.critic.acceptance import chance_to_pass
from labelgraph.evals.frontier import frontier_size

SHARES = (np.arange(400) + 0.5) / 400
"""The midpoints of the shares s the integral is taken over."""


def share_bound(p: np.ndarray, right: np.ndarray, covered: int, answers: int, target: float, alpha: float) -> float:
    """The bound above for one run: ``p``, ``right`` over its unchecked machine labels; ``covered``: texts people
    or seeds labelled."""
    order = np.argsort(-p, kind="stable")
    errors = np.cumsum(~right[order]) / np.arange(1, len(order) + 1)
    front = frontier_size(p, right, target) + covered
    chances = np.array([chance_to_pass(errors[k - 1], answers, 1 - target, alpha) for k in range(1, len(p) + 1)])
    best_from = np.maximum.accumulate(chances[::-1])[::-1]  # the best chance among sets of size k or more
    most = (len(p) + covered) / front
    reach = []
    for share in SHARES:
        k = max(1, math.ceil(share * front - covered))
        reach.append(1.0 if share * front <= covered else float(best_from[k - 1]) if k <= len(p) else 0.0)
    return float(np.mean(reach)) + alpha * (most - 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recorded", type=Path, nargs="+", help="eval output folders or certify.npz files")
    parser.add_argument("--targets", default="0.9,0.95")
    parser.add_argument("--confidence", type=float, default=0.9)
    args = parser.parse_args()
    files = [f for r in args.recorded for f in ([r] if r.suffix == ".npz" else sorted(r.glob("runs/*/certify.npz")))]
    alpha = 1 - args.confidence
    figures: dict[str, dict[str, float]] = {}
    print(f"{'run':36} target  frontier  bound")
    for target in (float(t) for t in args.targets.split(",")):
        bounds = []
        for path in files:
            run = np.load(path, allow_pickle=True)
            open_ = ~run["checked"].astype(bool)
            p, right = run["p"][open_].astype(float), run["right"][open_].astype(bool)
            covered, pool = int(run["covered"]), int(run["pool"])
            bound = share_bound(p, right, covered, int(run["answers"]), target, alpha)
            bounds.append(bound)
            front = (frontier_size(p, right, target) + covered) / pool
            name = f"{path.parent.parent.parent.name}/{path.parent.name}"
            print(f"{name:36} {target:5.2f}  {front:8.3f}  {bound:5.3f}")
        figures[str(target)] = {"runs": len(bounds), "mean_bound": round(float(np.mean(bounds)), 4)}
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
