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
    assert "round 1  select: 120 texts for the machine, 10 for you" in first.stdout
    asked = re.search(r"present: (\d+) for you \(([^)]*)\), open for answers\n", first.stdout)
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
    assert counts["accepted"] == 0 and following["checks"] <= 20
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
    from labelgraph.cli.templates import PROJECT_TEMPLATE

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
    assert "1 item waits for review (round 1). Answer it with" in lines  # one item, not "1 items wait"
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


def fill_sheet(sheet: Path, labels: dict[str, str]) -> list[dict[str, str]]:
    """Fill the label cells of a --pending sheet as a spreadsheet would; the rows read back."""
    with sheet.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    with sheet.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({**row, "label": labels.get(row["id"], row["label"])} for row in rows)
    return rows


def test_a_sheet_is_given_again_across_a_partial_resume(make_project, gold, tmp_path):
    """Fill 9 rows of 10 (one 'skip', stray spaces), read it back, resume: nothing is lost and nothing is taken yet;
    fill the last row, read the same sheet back (it used to fail: 'item is not pending review'), resume: all 10
    are committed; read it back once more: every row counts as given before."""
    from tests.conftest import invoke_cli

    project = make_project()
    assert invoke_cli("run", project).exit_code == 0
    sheet = tmp_path / "todo.csv"
    assert invoke_cli("review", project, "--pending", sheet).exit_code == 0
    ids = [row["id"] for row in fill_sheet(sheet, {})]
    run_dir = tmp_path / "run"
    first = {i: f"  {gold[i]} " for i in ids[:9]} | {ids[8]: "Skip"}  # a spreadsheet's spaces; skip sets aside
    fill_sheet(sheet, first)
    read = invoke_cli("review", project, "--answers", sheet)
    assert read.exit_code == 0, read.stderr
    assert read.stdout.strip() == (
        f"recorded 9 answers; 1 still waits: fill in its label and give the file again (or  labelgraph review "
        f"{run_dir}), then  labelgraph resume {run_dir}"
    )
    resumed = invoke_cli("resume", project)
    assert resumed.exit_code == 0 and "9 answered, 1 item waits for review (round 1)" in resumed.stdout
    status = json.loads(invoke_cli("status", project, "--json").stdout)
    assert status["answered"] == ids[:9] and status["pending"] == ids[9:] and status["human_labels"] == 0
    text = invoke_cli("status", project).stdout
    assert f"answered, waiting for resume (9): {', '.join(ids[:9])}" in text

    fill_sheet(sheet, {ids[9]: gold[ids[9]]})
    again = invoke_cli("review", project, "--answers", sheet)
    assert again.exit_code == 0, again.stderr
    assert again.stdout.strip() == (
        f"recorded 1 answer (9 given before, unchanged); continue with  labelgraph resume {run_dir}"
    )
    resumed = invoke_cli("resume", project)
    assert resumed.exit_code == 0, resumed.stderr
    # what the student learnt from, and what the machine lane did although select gave it no new text
    assert "  train: student refit on 15 labels, all from people (and seeds), test macro-F1 " in resumed.stdout
    assert (
        "  annotate: the machine labelled 110 again "
        "(the embedded annotator labels every text anew each round, from people's labels so far)\n" in resumed.stdout
    )
    assert re.search(
        r"round 2  select: 0 texts for the machine, 10 for you\n  present: 10 for you \([^)]*\)", resumed.stdout
    )
    status = json.loads(invoke_cli("status", project, "--json").stdout)
    assert status["round"] == 2 and status["human_labels"] == 9 and status["counts"]["set_aside"] == 1
    lines = invoke_cli("status", project).stdout.splitlines()  # coverage and "vouched for" said; a row a round
    assert (
        "  (coverage: the share of the pool's texts whose label the run vouches for: a person's answer, a seed label "
        "or an accepted machine label; proposals are not counted)"
    ) in lines
    assert (
        "  (vouched for: seed + human + accepted, the labels the run stands behind; proposed: the machine's guesses, "
        "exported as such)"
    ) in lines
    header = lines.index("rounds:") + 1
    assert lines[header].split() == ["round", "answered", "human", "labels", "machine", "labelled", "accepted",
                                     "proposed", "coverage", "accepted:", "est.", "right", "test",
                                     "macro-F1"]  # fmt: skip
    first = status["history"][0]
    assert lines[header + 1].split()[:7] == ["1", "9", "9", "120", str(first["accepted"]), str(first["proposed"]),
                                             f"{first['coverage']:.1%}"]  # fmt: skip
    export = tmp_path / "labels.jsonl"
    assert invoke_cli("export", project, "-o", export).exit_code == 0
    exported = {row["id"]: row for row in read_jsonl(export)}
    assert all(exported[i]["label"] == gold[i] and exported[i]["status"] == "human" for i in ids if i != ids[8])
    assert ids[8] not in exported

    last = invoke_cli("review", project, "--answers", sheet)  # the whole sheet once more, after the commit
    assert last.exit_code == 0, last.stderr
    assert last.stdout.startswith("recorded 0 answers (10 given before, unchanged); 10 still wait, 10 not in this file")


def test_answers_that_are_no_answers_are_line_errors(make_project, tmp_path):
    """In JSONL each row is an explicit answer: an empty label, or a seed's id, is refused naming its line (they
    passed with exit 0: 'recorded 0 answers', '1 given before, unchanged'); nothing is recorded."""
    from tests.conftest import invoke_cli

    project = make_project()
    assert invoke_cli("run", project).exit_code == 0
    pending = json.loads(invoke_cli("status", project, "--json").stdout)["pending"]
    seed = read_jsonl(tmp_path / "seed.jsonl")[0]
    cases = {
        "empty.jsonl": ([{"id": pending[0], "label": "positive"}, {"id": pending[1], "label": ""}],
                        "empty.jsonl, line 2, field 'label': empty label: give one of the project's labels, or null to "
                        "set the item aside"),
        "seed.jsonl": ([{"id": pending[0], "label": "positive"}, {"id": seed["id"], "label": seed["label"]}],
                       f"seed.jsonl, line 2: item {seed['id']!r} is a seed label ({seed['label']!r}), not an item "
                       "asked for review; change a seed's label with --correct or 'labelgraph relabel'"),
    }  # fmt: skip
    (tmp_path / "answers").mkdir()
    for name, (rows, message) in cases.items():
        refused = invoke_cli("review", project, "--answers", write_jsonl(tmp_path / "answers" / name, rows))
        assert refused.exit_code == 2 and refused.stderr.strip() == f"error: {tmp_path / 'answers'}/{message}"
    assert json.loads(invoke_cli("status", project, "--json").stdout)["answered"] == []


def test_printed_commands_are_ones_a_new_shell_can_run(tmp_path, monkeypatch):
    """After make run the printed commands said a bare labelgraph, which a new shell (no venv active) does not
    find: they now say the path the command was started by, unless that name finds it."""
    from labelgraph.cli.console import command_name

    script = tmp_path / "venv" / "bin" / "labelgraph"
    script.parent.mkdir(parents=True)
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.setattr(sys, "argv", ["venv/bin/labelgraph", "run"])
    assert command_name() == "venv/bin/labelgraph"
    monkeypatch.setenv("PATH", f"{script.parent}:/usr/bin:/bin")  # activated: the name finds it
    assert command_name() == "labelgraph"
    monkeypatch.setattr(sys, "argv", ["labelgraph", "run"])  # found on PATH by the shell
    assert command_name() == "labelgraph"

    from tests.service_helpers import console_script

    installed = console_script("labelgraph")  # this checkout's .venv/bin/labelgraph, as make run starts it
    env = {**cli_env(), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([installed, "init", "p.yaml"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"wrote p.yaml: set 'pool' and 'labels', then run  {installed} run p.yaml"


def test_accepted_labels_going_back_to_proposed_are_explained():
    from labelgraph.cli.app import dropped

    assert dropped(150, 150) == dropped(None, 3) == dropped(3, 7) == ""
    assert dropped(150, 120) == (
        "\n  (30 accepted last round went back to proposed: each round tests the sets again with every answer so far, "
        "at its own share of the error level, and accepts the largest that passes)"
    )


def test_the_public_names_are_the_package_s_own_and_import_stays_light():
    """Exported models' READMEs say labelgraph.load_model(FOLDER): it raised AttributeError. The README's
    ``from labelgraph import Project`` and the errors come from the package too, loaded at first use."""
    code = (
        "import sys, labelgraph; heavy = {'torch', 'sentence_transformers', 'numpy'} & set(sys.modules); "
        "from labelgraph import load_model, Project, Run, RunNotFound, LabelgraphError; "
        "from labelgraph.student.folder import load_model as real; import labelgraph.session.run as run; "
        "import labelgraph.errors as errors; "
        "print(sorted(heavy), load_model is real, Project is run.Project, Run is run.Run, "
        "RunNotFound is errors.RunNotFound, issubclass(RunNotFound, LabelgraphError), "
        "all(name in dir(labelgraph) for name in labelgraph.__all__))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=cli_env(), timeout=120)
    assert done.stdout.strip() == "[] True True True True True True", done.stderr


def test_an_unknown_name_is_an_attribute_error_and_submodules_still_import():
    import labelgraph

    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        labelgraph.Nope  # noqa: B018
    from labelgraph import progress  # a submodule, not a public name

    assert progress.__name__ == "labelgraph.progress"


def test_train_says_what_the_student_learnt_from(make_project, gold, tmp_path):
    """'student refit on 120 labels' while 10 were people's and none accepted: it now says which."""
    from tests.conftest import invoke_cli

    project = make_project(student_learns_from="all")
    assert invoke_cli("run", project).exit_code == 0
    pending = json.loads(invoke_cli("status", project, "--json").stdout)["pending"]
    answers = write_jsonl(tmp_path / "answers.jsonl", [{"id": i, "label": gold[i]} for i in pending])
    assert invoke_cli("review", project, "--answers", answers).exit_code == 0
    resumed = invoke_cli("resume", project)
    line = next(line for line in resumed.stdout.splitlines() if line.startswith("  train: "))
    found = re.fullmatch(
        r"  train: student refit on (\d+) labels: 16 from people \(and seeds\), (\d+) machine labels weighted by "
        r"p_correct, proposals too \(student_learns_from: all\), test macro-F1 [\d.]+",
        line,
    )
    assert found and int(found.group(1)) == 16 + int(found.group(2)) and int(found.group(2)) > 0, line
