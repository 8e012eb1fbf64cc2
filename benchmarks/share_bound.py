"""How much of the frontier a sampling-based certifier could hope to certify: an upper bound on the expected
share of the frontier, per recorded run and target.

    python benchmarks/share_bound.py EVAL_OUT [EVAL_OUT ...] [--targets 0.9,0.95] [--confidence 0.9]
        [--certifier uniform|generous]

The frontier is the largest top set of the run's final ranking whose true accuracy meets the target, so the sets
near it are barely above the target, and a valid test passes a set exactly at the target with probability at most
its level. The bound grants a certifier far more than the product has: it knows which top set to test, puts every
answer of the run as a uniform check inside it and tests it once at the full level (Clopper-Pearson, no looks, no
multiplicity, no ranking to learn). Then for any s, P(share >= s) is at most the best chance to pass among the
sets of share s or more, and a share over 1 (a set past the frontier, below the target) happens with probability
at most 1 - confidence, so, as E[share] is the integral of P(share >= s) over s,

    E[share] <= integral from 0 to 1 of  max chance to pass of a set of share >= s  ds
                + (1 - confidence) * (most share - 1)

``--certifier generous`` grants more: the run's own final ranking may shape the design and the estimate, as the
product's do (active inference's design, PPI's control variate). Each set is then sampled by the best of several
designs (uniform, or tilted towards low ``p``: ``sqrt(p(1 - p))`` and others), estimated with ``1 - p`` as a
control variate at the coefficient that is best *for the true labels*, without replacement (the
finite-population correction), and tested once at the full level by a normal test that knows the estimate's
true standard deviation. No test with this design, estimator and answers passes more often, up to the normal
approximation and the finite-population correction (``1 - n/N``: exact for equal-probability draws, approximate
for tilted ones); the product's draws, split over fixes and explores, learned weights and looks, are all worse.
Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
from scipy import stats

from labelgraph.critic.acceptance import chance_to_pass
from labelgraph.evals.frontier import frontier_size

SHARES = (np.arange(400) + 0.5) / 400
"""The midpoints of the shares s the integral is taken over."""


def generous_variance(p: np.ndarray, wrong: np.ndarray) -> np.ndarray:
    """Per top set (``p``, ``wrong`` ranked, strictest first): the least variance of one draw's estimate of the
    set's error rate over several designs from the ranking (uniform; in proportion to ``sqrt(p(1 - p))``,
    ``sqrt(1 - p)``, ``1 - p`` or ``(1 - p)**2``; each of those mixed with uniform), with ``1 - p`` as a control
    variate at its best coefficient for these labels (with-replacement variance; the caller corrects for a
    finite set)."""
    model = 1 - np.clip(p, 1e-6, 1 - 1e-6)
    size = np.arange(1, len(p) + 1)
    y_sum, m_sum = np.cumsum(wrong), np.cumsum(model)
    best = np.full(len(p), np.inf)
    doubt = np.sqrt(model * (1 - model))
    designs = [np.ones(len(p)), doubt, np.sqrt(model), model, model**2]
    designs += [0.5 * d / d.mean() + 0.5 for d in designs[1:]]  # each tilt mixed half and half with uniform
    for spread in designs:
        total = np.cumsum(spread)  # draw probability of a member: spread / total
        a = total * np.cumsum(wrong**2 / spread)  # sum of y^2 / pi, times N^2 cancels below
        b = total * np.cumsum(wrong * model / spread)
        c = total * np.cumsum(model**2 / spread)
        # V(lam) = (a - 2 lam b + lam^2 c) / N^2 - ((Y - lam M) / N)^2, a quadratic in lam
        quad = c / size**2 - (m_sum / size) ** 2
        lin = b / size**2 - y_sum * m_sum / size**2
        lam = np.where(quad > 0, lin / np.where(quad > 0, quad, 1), 0.0)
        variance = (a - 2 * lam * b + lam**2 * c) / size**2 - ((y_sum - lam * m_sum) / size) ** 2
        best = np.minimum(best, np.maximum(variance, 0.0))
    return best


def share_bound(
    p: np.ndarray,
    right: np.ndarray,
    covered: int,
    answers: int,
    target: float,
    alpha: float,
    generous: bool = False,
) -> float:
    """The bound above for one run: ``p``, ``right`` over its unchecked machine labels; ``covered``: texts people
    or seeds labelled; ``generous``: the ``--certifier generous`` bound."""
    order = np.argsort(-p, kind="stable")
    errors = np.cumsum(~right[order]) / np.arange(1, len(order) + 1)
    front = frontier_size(p, right, target) + covered
    if generous:
        size = np.arange(1, len(p) + 1)
        correction = np.clip(1 - answers / size, 0.0, 1.0)  # sampled without replacement: a set of n is known
        sd = np.sqrt(generous_variance(p[order], (~right[order]).astype(float)) * correction / answers)
        margin = (1 - target) - errors
        z = stats.norm.ppf(1 - alpha)
        chances = np.where(sd > 0, stats.norm.cdf(margin / np.where(sd > 0, sd, 1) - z), (margin >= 0) * 1.0)
    else:
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
    parser.add_argument("--certifier", choices=["uniform", "generous"], default="uniform")
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
            bound = share_bound(p, right, covered, int(run["answers"]), target, alpha, args.certifier == "generous")
            bounds.append(bound)
            front = (frontier_size(p, right, target) + covered) / pool
            name = f"{path.parent.parent.parent.name}/{path.parent.name}"
            print(f"{name:36} {target:5.2f}  {front:8.3f}  {bound:5.3f}")
        figures[str(target)] = {"runs": len(bounds), "mean_bound": round(float(np.mean(bounds)), 4)}
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
