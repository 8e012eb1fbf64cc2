"""The command line as a user meets it: a new process per command, real files, exit codes and messages."""

from __future__ import annotations

import csv
import json

import yaml

from tests.conftest import read_jsonl, run_cli, write_jsonl


def test_run_pause_review_resume_export(make_project, gold, tmp_path):
    project = make_project(budget=20)
    first = run_cli("run", project)
    assert first.returncode == 0, first.stderr
    assert "10 items wait for review" in first.stdout

    status = json.loads(run_cli("status", project, "--json").stdout)
    assert status["phase"] == "paused" and len(status["pending"]) == 10
    run_dir = status["run"]

    answers = write_jsonl(tmp_path / "answers.jsonl", [{"id": i, "label": gold[i]} for i in status["pending"]])
    reviewed = run_cli("review", run_dir, "--answers", answers)
    assert reviewed.returncode == 0, reviewed.stderr
    assert "recorded 10 answers" in reviewed.stdout

    while json.loads(run_cli("status", run_dir, "--json").stdout)["phase"] != "done":
        resumed = run_cli("resume", run_dir)
        assert resumed.returncode == 0, resumed.stderr
        pending = json.loads(run_cli("status", run_dir, "--json").stdout)["pending"]
        write_jsonl(answers, [{"id": i, "label": gold[i]} for i in pending])
        if pending:
            assert run_cli("review", run_dir, "--answers", answers).returncode == 0

    final = json.loads(run_cli("status", run_dir, "--json").stdout)
    assert final["human_labels"] == 20 and final["stop_reason"].startswith("human-label budget")

    out_jsonl, out_csv = tmp_path / "labels.jsonl", tmp_path / "labels.csv"
    assert run_cli("export", run_dir, "-o", out_jsonl).returncode == 0
    assert run_cli("export", run_dir, "-o", out_csv).returncode == 0
    rows = read_jsonl(out_jsonl)
    assert len(rows) == final["labels"]
    assert {row["source"] for row in rows} >= {"seed", "human"}
    with out_csv.open(newline="") as handle:
        assert len(list(csv.DictReader(handle))) == len(rows)


def test_init_writes_a_valid_project(tmp_path):
    result = run_cli("init", "p.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "p.yaml").read_text()
    assert "pool:" in text and "labels:" in text and "#" in text
    from labelgraph.config import ProjectConfig

    ProjectConfig.model_validate(yaml.safe_load(text))  # valid as written
    for name in ProjectConfig.model_fields:  # and every setting is shown, if only commented out
        assert f"\n{name}:" in text or f"\n# {name}:" in text, name
    again = run_cli("init", "p.yaml", cwd=tmp_path)
    assert again.returncode == 2 and "exists already" in again.stderr


def test_status_of_a_folder_that_is_no_run(tmp_path):
    result = run_cli("status", tmp_path)
    assert result.returncode == 2
    assert "not a run folder" in result.stderr and "Traceback" not in result.stderr
