"""Command start-up: ``labelgraph --help``, ``status`` and ``export`` on a tiny run folder, each a new process.

    python benchmarks/startup.py [--repeats 5]

Makes a 30-text project from the example data in a temporary folder and runs it to its first pause (that
embeds once, untimed). Then each command runs once untimed (a warm file cache) and ``--repeats`` times timed;
the median and the range are reported, with the heavy modules each command imported (``-X importtime``).
Goal: ``status`` and ``export`` under 1.5 s, importing none of torch, sentence-transformers and chromadb.
Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LABELGRAPH_EMBEDDING", "minilm")  # measured on MiniLM, as its figures were

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "movie_reviews"
HEAVY = ("torch", "sentence_transformers", "transformers", "chromadb", "sklearn", "scipy", "matplotlib")
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1", "LABELGRAPH_PROGRESS": "off"}


def labelgraph(*args: str, importtime: bool = False) -> subprocess.CompletedProcess[str]:
    flags = ["-X", "importtime"] if importtime else []
    done = subprocess.run(
        [sys.executable, *flags, "-m", "labelgraph.cli", *args],
        capture_output=True,
        text=True,
        env=ENV,
        cwd=ROOT,  # python -m puts the working folder first on the path: this checkout, whatever is installed
        timeout=600,
    )
    if done.returncode != 0:
        raise SystemExit(f"labelgraph {' '.join(args)} failed:\n{done.stderr}")
    return done


def make_run(folder: Path) -> Path:
    """A 30-text project with 4 seed labels, run to its first pause."""
    lines = (EXAMPLE / "pool.jsonl").read_text(encoding="utf-8").splitlines()
    (folder / "pool.jsonl").write_text("\n".join(lines[:30]) + "\n", encoding="utf-8")
    seeds = (EXAMPLE / "seed.jsonl").read_text(encoding="utf-8").splitlines()
    (folder / "seed.jsonl").write_text("\n".join(seeds[:4]) + "\n", encoding="utf-8")
    (folder / "project.yaml").write_text(
        "name: startup\npool: pool.jsonl\nseed: seed.jsonl\nlabels:\n"
        "  positive: the reviewer likes the film\n  negative: the reviewer dislikes the film\n"
        "batch_size: 5\nbudget: 10\nmax_rounds: 2\nrun_dir: run\n",
        encoding="utf-8",
    )
    labelgraph("run", str(folder / "project.yaml"))
    return folder / "run"


def heavy_imports(args: list[str]) -> list[str]:
    """The heavy top-level modules a command imports."""
    stderr = labelgraph(*args, importtime=True).stderr
    names = {line.rsplit("|", 1)[-1].strip() for line in stderr.splitlines() if line.startswith("import time:")}
    return [name for name in HEAVY if name in names]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        run = make_run(folder)
        commands = {
            "--help": ["--help"],
            "status": ["status", str(run)],
            "export": ["export", str(run), "-o", str(folder / "labels.jsonl")],
        }
        figures: dict[str, dict[str, object]] = {}
        for name, command in commands.items():
            labelgraph(*command)  # warm-up: the file cache, .pyc files
            seconds = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                labelgraph(*command)
                seconds.append(time.perf_counter() - start)
            figures[name] = {
                "median_s": round(statistics.median(seconds), 3),
                "min_s": round(min(seconds), 3),
                "max_s": round(max(seconds), 3),
                "heavy_imports": heavy_imports(command),
            }

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    print(
        f"command start-up, {args.repeats} runs each after a warm-up (load average {load:.2f}, {os.cpu_count()} cpus)"
    )
    for name, row in figures.items():
        heavy = ", ".join(row["heavy_imports"]) or "none"  # type: ignore[arg-type]
        print(
            f"  labelgraph {name:<7} median {row['median_s']:6.2f} s  ({row['min_s']:.2f}-{row['max_s']:.2f})"
            f"   heavy imports: {heavy}"
        )
    goal = all(figures[name]["median_s"] < 1.5 for name in ("status", "export"))  # type: ignore[operator]
    print(f"  goal (status and export under 1.5 s): {'met' if goal else 'missed'}")
    print(json.dumps({"repeats": args.repeats, "load_average": load, "cpus": os.cpu_count(), **figures}))


if __name__ == "__main__":
    main()
