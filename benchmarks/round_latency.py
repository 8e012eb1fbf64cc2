"""How long the person waits: from the last answer of a batch to the next batch, per round, and where that time
goes, node by node.

    python benchmarks/round_latency.py [--pool 20000] [--rounds 8] [--batch 20] [--keep DIR]

The pool is AG News as in ``lanes_scale.py`` (past 19,571 texts its texts again with a suffix), the project the
same (``margin``, the embedded annotator over the whole pool every round, the critic on every machine label, the
student on all of them). A simulated person answers each batch at once from the gold labels; ``wait`` is the time
from handing the answers to ``Run.answer`` to the next batch being ready (``Run.step`` paused again), so it holds
the commit of the answers, the student's fit and the next round's selection, annotation and critique: today the
person waits for a whole round. The nodes' seconds are read from the graph's updates as they stream. Figures:
per round the wait and each node's seconds (the first round's wait is the run's start; the step after the last
answers ends the run and is not counted); medians after the first round; the process's peak RSS. Ends with one
JSON line (``round_s_median``, ``wait_s_median``, ``peak_rss_mb``, the nodes' medians).
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import time
from collections import defaultdict

from agnews import scale_options, scale_project

from labelgraph.agents.human import SimulatedHuman
from labelgraph.run import Project

os.environ.setdefault("LABELGRAPH_EMBEDDING", "minilm")  # as lanes_scale.py: the figures there are MiniLM's


def main() -> None:
    args = scale_options(__doc__.splitlines()[0], rounds=8)
    with scale_project(args, "latency") as (config, labels):
        started = time.perf_counter()
        run = Project(config).start()
        created = time.perf_counter() - started
        human = SimulatedHuman(run.gold, labels, seed=0)
        nodes: list[dict[str, float]] = []
        clock = {"last": 0.0}

        def on_update(node: str, update: dict) -> None:
            now = time.perf_counter()
            nodes[-1][node] = nodes[-1].get(node, 0.0) + now - clock["last"]
            clock["last"] = now

        def step():
            nodes.append({})
            clock["last"] = time.perf_counter()
            return run.step(on_update)

        first = time.perf_counter()
        status = step()
        waits, rounds = [time.perf_counter() - first], [time.perf_counter() - first]
        print(f"{'round':>5} {'wait s':>7}  nodes (s)", flush=True)
        print(f"{1:5d} {waits[0]:7.1f}  " + "  ".join(f"{k} {v:.1f}" for k, v in nodes[-1].items()), flush=True)
        while status.phase == "paused":
            waiting = run.pending_reviews()
            answers = human.answer(waiting)
            handed = time.perf_counter()
            run.answer(answers, reviewer="simulated")
            stepped = time.perf_counter()
            status = step()
            done = time.perf_counter()
            if status.phase != "paused":  # the last answers end the run: nobody waits for a next batch
                nodes.pop()
                break
            waits.append(done - handed)
            rounds.append(done - stepped)
            print(
                f"{len(waits):5d} {waits[-1]:7.1f}  " + "  ".join(f"{k} {v:.1f}" for k, v in nodes[-1].items()),
                flush=True,
            )
        run.close()
    later = slice(1, None) if len(waits) > 1 else slice(None)
    by_node: dict[str, list[float]] = defaultdict(list)
    for seconds in nodes[later]:
        for node, value in seconds.items():
            by_node[node].append(value)
    figures = {
        "pool": args.pool,
        "rounds": len(waits),
        "create_s": round(created, 1),
        "round_s_median": round(statistics.median(rounds[later]), 2),
        "wait_s_median": round(statistics.median(waits[later]), 2),
        "wait_s_max": round(max(waits[later]), 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "node_s_median": {node: round(statistics.median(values), 2) for node, values in by_node.items()},
    }
    for key, value in figures.items():
        print(f"{key:>16}: {value}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
