"""Replay recorded runs through the certification code many times: false certifications, share of the frontier,
and the uniform-audit baseline, without the loop's cost.

    python benchmarks/certify_sim.py EVAL_OUT [EVAL_OUT ...] [--runs 2000] [--targets 0.9,0.95] [--confidence 0.9]
        [--weights design|pooled] [--jobs N]

Each recorded run (``OUT/runs/NAME/certify.npz``, written by ``labelgraph eval``) holds, for every machine label of
its pool, the critic's signals and whether the label is right. A simulated run replays the human lane round by
round with the product's own functions: the batch is drawn by ``critic.batch.draw_batch`` from the last look's
target, the critic is recalibrated on the simulated checks (``critic.calibration.calibrate``, so the ranking moves
with the answers as in the loop), and each round ends with a look (``critic.acceptance.decide``). Only the
signals stay fixed at their recorded values. Per target it reports:

    false      runs whose final accepted set is below the target (must stay at most 1 - confidence)
    any-look   runs in which some look accepted a set below the target (the guarantee covers every look)
    share      certified coverage / frontier coverage (the frontier: the largest top set of the run's final
               ranking whose true accuracy meets the target)
    baseline   the uniform-audit baseline: every answer a uniform blind audit of every machine label, one
               Clopper-Pearson test of them all at full level, at its typical outcome
    oracle     a certifier that knows which top set to test: every answer a uniform check inside it, one
               Clopper-Pearson test at full level, its expected coverage maximised (no multiplicity, no looks)

Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from labelgraph.config import CriticSettings, QualitySettings
from labelgraph.critic.acceptance import Design, decide
from labelgraph.critic.batch import certify_draws_needed, draw_batch, shares_for
from labelgraph.critic.calibration import calibrate
from labelgraph.evals.frontier import baseline_coverage, frontier_size, oracle_coverage

FAST_C = 0.3
"""The regularisation of ``--calibration fast``: the product's choice by cross-validation, fixed at a typical value."""


def fast_calibrate(features: np.ndarray, checked: np.ndarray, right: np.ndarray, settings: CriticSettings):
    """The product's calibration (``critic.calibration.calibrate``) at a fixed regularisation: one fit and five
    out-of-fold fits instead of a cross-validated search (about 8x faster)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    right = np.asarray(right, dtype=int)
    n, k = len(right), int(right.sum())
    prior = (k + 1) / (n + 2)
    if n < settings.min_checks or min(k, n - k) < 2:
        return np.full(len(features), prior), np.full(n, prior), None
    model = make_pipeline(StandardScaler(), LogisticRegression(C=FAST_C, max_iter=1000))
    p = model.fit(features[checked], right).predict_proba(features)[:, 1]
    cv = StratifiedKFold(min(5, k, n - k), shuffle=True, random_state=0)
    oof = cross_val_predict(model, features[checked], right, cv=cv, method="predict_proba")[:, 1]
    return p, oof, None


def load(paths: list[Path]) -> list[tuple[str, dict[str, np.ndarray]]]:
    """Recorded runs: ``certify.npz`` files, or folders searched for them."""
    found = []
    for path in paths:
        files = [path] if path.is_file() else sorted(path.glob("**/certify.npz"))
        for file in files:
            with np.load(file, allow_pickle=False) as data:
                found.append((f"{file.parent.parent.parent.name}/{file.parent.name}", dict(data)))
    return found


def simulate(
    features: np.ndarray,
    right: np.ndarray,
    *,
    pool: int,
    seeds: int,
    target: float,
    confidence: float,
    rounds: int,
    batch: int,
    seed: int,
    settings: CriticSettings,
    explore: float = 0.3,
    floor: float = 0.05,
    fast: bool = True,
    uncertainty: np.ndarray | None = None,
    weigh: bool = True,
) -> dict[str, float]:
    """One simulated run of the human lane over recorded machine labels (rows 0..N-1; the rest of the pool has
    no machine label, seeds excluded). ``weigh`` False: draws weighted by ``1 / q`` across rounds, as before the
    rounds' designs were kept (``--weights pooled``)."""
    rng = np.random.default_rng(seed)
    n = len(right)
    uncertainty = rng.random(n) if uncertainty is None else uncertainty  # none recorded: picks at random
    others = max(0, pool - n - seeds)
    ids = [str(i) for i in range(n + others)]
    checked = np.zeros(n, dtype=bool)
    answered: set[str] = set()
    rows: list[int] = []
    probabilities: list[float] = []
    audit: list[bool] = []
    designs: list[np.ndarray] = []
    rounds_of_draws: list[int] = []
    p = np.full(n, 0.5)
    f = p.copy()
    target_cut: float | None = None
    needed, answers, previous, spent_before = 0, 0, 0, 0.0
    budget = rounds * batch
    any_false = False
    accepted = np.zeros(n, dtype=bool)
    estimate: float | None = None
    labels = ["x"] * n
    for _ in range(rounds):
        open_p = {ids[i]: float(p[i]) for i in range(n) if not checked[i]}
        region = {ids[i] for i in range(n) if not checked[i] and target_cut is not None and p[i] >= target_cut}
        if target_cut is None:
            region = set(open_p)
        # the strategy's picks: uniform among the 3 x batch texts the student is least sure of (hybrid-like)
        open_rows = [i for i in range(n + others) if ids[i] not in answered]
        unsure = sorted(open_rows, key=lambda i: -uncertainty[i] if i < n else -0.5)[: 3 * batch]
        picks = [ids[i] for i in rng.permutation(unsure)[:batch]]
        shares = shares_for(
            explore=explore,
            floor=floor,
            certify_draws=certify_draws_needed(needed, budget - answers, batch),
            room=batch,
        )
        chosen, draws, mixture = draw_batch(
            batch,
            pool=ids,
            answered=answered,
            p_correct=open_p,
            region=region,
            uncertainty={},
            picks=picks,
            shares=shares,
            rng=rng,
        )
        # the critic scores the round's labels before the answers (out of fold for those checked before)
        done = np.flatnonzero(checked)
        fit = fast_calibrate if fast else lambda *a: calibrate(*a, seed=0)
        p, oof, _ = fit(features, done, right[done], settings)
        f = p.copy()
        f[done] = oof
        checked_before = checked.copy()
        for item_id, _rule in chosen:
            answered.add(item_id)
            if int(item_id) < n:
                checked[int(item_id)] = True
        designs.append(mixture[:n])
        for d in draws:
            rounds_of_draws.append(len(designs) - 1)
            row = int(d.id)
            rows.append(row if row < n else -1)
            probabilities.append(d.probability)
            audit.append(d.rule in {"audit", "floor"})
        answers += len(chosen)
        draw_rows = np.array(rows)
        decision = decide(
            f,
            checked,
            right & checked,
            labels,
            draw_rows,
            np.array(probabilities),
            np.array(audit),
            target=target,
            confidence=confidence,
            answers=answers,
            previous_answers=previous,
            spent_before=spent_before,
            budget=budget,
            batch=batch,
            least_checks=QualitySettings().min_checks,
            pool_size=pool,
            covered=seeds + len(answered),
            design=Design(probability=np.array(designs), round_of_draw=np.array(rounds_of_draws)) if weigh else None,
            earlier=np.array(rounds_of_draws) < len(designs) - 1,
            checked_before=checked_before,
        )
        spent_before += decision.estimate.level or 0.0
        previous = answers
        if decision.estimate.level:  # a look that tested: its accepted set replaces the last
            accepted, estimate = decision.accepted, decision.estimate.accuracy
        accepted &= ~checked
        target_cut, needed = decision.target, decision.audits_needed
        any_false |= bool(accepted.any() and right[accepted].mean() < target)
        p = f.copy()
    unchecked = ~checked
    covered = seeds + len(answered)
    frontier = (frontier_size(f[unchecked], right[unchecked], target) + covered) / pool
    coverage = (int(accepted.sum()) + covered) / pool
    truth = float(right[accepted].mean()) if accepted.any() else None
    return {
        "coverage": coverage,
        "frontier": frontier,
        "share": coverage / frontier if frontier else 0.0,
        "false": float(truth is not None and truth < target),
        "estimate_error": estimate - truth if truth is not None and estimate is not None else float("nan"),
        "model_error": float(f[accepted].mean()) - truth if truth is not None else float("nan"),
        "any_false": float(any_false),
        "oracle": oracle_coverage(f[unchecked], right[unchecked], target, 1 - confidence, budget, pool, covered),
    }


def _one_run(job: tuple[dict[str, np.ndarray], float, int, argparse.Namespace]) -> dict[str, float]:
    """One simulated run of a recorded run (a worker process's task)."""
    data, target, run, args = job
    return simulate(
        data["features"],
        data["right"].astype(bool),
        pool=int(data["pool"]),
        seeds=int(data["seeds"]),
        target=target,
        confidence=args.confidence,
        rounds=args.rounds,
        batch=args.batch,
        seed=run,
        settings=CriticSettings(),
        fast=args.calibration == "fast",
        uncertainty=data.get("uncertainty"),
        weigh=args.weights == "design",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recorded", type=Path, nargs="+", help="eval output folders or certify.npz files")
    parser.add_argument("--runs", type=int, default=2000, help="simulated runs per recorded run and target")
    parser.add_argument("--targets", default="0.9,0.95")
    parser.add_argument("--confidence", type=float, default=0.9)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--calibration", choices=["fast", "full"], default="fast", help="fast: a fixed regularisation")
    parser.add_argument(
        "--weights",
        choices=["design", "pooled"],
        default="design",
        help="pooled: 1/q across rounds (as before)",
    )
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes (default: every core)")
    args = parser.parse_args()
    recorded = load(args.recorded)
    if not recorded:
        sys.exit(f"error: no certify.npz under {', '.join(map(str, args.recorded))} (run labelgraph eval first)")
    summary: dict[str, dict[str, float]] = {}
    started = time.perf_counter()
    print(f"{'run':34} {'target':>6} {'runs':>5} {'false':>6} {'any':>6} {'share':>6} {'cover':>6} {'front':>6} "
          f"{'oracle':>6} {'base':>6} {'est.err':>7}")  # fmt: skip
    for target in [float(t) for t in args.targets.split(",")]:
        every: list[dict[str, float]] = []
        for name, data in recorded:
            right = data["right"].astype(bool)
            pool, seeds = int(data["pool"]), int(data["seeds"])
            jobs = [(data, target, run, args) for run in range(args.runs)]
            with ProcessPoolExecutor(args.jobs, initializer=threadpool_limits, initargs=(1,)) as workers:
                results = list(workers.map(_one_run, jobs, chunksize=4))
            base, _ = baseline_coverage(right, target, 1 - args.confidence, args.rounds * args.batch, pool, seeds)
            for result in results:
                result["baseline"] = base
            every += results
            mean = {key: float(np.nanmean([r[key] for r in results])) for key in results[0]}
            print(f"{name:34} {target:6.2f} {args.runs:5d} {mean['false']:6.3f} {mean['any_false']:6.3f} "
                  f"{mean['share']:6.3f} {mean['coverage']:6.3f} {mean['frontier']:6.3f} {mean['oracle']:6.3f} "
                  f"{base:6.3f} {mean['estimate_error']:+7.4f}", flush=True)  # fmt: skip
        errors = np.array([r["estimate_error"] for r in every if not math.isnan(r["estimate_error"])])
        summary[f"{target:g}"] = {
            "runs": len(every),
            "false_certification": round(float(np.mean([r["false"] for r in every])), 4),
            "any_look_false_certification": round(float(np.mean([r["any_false"] for r in every])), 4),
            "frontier_share": round(float(np.mean([r["share"] for r in every])), 4),
            "share_of_oracle": round(
                float(np.mean([r["coverage"] for r in every]) / np.mean([r["oracle"] for r in every])), 4
            ),
            "beats_baseline": round(float(np.mean([r["coverage"] >= r["baseline"] for r in every])), 4),
            "estimate_error_median": round(float(np.median(errors)), 4) if len(errors) else None,
            "optimistic_over_0_02": round(float(np.mean(errors > 0.02)), 4) if len(errors) else None,
        }
        model = np.array([r["model_error"] for r in every if not math.isnan(r["model_error"])])
        if len(model):  # the calibrated model's own estimate of the accepted set, for comparison
            summary[f"{target:g}"]["model_error_median"] = round(float(np.median(model)), 4)
            summary[f"{target:g}"]["model_optimistic_over_0_02"] = round(float(np.mean(model > 0.02)), 4)
    print(json.dumps({"confidence": args.confidence, "seconds": round(time.perf_counter() - started, 1), **summary}))


if __name__ == "__main__":
    with threadpool_limits(1):  # fits of a few hundred rows: one thread is fastest, many only contend
        main()
