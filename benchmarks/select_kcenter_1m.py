"""A coreset round on a large pool: the running minimum distance kept from the last round vs recomputed.

    python benchmarks/select_kcenter_1m.py [--n 1000000] [--d 384] [--k 50] [--labelled 1000] [--new 50]
                                           [--check-n 100000] [--rounds 3]

Random normal rows, L2-normalised float32, fixed seed; the labelled items are pool rows, the candidates the rest.
First, at ``--check-n``: ``--rounds`` rounds of picks (each labelled before the next) from the state file, from
the exact recomputation and from a plain full-pass greedy (the rule before the state): the same picks or not.
Then at ``--n``, one new process a measurement (clean peaks): ``prepare`` saves the state of the round before
(``labelled - new`` items), ``incremental`` picks ``k`` with ``new`` labels folded into it (with the select node's
pool key), ``exact`` picks ``k`` with every distance recomputed. Seconds, peak RSS of the whole process (the pool
alone is n x d x 4 bytes), the load average. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from labelgraph.strategies.base import PoolInput
from labelgraph.strategies.diversity import KCenterGreedy
from labelgraph.strategies.state import pool_key

GB = 2**30


def unit_rows(seed: int, n: int, d: int) -> np.ndarray:
    """``n`` random unit rows, normalised in place (no second pool-sized array)."""
    x = np.random.default_rng(seed).standard_normal((n, d), dtype=np.float32)
    for start in range(0, n, 65536):
        block = x[start : start + 65536]
        block /= np.linalg.norm(block, axis=1, keepdims=True)
    return x


def pool_input(vectors: np.ndarray, labelled: list[int], state_dir: Path | None, key: str = "") -> PoolInput:
    """The select node's question: candidates are the rows not labelled; ids are ``t<row>``."""
    free = np.ones(len(vectors), dtype=bool)
    free[labelled] = False
    candidates = np.flatnonzero(free)
    ids = [f"t{row}" for row in labelled]
    return PoolInput(vectors, candidates, ids, lambda some: vectors[[int(i[1:]) for i in some]], state_dir, key)


def full_pass_greedy(vectors: np.ndarray, centers: np.ndarray, k: int) -> np.ndarray:
    """The rule as it was before the state: every candidate's distance updated after every pick."""
    distance = np.empty(len(vectors), dtype=np.float32)
    for start in range(0, len(vectors), 8192):
        distance[start : start + 8192] = 1.0 - (vectors[start : start + 8192] @ centers.T).max(axis=1)
    picks = []
    for _ in range(k):
        picks.append(int(np.argmax(distance)))
        np.minimum(distance, 1.0 - vectors @ vectors[picks[-1]], out=distance)
        distance[picks[-1]] = -np.inf
    return np.asarray(picks)


def check_same_picks(n: int, d: int, k: int, labelled_count: int, rounds: int) -> dict:
    """Rounds at ``n``: state-file picks, exact picks and full-pass picks, each round's picks labelled next."""
    vectors = unit_rows(1, n, d)
    labelled = np.random.default_rng(2).choice(n, labelled_count, replace=False).tolist()
    ids = [f"t{row}" for row in range(n)]
    same, seconds = True, {"incremental": [], "exact": [], "full_pass": []}
    with tempfile.TemporaryDirectory() as folder:
        for number in range(rounds):
            start = time.perf_counter()
            data = pool_input(vectors, labelled, Path(folder), pool_key(vectors, ids))
            kept = KCenterGreedy().select_pool(data, k, np.random.default_rng(number))
            seconds["incremental"].append(time.perf_counter() - start)
            start = time.perf_counter()
            exact = KCenterGreedy().select(data.as_selection(), k, np.random.default_rng(number))
            seconds["exact"].append(time.perf_counter() - start)
            start = time.perf_counter()
            plain = full_pass_greedy(vectors[data.candidates], vectors[labelled], k)
            seconds["full_pass"].append(time.perf_counter() - start)
            same = same and kept.tolist() == exact.tolist() == plain.tolist()
            labelled += data.candidates[kept].tolist()
    return {"same": same, **{name: [round(s, 3) for s in times] for name, times in seconds.items()}}


def child(mode: str, args: argparse.Namespace) -> None:
    """One measurement in this process: prints a JSON line. The incremental round's seconds count the pool key."""
    vectors = unit_rows(1, args.n, args.d)
    labelled = np.random.default_rng(2).choice(args.n, args.labelled, replace=False).tolist()
    ids = [f"t{row}" for row in range(args.n)]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    start = time.perf_counter()
    key = pool_key(vectors, ids) if mode != "exact" else ""
    key_s = time.perf_counter() - start
    if mode == "prepare":  # the round before: its labels folded into the state file
        data = pool_input(vectors, labelled[: -args.new], args.dir, key)
    else:  # exact: no state, every distance recomputed
        data = pool_input(vectors, labelled, args.dir if mode == "incremental" else None, key)
    start = time.perf_counter()
    picks = KCenterGreedy().select_pool(data, args.k, np.random.default_rng(0))
    seconds = key_s + time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"s": seconds, "key_s": key_s, "peak": peak, "before": before, "picks": picks.tolist()}))


def measure(mode: str, args: argparse.Namespace) -> dict:
    command = [sys.executable, __file__, "--child", mode, "--dir", str(args.dir)]
    command += [f"--{name}={getattr(args, name)}" for name in ("n", "d", "k", "labelled", "new")]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--d", type=int, default=384)
    parser.add_argument("--k", type=int, default=50)
    parser.add_argument("--labelled", type=int, default=1_000)
    parser.add_argument("--new", type=int, default=50, help="labels of the last round, folded into the state")
    parser.add_argument("--check-n", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", choices=["prepare", "incremental", "exact"], help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args)
        return

    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs")
    check = check_same_picks(args.check_n, args.d, args.k, args.labelled, args.rounds)
    print(f"{args.rounds} rounds at {args.check_n:,} x {args.d}, same picks from the state file, the exact", end="")
    print(f" recomputation and a full pass: {check['same']}; seconds a round (the state's first round: from scratch)")
    for name in ("incremental", "exact", "full_pass"):
        print(f"  {name:<12} {', '.join(f'{s:.2f}' for s in check[name])}")
    with tempfile.TemporaryDirectory() as folder:
        args.dir = Path(folder)
        measure("prepare", args)
        incremental = measure("incremental", args)
        exact = measure("exact", args)
    pool_gb = args.n * args.d * 4 / GB
    print(f"pick {args.k} from {args.n:,} x {args.d} (pool {pool_gb:.2f} GB), {args.labelled} labelled:")
    for name, run in [(f"state + {args.new} new labels", incremental), ("exact recomputation", exact)]:
        print(f"  {name:<26} {run['s']:7.2f} s   peak RSS {run['peak'] / GB:5.2f} GB", end="")
        print(f" ({run['before'] / GB:.2f} GB with the pool, before the pick)")
    print(f"  of which the select node's pool key {incremental['key_s']:.2f} s")
    same_full = incremental["picks"] == exact["picks"]
    print(f"  same picks: {same_full}; speed-up {exact['s'] / incremental['s']:.1f}x")
    load_after = os.getloadavg()
    figures = {
        "n": args.n,
        "d": args.d,
        "k": args.k,
        "labelled": args.labelled,
        "new": args.new,
        "incremental_s": round(incremental["s"], 3),
        "incremental_peak_gb": round(incremental["peak"] / GB, 3),
        "exact_s": round(exact["s"], 3),
        "exact_peak_gb": round(exact["peak"] / GB, 3),
        "pool_gb": round(pool_gb, 3),
        "key_s": round(incremental["key_s"], 3),
        "same_picks": same_full,
        "check_n": args.check_n,
        "same_picks_check_n": check["same"],
        "load_avg_before": [round(x, 2) for x in load],
        "load_avg_after": [round(x, 2) for x in load_after],
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
