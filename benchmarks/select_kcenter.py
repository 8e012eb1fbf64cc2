"""k-center greedy (core-set) selection speed: labelgraph against small-text 1.4.1 on the same arrays.

    python benchmarks/select_kcenter.py [--n 100000] [--d 384] [--k 50] [--labelled 1000] [--skip-peer]

Random normal rows, L2-normalised float32, fixed seed. Ours: best of 3. small-text's ``greedy_coreset`` (cosine,
the same rule) runs once if installed (``pip install --no-deps small-text==1.4.1``). Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from labelgraph.strategies import k_center_greedy


def unit_rows(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    x = rng.standard_normal((n, d), dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def best_of(runs: int, fn):
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--d", type=int, default=384)
    parser.add_argument("--k", type=int, default=50)
    parser.add_argument("--labelled", type=int, default=1_000)
    parser.add_argument("--skip-peer", action="store_true", help="do not run small-text")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    pool, labelled = unit_rows(rng, args.n, args.d), unit_rows(rng, args.labelled, args.d)
    no_centers = np.zeros((0, args.d), dtype=np.float32)
    cold_s, _ = best_of(3, lambda: k_center_greedy(pool, no_centers, args.k, np.random.default_rng(0)))
    ours_s, ours = best_of(3, lambda: k_center_greedy(pool, labelled, args.k, np.random.default_rng(0)))

    peer_s, same = None, None
    if not args.skip_peer:
        try:
            from small_text.query_strategies.coresets import greedy_coreset
        except ImportError:
            print("small-text is not installed: pip install -e '.[bench]'")
        else:
            # small-text indexes one matrix: the pool first (so its picks are pool rows), then the labelled rows
            x = np.concatenate([pool, labelled])
            unlabelled, known = np.arange(args.n), np.arange(args.n, args.n + args.labelled)
            start = time.perf_counter()
            theirs = greedy_coreset(x, unlabelled, known, args.k, distance_metric="cosine", normalized=True)
            peer_s = time.perf_counter() - start
            same = theirs.tolist() == ours.tolist()

    rows = [
        ("labelgraph, no labelled centers", cold_s),
        (f"labelgraph, {args.labelled} labelled centers", ours_s),
        (f"small-text 1.4.1, {args.labelled} labelled centers", peer_s),
    ]
    print(f"k-center greedy: {args.k} picks from {args.n:,} x {args.d}")
    for name, seconds in rows:
        print(f"  {name:<45} {'-' if seconds is None else f'{seconds:8.3f} s'}")
    speedup = None if peer_s is None else round(peer_s / ours_s, 1)
    if speedup is not None:
        print(f"  speed-up {speedup}x; same picks: {same}")
    figures = {
        "n": args.n,
        "d": args.d,
        "k": args.k,
        "labelled": args.labelled,
        "ours_s": round(ours_s, 3),
        "ours_cold_s": round(cold_s, 3),
        "smalltext_s": None if peer_s is None else round(peer_s, 2),
        "speedup": speedup,
        "same_picks": same,
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
