"""The quality target of a finished eval run, set by set, against gold: where its checks sit and how right its
estimate is.

    python benchmarks/reassess_run.py OUT/runs/hybrid-s1 [--work /tmp]

Copies the run folder (the original is not touched), opens it and re-assesses its machine labels at the end, with
every answer given (the critic's ``assess``). For each candidate set, most trusted first: its size, the blind
checks inside it and the wrong ones among them, its true accuracy against the run's gold labels, and the estimate
and pointwise lower bound the run reports. A set whose estimate stays high while its truth falls, with no new
checks, is the thin tail of docs/evals.md. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

import labelgraph.graphs.critique as critique
from labelgraph.run import Run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_folder", type=Path, help="an eval run (OUT/runs/NAME, holding run/)")
    parser.add_argument("--work", type=Path, default=None, help="where the copy goes (a temporary folder)")
    args = parser.parse_args()

    copy = Path(tempfile.mkdtemp(dir=args.work)) / args.run_folder.name
    shutil.copytree(args.run_folder, copy, ignore=shutil.ignore_patterns(".lock"))
    run = Run.open(copy / "run")
    seen: dict[str, Any] = {}
    decide = critique.decide

    def keep_inputs(p: np.ndarray, labels: list[str], **given: Any):
        seen.update(given, p=np.asarray(p))
        return decide(p, labels, **given)

    critique.decide = keep_inputs  # the critic's own call, its inputs kept
    last = run._values()["round"]
    assessment = critique.assess(run.context, last, answers_before=last + 1)
    gold = run.gold
    right = np.array([gold.get(m.id) == m.label for m in assessment.candidates])
    p, checked_p, checked_right = seen["p"], seen["checked_p"], seen["checked_right"]

    print(f"{args.run_folder}: round {last}, {len(p)} machine labels nobody checked, {len(checked_p)} blind checks")
    print(f"{'threshold':>10} {'labels':>6} {'checks':>6} {'wrong':>5} {'true':>6} {'estimate':>8} {'lower':>6}")
    rows = []
    for point in assessment.estimate.curve:
        members, inside = p >= point.threshold, checked_p >= point.threshold
        row = {
            "threshold": point.threshold,
            "labels": point.labels,
            "checks": int(inside.sum()),
            "wrong": int((~checked_right[inside]).sum()),
            "true": round(float(right[members].mean()), 4),
            "estimate": point.accuracy,
            "lower": point.lower,
        }
        rows.append(row)
        print(
            f"{row['threshold']:>10.4f} {row['labels']:>6} {row['checks']:>6} {row['wrong']:>5} "
            f"{row['true']:>6.3f} {row['estimate']:>8.3f} {row['lower']:>6.3f}"
        )
    accepted = assessment.accepted
    truth = round(float(right[accepted].mean()), 4) if accepted.any() else None
    estimate = assessment.estimate
    print(f"accepted {int(accepted.sum())}, {truth} right; estimate {estimate.accuracy} (lower {estimate.lower})")
    run.close()
    shutil.rmtree(copy.parent, ignore_errors=True)
    print(
        json.dumps(
            {
                "run": str(args.run_folder),
                "accepted": int(accepted.sum()),
                "accepted_true": truth,
                "estimate": estimate.accuracy,
                "lower": estimate.lower,
                "sets": rows,
            }
        )
    )


if __name__ == "__main__":
    main()
