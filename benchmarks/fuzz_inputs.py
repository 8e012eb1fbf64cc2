"""The fuzz suite, long form: thousands of generated hostile inputs, counted by outcome.

    python benchmarks/fuzz_inputs.py [--cases 3000] [--seed 1] [--timeout 10] [--shallow] [--show 10]

Families (tests/fuzz_cases.py): project files (hostile settings, YAML bombs, bytes, non-files), data files (pool,
seed, test, answers), damaged run folders. A run folder that opens is then read as the CLI would: status and
export through ``Run.open`` (with a hash embedder, so no model loads), unless ``--shallow``. Prints figures by
family and the first problems, and ends with one JSON line (cases, tracebacks, hangs, wrongly_accepted, ...).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from contextlib import closing
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests package: the shared generator

from tests.fuzz_cases import Outcome, attempt, generate, template_run, write_inputs

os.environ.setdefault("LABELGRAPH_EMBEDDING", "minilm")  # measured on MiniLM, as its figures were


def real_template(folder: Path) -> Path:
    """A run folder paused for review, made by the product itself (every SQLite file, a Chroma memory)."""
    from labelgraph.session.run import Project

    write_inputs(folder)
    run = Project.from_yaml(folder / "project.yaml").start()
    run.step()
    run.close()
    for path in (folder / "run").rglob("*.sqlite*"):
        if path.suffix in {".sqlite", ".sqlite3"}:  # everything into the main file: the damage lands on it
            with closing(sqlite3.connect(path)) as db:
                db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return folder / "run"


def status_and_export(run_path: Path) -> list[str]:
    """What ``labelgraph status`` and ``labelgraph export`` do with a run folder that opens."""
    from labelgraph.session.run import Run

    run = Run.open(run_path)
    try:
        run.status()
        run.export(run_path.parent / "out.jsonl")
    finally:
        run.close()
    return []


def report(outcomes: list[Outcome], seconds: float, show: int) -> dict[str, object]:
    by_family: dict[str, Counter[str]] = {}
    for outcome in outcomes:
        by_family.setdefault(outcome.case.family, Counter())[outcome.result] += 1
    print(f"{len(outcomes)} cases in {seconds:.1f} s")
    for family, counts in sorted(by_family.items()):
        print(f"  {family:8} {sum(counts.values()):5}  " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    problems = [o for o in outcomes if o.result not in {"accepted", "refused"}]
    for outcome in problems[:show]:
        detail = outcome.detail.strip().replace("\n", " | ")[:400]
        print(f"- {outcome.result}: {outcome.case.family} {outcome.case.name}: {detail}")
    slowest = max(outcomes, key=lambda o: o.seconds)
    print(f"slowest case: {slowest.seconds:.2f} s ({slowest.case.family} {slowest.case.name})")
    counts = Counter(o.result for o in outcomes)
    return {
        "cases": len(outcomes),
        "tracebacks": counts["traceback"],
        "hangs": counts["hang"],
        "wrongly_accepted": counts["wrongly_accepted"],
        "refused": counts["refused"],
        "accepted": counts["accepted"],
        "seconds": round(seconds, 1),
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds before a case counts as a hang")
    parser.add_argument("--shallow", action="store_true", help="only open damaged run folders (no status/export)")
    parser.add_argument("--show", type=int, default=10, help="problems to print")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        root = Path(tmp)
        template = template_run(root / "template") if args.shallow else real_template(root / "template")
        started = time.perf_counter()
        cases = generate(args.cases, args.seed, root / "cases", template, None if args.shallow else status_and_export)
        outcomes = [attempt(case, args.timeout) for case in cases]
        summary = report(outcomes, time.perf_counter() - started, args.show)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
