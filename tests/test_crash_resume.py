"""A run killed (SIGKILL) inside any node loses no label, commits none twice, and resumes in a new process
to exactly the export of an uninterrupted run."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest
import yaml

from tests.conftest import EXAMPLE, LABELS, ROOT, cli_env, read_jsonl, run_cli, write_jsonl

RUNNER = ROOT / "tests" / "crash_runner.py"


def runner(project, out, kill: str | None = None) -> subprocess.CompletedProcess[str]:
    args = [sys.executable, str(RUNNER), str(project), str(EXAMPLE / "gold.jsonl"), str(out)]
    return subprocess.run(args + ([kill] if kill else []), capture_output=True, text=True, env=cli_env(), timeout=300)


def write_project(folder) -> None:
    """A small project: 60 pool texts, 6 seeds, 40 test texts; two people-rounds fit the budget."""
    write_jsonl(folder / "pool.jsonl", read_jsonl(EXAMPLE / "pool.jsonl")[:60])
    write_jsonl(folder / "seed.jsonl", read_jsonl(EXAMPLE / "seed.jsonl")[:6])
    write_jsonl(folder / "test.jsonl", read_jsonl(EXAMPLE / "test.jsonl")[:40])
    config = {
        "name": "crash",
        "pool": "pool.jsonl",
        "seed": "seed.jsonl",
        "test": "test.jsonl",
        "labels": LABELS,
        "batch_size": 8,
        "budget": 16,
        "max_rounds": 4,
        "run_dir": "run",
        "quality": {"target_accuracy": 0.8},
        "critic": {"min_checks": 6},
    }
    (folder / "project.yaml").write_text(yaml.safe_dump(config))


@pytest.fixture(scope="module")
def expected(tmp_path_factory):
    """The export of an uninterrupted run, made the same way."""
    folder = tmp_path_factory.mktemp("reference")
    write_project(folder)
    done = runner(folder / "project.yaml", folder / "labels.jsonl")
    assert done.returncode == 0, done.stderr
    return read_jsonl(folder / "labels.jsonl")


INSIDE = ["select:2", "draws:2", "annotate:2", "critique:2", "human_review:2", "commit:2", "train:2"]
# Every boundary: the hook counts a checkpoint after any saved write of the node since the last checkpoint
# (looking at the last write only missed the boundaries after prepare and critique, and under load some others).
BETWEEN = ["after:prepare:1", "after:commit:1"] + [
    f"after:{node}:2" for node in ("select", "present", "generate", "annotate", "critique", "human_review")
]


@pytest.mark.parametrize("kill", INSIDE + BETWEEN + ["after:train:1"])
def test_killed_run_resumes_to_the_same_labels(expected, kill, tmp_path):
    write_project(tmp_path)
    killed = runner(tmp_path / "project.yaml", tmp_path / "labels.jsonl", kill)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not (tmp_path / "labels.jsonl").exists()

    status = run_cli("status", tmp_path / "project.yaml", "--json")
    assert status.returncode == 0, status.stderr  # the run folder reads back after the kill
    assert json.loads(status.stdout)["phase"] in {"interrupted", "paused"}  # never "done", nor "running" unrun

    resumed = runner(tmp_path / "project.yaml", tmp_path / "labels.jsonl")
    assert resumed.returncode == 0, resumed.stderr
    got = read_jsonl(tmp_path / "labels.jsonl")
    assert len({row["id"] for row in got}) == len(got)  # nothing committed twice
    assert got == expected
