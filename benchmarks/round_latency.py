"""How long the person waits: from the last answer of a batch to the next batch, per round, and where a round's
time goes, node by node.

    python benchmarks/round_latency.py [--pool 20000] [--rounds 8] [--batch 20] [--think 30] [--keep DIR]

The pool is AG News as in ``lanes_scale.py`` (past 19,571 texts its texts again with a suffix), the project the
same (``margin``, the embedded annotator over the whole pool every round, the critic on every machine label, the
student on all of them). The run steps in a thread as the service steps it (``service.runs.RunRegistry``: again
while answers wait to be committed); a simulated person, in the main thread, waits for a batch to open for
answers and answers it from the gold labels one item at a time over ``--think`` seconds. A batch opens at the
round's ``present`` node, before the machine lane and the critic work, so the person answers while they do.

Figures: per round the wait (from the last answer to the next batch opening: the rest of the round's work if the
person was quicker, then commit, train, select and present), the round's compute (its nodes' seconds, from taking
the answers to the next pause) and each node's; medians after the first round; how long an answer call takes
while the round writes to the same label store; the process's peak RSS. Ends with one JSON line
(``round_s_median``, ``wait_s_median``, ``answer_s_max``, ``peak_rss_mb``, ``think_s``, the nodes' medians).
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import threading
import time
from collections import defaultdict

from agnews import scale_options, scale_project

from labelgraph.agents.human import SimulatedHuman
from labelgraph.session.run import Project, Run

os.environ.setdefault("LABELGRAPH_EMBEDDING", "minilm")  # as lanes_scale.py: the figures there are MiniLM's


class Stepper:
    """The run advanced in a thread, as the service does: one step at a time, again while answers wait to be
    committed; ``kick`` after answers starts one unless one runs (checked under one lock, as the service does).
    A step takes a batch answered while it worked and goes on, so one step may hold several rounds: each round's
    nodes are kept apart, a round starting where the graph takes the answers (``human_review``)."""

    def __init__(self, run: Run):
        self.run, self.lock, self.worker = run, threading.Lock(), None
        self.rounds: list[dict[str, float]] = []
        self.failed: list[BaseException] = []

    def kick(self) -> None:
        with self.lock:
            if self.worker is None:
                self.worker = threading.Thread(target=self._work)
                self.worker.start()

    def busy(self) -> bool:
        with self.lock:
            return self.worker is not None

    def _work(self) -> None:
        try:
            while True:
                status = self._step()
                with self.lock:
                    if not (status.phase == "paused" and self.run.answers_to_commit()):
                        self.worker = None
                        return
        except BaseException as error:
            self.failed.append(error)
            with self.lock:
                self.worker = None

    def _step(self):
        last = time.perf_counter()

        def on_update(node: str, update: dict) -> None:
            nonlocal last
            now = time.perf_counter()
            if node == "human_review" or not self.rounds:
                self.rounds.append({})
            self.rounds[-1][node] = self.rounds[-1].get(node, 0.0) + now - last
            last = now

        return self.run.step(on_update)


def opened(run: Run, stepper: Stepper) -> list:
    """The next batch as soon as it opens; empty once the run steps no more without one."""
    while True:
        batch = run.pending_reviews()
        if batch or not stepper.busy():
            return batch or run.pending_reviews()
        time.sleep(0.02)


def main() -> None:
    args = scale_options(__doc__.splitlines()[0], rounds=8, think=30.0)
    with scale_project(args, "latency") as (config, labels):
        started = time.perf_counter()
        run = Project(config).start()
        created = time.perf_counter() - started
        human = SimulatedHuman(run.gold, labels, seed=0)
        stepper = Stepper(run)
        first = time.perf_counter()
        stepper.kick()
        waits: list[float] = []
        answering: list[float] = []  # how long each answer call took: the round's writes share its store
        handed = first
        while batch := opened(run, stepper):
            waits.append(time.perf_counter() - handed)
            print(f"round {len(waits)}: {len(batch)} items open {waits[-1]:.1f} s after the answers", flush=True)
            for item_id, label in human.answer(batch).items():  # one at a time, spread over the thinking
                time.sleep(args.think / len(batch))
                started = time.perf_counter()
                run.answer({item_id: label}, reviewer="simulated")
                answering.append(time.perf_counter() - started)
            handed = time.perf_counter()
            stepper.kick()
        if stepper.failed:
            raise stepper.failed[0]
        run.close()
    print(f"{'round':>5} {'s':>6}  nodes (s)")
    for number, nodes in enumerate(stepper.rounds, start=1):
        print(f"{number:5d} {sum(nodes.values()):6.1f}  " + "  ".join(f"{k} {v:.1f}" for k, v in nodes.items()))
    later = slice(1, None) if len(waits) > 1 else slice(None)
    rounds = stepper.rounds[1:-1] or stepper.rounds  # the first is the run's start, the last ends the run
    by_node: dict[str, list[float]] = defaultdict(list)
    for seconds in rounds:
        for node, value in seconds.items():
            by_node[node].append(value)
    figures = {
        "pool": args.pool,
        "rounds": len(waits),
        "think_s": args.think,
        "create_s": round(created, 1),
        "first_batch_s": round(waits[0], 1),
        "round_s_median": round(statistics.median(sum(nodes.values()) for nodes in rounds), 2),
        "wait_s_median": round(statistics.median(waits[later]), 2),
        "wait_s_max": round(max(waits[later]), 2),
        "answer_s_median": round(statistics.median(answering), 3),
        "answer_s_max": round(max(answering), 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "node_s_median": {node: round(statistics.median(values), 2) for node, values in by_node.items()},
    }
    for key, value in figures.items():
        print(f"{key:>16}: {value}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
