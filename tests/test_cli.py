"""The command line as a user meets it: a new process per command, real files, exit codes and messages."""

from __future__ import annotations

import csv
import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from labelgraph.config import CriticSettings, ProjectConfig, QualitySettings
from tests.conftest import EXAMPLE, LABELS, cli_env, read_jsonl, run_cli, write_jsonl


def test_run_pause_review_resume_export(make_project, gold, tmp_path):
    project = make_project(budget=20)
    planned = run_cli("run", project, "--dry-run")
    assert planned.returncode == 0, planned.stderr
    assert "the machine lane annotates 120 texts" in planned.stdout and "in all: 0 calls" in planned.stdout
    assert not (tmp_path / "run").exists()  # a dry run runs nothing

    first = run_cli("run", project)
    assert first.returncode == 0, first.stderr
    assert "round 1  select: 120 texts for the machine, 10 picks for you" in first.stdout
    asked = re.search(r"critique: (\d+) for you \(([^)]*)\)", first.stdout)
    assert asked is not None, first.stdout
    kinds = dict(part.split(" ")[::-1] for part in asked.group(2).split(", "))
    assert int(asked.group(1)) == 10 == sum(map(int, kinds.values())) and set(kinds) <= {"fix", "audit", "explore"}
    assert "10 items wait for review" in first.stdout

    status = json.loads(run_cli("status", project, "--json").stdout)
    assert status["phase"] == "paused" and len(status["pending"]) == 10
    assert status["counts"]["proposed"] == 120 and status["machine_todo"] == 0  # the pool annotated in bulk
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
    assert "done: human-label budget spent" in resumed.stdout and "labelgraph export" in resumed.stdout

    final = json.loads(run_cli("status", run_dir, "--json").stdout)
    assert final["human_labels"] == 20 and final["stop_reason"].startswith("human-label budget")
    counts = final["counts"]
    assert counts["seed"] == 6 and counts["human"] == 20 and counts["set_aside"] == 0
    assert counts["accepted"] + counts["proposed"] == 120 - 20  # every other pool text has a machine label
    assert [h["human_labels"] for h in final["history"]] == [10, 20]
    text = run_cli("status", run_dir)
    assert text.returncode == 0, text.stderr
    assert "human labels: 20 of 20" in text.stdout and "phase: done" in text.stdout
    # 20 answers are too few to test any set at the default 95%: status names the set next in line
    following = final["estimate"]["next"]
    assert counts["accepted"] == 0 and following["checks"] < 20
    assert f"next: the top {following['labels']} machine labels" in text.stdout

    out_jsonl, out_csv = tmp_path / "labels.jsonl", tmp_path / "labels.csv"
    assert run_cli("export", run_dir, "-o", out_jsonl).returncode == 0
    assert run_cli("export", run_dir, "-o", out_csv).returncode == 0
    rows = read_jsonl(out_jsonl)
    assert len(rows) == 6 + 20 + 100  # proposals are exported too, marked as such
    assert len([row for row in rows if row["status"] != "proposed"]) == final["labels"]
    assert {row["source"] for row in rows} == {"seed", "human", "annotator"}
    assert all(row["label"] == gold[row["id"]] for row in rows if row["source"] == "human")
    summary = json.loads((tmp_path / "labels.jsonl.summary.json").read_text())
    assert summary["labels"] == len(rows) and summary["estimate"]["checks"] == final["estimate"]["checks"]
    with out_csv.open(newline="") as handle:
        assert [row["id"] for row in csv.DictReader(handle)] == [row["id"] for row in rows]


def template_sections(text: str) -> tuple[dict[str, list[str]], str]:
    """The settings ``labelgraph init`` shows inside its machine, quality and critic sections (commented out or
    not), and the template with those sections uncommented."""
    lines = text.splitlines()
    uncommented, shown = list(lines), {}
    for section in ("machine", "quality", "critic"):
        start = next(n for n, line in enumerate(lines) if re.match(rf"(# )?{section}:", line))
        uncommented[start], shown[section] = f"{section}:", []
        for n, line in enumerate(lines[start + 1 :], start=start + 1):
            if not re.match(r"(# {2,}| +)\w", line) and not re.match(r" +# \w", line):
                break
            shown[section].append(re.match(r"[# ]*(\w+):", line).group(1))
            uncommented[n] = "  " + re.sub(r"^[# ]*", "", line)
    return shown, "\n".join(uncommented)


def test_init_writes_a_valid_project(tmp_path):
    result = run_cli("init", "p.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "p.yaml").read_text()
    assert "pool:" in text and "labels:" in text and "#" in text

    ProjectConfig.model_validate(yaml.safe_load(text))  # valid as written
    for name, field in ProjectConfig.model_fields.items():  # and every setting is shown, if only commented out
        shown = getattr(field.validation_alias, "choices", [name])[0]  # by the name a project writes it
        assert f"\n{shown}:" in text or f"\n# {shown}:" in text, name
    for gone in ("min_confidence", "min_neighbour_agreement", "min_student_probability", "min_vote_share"):
        assert gone not in text  # the old critic's settings would fail validation
    # the lanes' settings shown (commented out or not) are valid once uncommented, and are the defaults
    shown, uncommented = template_sections(text)
    assert set(shown["critic"]) == set(CriticSettings.model_fields) and "per_round" in shown["machine"]
    config = ProjectConfig.model_validate(yaml.safe_load(uncommented))
    assert config.critic == CriticSettings() and config.quality == QualitySettings()
    again = run_cli("init", "p.yaml", cwd=tmp_path)
    assert again.returncode == 2 and "exists already" in again.stderr


def test_init_shows_every_setting_of_the_lanes(tmp_path):
    from labelgraph.templates import PROJECT_TEMPLATE

    shown, _ = template_sections(PROJECT_TEMPLATE)
    for section in ("machine", "quality", "critic"):
        expected = ProjectConfig.model_fields[section].annotation.model_fields
        assert set(expected) <= set(shown[section]), (section, sorted(set(expected) - set(shown[section])))


def test_status_of_a_folder_that_is_no_run(tmp_path):
    result = run_cli("status", tmp_path)
    assert result.returncode == 2
    assert "not a run folder" in result.stderr and "Traceback" not in result.stderr


def test_piped_output_keeps_commands_and_tables_whole(make_project, gold, tmp_path):
    """Into a log (stdout a pipe, no COLUMNS): nothing wraps at 80 columns, no table cell is cut short."""
    deep = "a-run-folder-with-a-long-name-" * 3 + "/run"
    project = make_project(batch_size=1, budget=2, max_rounds=3, run_dir=deep)
    env = {key: value for key, value in cli_env().items() if key != "COLUMNS"}

    def piped(*args):
        done = subprocess.run([sys.executable, "-m", "labelgraph.cli", *map(str, args)],
                              capture_output=True, text=True, env=env, timeout=300)  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout.splitlines()

    run_dir = tmp_path / deep
    lines = piped("run", project)
    assert "1 item waits for review (round 1). Answer them with" in lines  # one item, not "1 items wait"
    assert f"  labelgraph review {run_dir}" in lines and f"  labelgraph resume {run_dir}" in lines
    assert any(line.startswith(f"  labelgraph review {run_dir} --answers answers.jsonl   (one ") for line in lines)

    lines = piped("status", run_dir)
    assert max(map(len, lines)) > 80 and not any("…" in line for line in lines)
    assert any(line.startswith("pool: 120 texts ") and "set aside: 0" in line for line in lines), lines
    assert any("(provisional: accepted labels wait for the review's commit" in line for line in lines), lines
    table = lines.index(next(line for line in lines if line.startswith("label ")))
    assert lines[table].split() == ["label", "seed", "human", "accepted", "proposed", "vouched", "for", "accepted:",
                                    "est.", "right"]  # fmt: skip
    rows = {line.split()[0]: line.split()[1:6] for line in lines[table + 1 : table + 4]}
    assert set(rows) == {"positive", "negative", "all"}
    assert rows["all"] == ["6", "0", "0", "120", "6"]  # seeds, people's, accepted, proposed, vouched for
    assert [sum(int(rows[label][n]) for label in ("positive", "negative")) for n in range(5)] == [6, 0, 0, 120, 6]


def imported(*args) -> set[str]:
    """The top-level modules ``labelgraph ARGS`` imports (from ``python -X importtime``)."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "labelgraph.cli", *map(str, args)],
                          capture_output=True, text=True, env=cli_env(), timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}


@pytest.fixture(scope="module")
def paused_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("paused")
    write_jsonl(folder / "pool.jsonl", read_jsonl(EXAMPLE / "pool.jsonl")[:30])
    project = folder / "project.yaml"
    project.write_text(yaml.safe_dump({"name": "t", "pool": "pool.jsonl", "labels": LABELS, "batch_size": 5,
                                       "budget": 10, "run_dir": "run"}), encoding="utf-8")  # fmt: skip
    assert run_cli("run", project).returncode == 0
    return folder / "run"


def test_read_only_commands_open_no_vector_store(paused_run, tmp_path):
    for args in (["status", paused_run], ["export", paused_run, "-o", tmp_path / "l.jsonl"], ["--help"]):
        assert "chromadb" not in imported(*args), args


def test_read_only_commands_load_no_model(paused_run, tmp_path):
    for args in (["status", paused_run], ["export", paused_run, "-o", tmp_path / "l.jsonl"]):
        heavy = imported(*args) & {"torch", "sentence_transformers", "transformers", "sklearn", "scipy"}
        assert not heavy, (args, heavy)


def test_ctrl_c_says_interrupted_and_how_to_continue(make_project, tmp_path):
    """SIGINT mid-run: one line naming the resume command, exit 130, and status says interrupted, not running."""
    project = make_project()
    command = [sys.executable, "-m", "labelgraph.cli", "run", str(project)]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # a background job inherits SIGINT ignored
    )
    for line in process.stdout:  # the loop has started: its first node reported
        if line.startswith("round 1"):
            break
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert f"interrupted; continue with  labelgraph resume {tmp_path / 'run'}" in err and "Traceback" not in err
    status = json.loads(run_cli("status", project, "--json").stdout)
    assert status["phase"] == "interrupted"
    assert run_cli("resume", project).returncode == 0
    assert json.loads(run_cli("status", project, "--json").stdout)["phase"] in {"paused", "done"}


def test_pending_reviews_to_a_spreadsheet_and_back(make_project, gold, tmp_path):
    """review --pending writes the waiting items with their texts to fill in; --answers reads the same file
    back, blank labels staying unanswered; with --correct a changed answer not yet committed is replaced."""
    project = make_project()
    assert run_cli("run", project).returncode == 0
    sheet = tmp_path / "pending.csv"
    written = run_cli("review", project, "--pending", sheet)
    assert written.returncode == 0 and "wrote 10 items waiting" in written.stdout, written.stderr
    with sheet.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 10 and all(row["text"] and row["label"] == "" for row in rows)
    for row in rows:  # blind items carry no machine opinion; fixes show it
        assert (row["machine_label"] != "") == (row["kind"] == "fix") and row["candidates"]

    def fill(labels: dict[str, str]) -> None:
        with sheet.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows({**row, "label": labels.get(row["id"], "")} for row in rows)

    first = {row["id"]: gold[row["id"]] for row in rows[:4]}
    fill(first)
    read = run_cli("review", project, "--answers", sheet)
    assert read.returncode == 0 and "recorded 4 answers" in read.stdout, read.stderr
    wrong = next(iter(first))
    other = next(label for label in LABELS if label != first[wrong])
    fill({**first, wrong: other})
    refused = run_cli("review", project, "--answers", sheet)  # the first answer wins...
    assert refused.returncode == 2 and "already answered" in refused.stderr, refused.stderr
    again = run_cli("review", project, "--answers", sheet, "--correct")  # ...unless the file says it corrects
    assert again.returncode == 0 and "(3 given before, unchanged) (1 corrected)" in again.stdout, again.stderr
    status = json.loads(run_cli("status", project, "--json").stdout)
    assert sorted(status["answered"]) == sorted(first) and len(status["pending_items"]) == 6


def test_export_predictions_labels_every_pool_text(make_project, tmp_path):
    """Without a machine lane most of the pool has no label: --predictions gives each the student's."""
    project = make_project(annotator="none")
    assert run_cli("run", project).returncode == 0
    out = tmp_path / "all.jsonl"
    assert run_cli("export", project, "-o", out, "--predictions").returncode == 0
    rows = read_jsonl(out)
    predicted = [row for row in rows if row["status"] == "predicted"]
    assert len(predicted) == 120 and all(row["source"] == "student" and row["confidence"] for row in predicted)
    assert len(rows) == 6 + 120  # the seeds, and a prediction for every pool text nobody labelled yet
