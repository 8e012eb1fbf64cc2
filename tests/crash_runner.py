"""Run a project to the end with a simulated human, optionally SIGKILLing this process inside one node.

    python tests/crash_runner.py PROJECT GOLD.jsonl OUT.jsonl [NODE:N]

With NODE:N the process kills itself (SIGKILL: no cleanup, no flush) the Nth time the work inside that
node has been done: after the side effect and before LangGraph can save the node's checkpoint.
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


def main() -> None:
    project, gold_path, out = sys.argv[1:4]
    if len(sys.argv) > 4:
        node, nth = sys.argv[4].split(":")
        import labelgraph.agents.annotator as annotator
        import labelgraph.agents.critic as critic
        import labelgraph.agents.human as human
        import labelgraph.agents.llm_annotator as llm_annotator
        import labelgraph.graphs.learning as learning
        import labelgraph.memory.store as store
        import labelgraph.strategies.hybrid as hybrid

        owner, name = {
            "select": (hybrid.Hybrid, "select"),
            "annotate": (annotator.EmbeddedAnnotator, "annotate"),
            "llm_annotate": (llm_annotator.LLMAnnotator, "annotate"),
            "critique": (critic.EmbeddedCritic, "review"),
            "human_review": (human, "interrupt"),  # returns the answers on resume, then dies
            "commit": (store.Memory, "add"),  # dies after the memory write, before the checkpoint
            "train": (learning, "evaluate"),
        }[node]
        kill_after(owner, name, int(nth))

    from labelgraph.agents.human import SimulatedHuman
    from labelgraph.run import Project

    gold = {row["id"]: row["label"] for row in map(json.loads, Path(gold_path).read_text().splitlines())}
    run = Project.from_yaml(project).start()
    run.run(SimulatedHuman(gold, run.config.label_names, noise=0.1, seed=3))
    run.export(out)


if __name__ == "__main__":
    main()
