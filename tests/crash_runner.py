"""Run a project to the end with a simulated human, optionally SIGKILLing this process inside one node.

    python tests/crash_runner.py PROJECT GOLD.jsonl OUT.jsonl [NODE:N]

With NODE:N the process kills itself (SIGKILL: no cleanup, no flush) the Nth time the work inside that
node has been done: after the side effect and before LangGraph can save the node's checkpoint.
With after:NODE:N it dies at the Nth boundary after that node: the node's writes are saved, the checkpoint
that follows them is not.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path


def kill_after(owner: object, name: str, nth: int) -> None:
    """Wrap ``owner.name`` so that its ``nth`` call does its work, then kills the process."""
    real = getattr(owner, name)
    calls = {"n": 0}

    def wrapped(*args, **kwargs):
        result = real(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] == nth:
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    setattr(owner, name, wrapped)


def kill_at_boundary(node: str, nth: int) -> None:
    """Die the ``nth`` time a checkpoint is about to be saved right after ``node``'s writes were saved."""
    from langgraph.checkpoint.sqlite import SqliteSaver

    real_writes, real_put = SqliteSaver.put_writes, SqliteSaver.put
    seen: dict = {"paths": [], "n": 0}  # task paths with writes saved since the last checkpoint (may interleave)

    def put_writes(self, config, writes, task_id, task_path=""):
        result = real_writes(self, config, writes, task_id, task_path)
        seen["paths"].append(str(task_path))
        return result

    def put(self, config, checkpoint, metadata, new_versions):
        if any(node in path for path in seen["paths"]):
            seen["n"] += 1
            if seen["n"] == nth:
                os.kill(os.getpid(), signal.SIGKILL)
        seen["paths"] = []
        return real_put(self, config, checkpoint, metadata, new_versions)

    SqliteSaver.put_writes, SqliteSaver.put = put_writes, put


def main() -> None:
    project, gold_path, out = sys.argv[1:4]
    if len(sys.argv) > 4 and sys.argv[4].startswith("after:"):
        _, node, nth = sys.argv[4].split(":")
        kill_at_boundary(node, int(nth))
    elif len(sys.argv) > 4:
        node, nth = sys.argv[4].split(":")
        import labelgraph.agents.llm_annotator as llm_annotator
        import labelgraph.graphs.review as review
        import labelgraph.memory.store as store
        import labelgraph.stores.labels as labelstore
        import labelgraph.strategies.hybrid as hybrid

        owner, name = {
            "select": (hybrid.Hybrid, "select"),
            "draws": (labelstore.LabelStore, "put_draws"),  # select's write of the batch's draws
            "annotate": (labelstore.LabelStore, "put_machine"),  # after the store write, before the checkpoint
            "llm_annotate": (llm_annotator.LLMAnnotator, "annotate"),
            "critique": (labelstore.LabelStore, "put_verdicts"),  # critique's write (once a round)
            "human_review": (review, "interrupt"),  # returns the answers on resume, then dies
            "commit": (store.Memory, "add"),  # dies after the store and memory writes, before the checkpoint
            "train": (labelstore.LabelStore, "put_meta"),
        }[node]
        kill_after(owner, name, int(nth))

    from labelgraph.agents.human import SimulatedHuman
    from labelgraph.session.run import Project

    gold = {row["id"]: row["label"] for row in map(json.loads, Path(gold_path).read_text().splitlines())}
    run = Project.from_yaml(project).start()
    run.run(SimulatedHuman(gold, run.config.label_names, noise=0.1, seed=3))
    run.export(out)


if __name__ == "__main__":
    main()
