"""Bad input: a clear message naming file, line and field; exit code 2; no traceback; nothing lost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from labelgraph.data import LabelRecord, read_answers, read_items, write_export
from labelgraph.errors import DataError
from tests.conftest import EXAMPLE, write_jsonl
from tests.conftest import invoke_cli as run_cli
from tests.conftest import run_cli as run_in_a_process


def within(seconds: float, call: Callable[[], Any]) -> Any:
    """``call()`` in a thread that must finish in ``seconds`` (a hang fails the test instead of blocking it)."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = call()
        except BaseException as error:  # handed back to the test
            outcome["error"] = error

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def fails_clearly(result, *fragments: str) -> None:
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr, result.exception)
    assert "Traceback" not in result.stderr + result.stdout
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr)


def edit_project(path, **changes):
    config = yaml.safe_load(path.read_text())
    config.update(changes)
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.parametrize(
    ("rows", "fragments"),
    [
        ([{"id": "a", "text": "fine"}, {"id": "b", "text": "  "}], ["pool.jsonl, line 2, field 'text'", "empty"]),
        ([{"id": "a", "text": "fine"}, {"id": "b"}], ["line 2, field 'text'"]),
        ([{"id": "a", "text": "one"}, {"id": "a", "text": "two"}], ["line 2, field 'id'", "duplicate id 'a'"]),
        ([{"id": "a", "text": "x" * 30_001}], ["line 1, field 'text'", "30,001 characters"]),
    ],
)
def test_malformed_pool(make_project, rows, fragments):
    project = make_project()
    write_jsonl(project.parent / "pool.jsonl", rows)
    fails_clearly(run_cli("run", project), *fragments)


def test_pool_not_utf8(make_project):
    project = make_project()
    (project.parent / "pool.jsonl").write_bytes(b'{"text": "ok"}\n{"text": "caf\xe9"}\n')
    fails_clearly(run_cli("run", project), "pool.jsonl, line 2", "not UTF-8")


def test_pool_not_json(make_project):
    project = make_project()
    (project.parent / "pool.jsonl").write_text('{"text": "ok"}\n{"text": \n')
    fails_clearly(run_cli("run", project), "pool.jsonl, line 2", "not valid JSON")


def test_empty_pool(make_project):
    project = make_project()
    (project.parent / "pool.jsonl").write_text("")
    fails_clearly(run_cli("run", project), "pool.jsonl", "no items")


def test_unknown_label_in_seed(make_project):
    project = make_project()
    write_jsonl(project.parent / "seed.jsonl", [{"text": "great", "label": "positive"}, {"text": "x", "label": "meh"}])
    fails_clearly(run_cli("run", project), "seed.jsonl, line 2, field 'label'", "unknown label 'meh'")


def test_csv_pool_works_and_bad_csv_is_named(make_project):
    project = make_project()
    (project.parent / "pool.csv").write_text("id,text\n1,a fine film\n2,a dull film\n3,\n")
    edit_project(project, pool="pool.csv", batch_size=1, budget=5)
    fails_clearly(run_cli("run", project), "pool.csv, line 4, field 'text'")


@pytest.mark.parametrize(
    ("changes", "fragments"),
    [
        ({"labels": ["only"]}, ["field 'labels'", "at least two labels"]),
        ({"budget": 5, "batch_size": 10}, ["budget (5) is smaller than one batch (10)"]),
        ({"batch_size": 0}, ["field 'batch_size'"]),
        ({"strategy": "psychic"}, ["unknown strategy 'psychic'"]),
        ({"colour": "blue"}, ["field 'colour'"]),
        ({"random_seed": -1}, ["field 'random_seed'", "greater than or equal to 0"]),
        ({"random_seed": 2**32}, ["field 'random_seed'", "less than or equal to 4294967295"]),
        ({"embedding_model": ""}, ["field 'embedding_model'", "at least 1 character"]),
        ({"llm": ""}, ["field 'llm.model'", "at least 1 character"]),
        ({"labels": [True, False]}, ["field 'labels'", "quote it ('yes')"]),
        ({"labels": ["a", "b", "a"]}, ["field 'labels'", "label 'a' is listed twice"]),
        ({"labels": {"a": ["x"], "b": ""}}, ["field 'labels'", "a label's description is a string"]),
        ({"labels": "positive negative"}, ["field 'labels'", "a list of names, or a mapping"]),
        ({"quality": {"target_accuracy": float("nan")}}, ["field 'quality.target_accuracy'", "finite number"]),
        ({"critic": {"cs": [0.0]}}, ["field 'critic.cs.0'", "greater than 0"]),
        ({"test": "a\0b"}, ["field 'test'", "NUL"]),
    ],
)
def test_invalid_project(make_project, changes, fragments):
    fails_clearly(
        run_cli("run", edit_project(make_project(), **changes)),
        "project.yaml" if "strategy" not in changes else "",
        *fragments,
    )


def test_project_errors_name_their_line(make_project):
    project = make_project()
    project.write_text(
        "name: t\npool: pool.jsonl\nlabels: [positive, negative]\nmax_round: 3\nbatch_size: ten\n"
        "critic:\n  min_confidence: 2\n"
    )
    fails_clearly(
        run_cli("run", project),
        "project.yaml, line 4: field 'max_round': unknown setting",
        "project.yaml, line 5: field 'batch_size'",
        "project.yaml, line 7: field 'critic.min_confidence'",
    )


def test_project_not_yaml(tmp_path):
    path = tmp_path / "project.yaml"
    path.write_text("name: x\nlabels: [a, b\n")
    fails_clearly(run_cli("run", path), "project.yaml", "line", "not valid YAML")


def test_bad_answers_lose_nothing(make_project, gold, tmp_path):
    project = make_project()
    assert run_cli("run", project).exit_code == 0
    pending = json.loads(run_cli("status", project, "--json").stdout)["pending"]
    good = write_jsonl(tmp_path / "good.jsonl", [{"id": i, "label": gold[i]} for i in pending[:3]])
    assert run_cli("review", project, "--answers", good).exit_code == 0
    grown = write_jsonl(tmp_path / "grown.jsonl", [{"id": i, "label": gold[i]} for i in pending[:4]])
    rerun = run_cli("review", project, "--answers", grown)  # the same file, one line longer: only the new one
    assert rerun.exit_code == 0 and "recorded 1 answer (3 given before, unchanged)" in rerun.stdout, rerun.stdout

    not_pending = write_jsonl(
        tmp_path / "a.jsonl", [{"id": pending[5], "label": "positive"}, {"id": "zzz", "label": "positive"}]
    )
    fails_clearly(run_cli("review", project, "--answers", not_pending), "a.jsonl, line 2", "'zzz' is not pending")
    unknown = write_jsonl(tmp_path / "b.jsonl", [{"id": pending[5], "label": "neutral"}])
    fails_clearly(run_cli("review", project, "--answers", unknown), "b.jsonl, line 1", "unknown label 'neutral'")
    other = {"positive": "negative", "negative": "positive"}  # a different answer for an answered item
    again = write_jsonl(tmp_path / "c.jsonl", [{"id": pending[0], "label": other[gold[pending[0]]]}])
    fails_clearly(run_cli("review", project, "--answers", again), "already answered")
    missing_field = write_jsonl(tmp_path / "d.jsonl", [{"id": pending[5]}])
    fails_clearly(run_cli("review", project, "--answers", missing_field), "d.jsonl, line 1, field 'label'")

    status = json.loads(run_cli("status", project, "--json").stdout)
    assert status["answered"] == pending[:4]  # the four good answers are kept, nothing else landed
    assert len(status["pending"]) == len(pending) - 4


def test_export_onto_a_folder_fails_clearly_and_leaves_nothing(make_project, tmp_path):
    project = make_project()
    assert run_cli("run", project).exit_code == 0
    folder = tmp_path / "out.jsonl"
    folder.mkdir()
    fails_clearly(run_cli("export", project, "-o", folder), str(folder))
    assert list(tmp_path.glob(".out.jsonl.tmp-*")) == []
    fails_clearly(run_cli("export", project, "-o", tmp_path / "labels.tsv"), "'.tsv': name a .jsonl or .csv file")


def test_csv_with_a_byte_order_mark_huge_cells_and_clashing_columns(tmp_path):
    from labelgraph.data import read_items
    from labelgraph.errors import DataError

    path = tmp_path / "pool.csv"  # as Excel's "CSV UTF-8" writes it, with columns named like our own flags
    note = "n" * 200_000  # beyond csv's default 128 KiB field limit
    path.write_text(f"\ufeffid,text,seed,synthetic,note\nr1,a fine film,0,yes,{note}\nr2,a dull film,,,\n")
    items = read_items(path)
    assert [item.id for item in items] == ["r1", "r2"]
    assert items[0].meta == {"columns": {"seed": "0", "synthetic": "yes", "note": note}}
    assert "seed" not in items[0].meta and "synthetic" not in items[0].meta
    path.write_text(f"id,text\nr1,{'x' * 200_000}\n")
    with pytest.raises(DataError, match=r"line 2, field 'text'.*200,000 characters"):
        read_items(path)


def test_a_typo_in_a_plugin_name_leaves_no_run_folder_to_block_the_fix(make_project):
    project = edit_project(make_project(), strategy="margn")
    fails_clearly(run_cli("run", project), "unknown strategy 'margn'")
    assert not (project.parent / "run").exists()
    edit_project(project, strategy="margin", tools=[{"path": "no_such_module:tool"}])
    fails_clearly(run_cli("run", project), "tool 'no_such_module:tool': cannot import 'no_such_module'")
    edit_project(project, tools=[])
    assert run_cli("run", project).exit_code == 0


def test_a_plugin_of_the_wrong_kind_is_one_line_before_the_run_folder(make_project):
    project = edit_project(make_project(), annotator="os:getcwd")  # imports fine, but takes no config
    fails_clearly(run_cli("run", project), "annotator 'os:getcwd' is neither an annotator")
    assert not (project.parent / "run").exists()


def test_changed_settings_on_an_existing_run_are_refused(make_project):
    project = make_project()
    assert run_cli("run", project).exit_code == 0
    fails_clearly(run_cli("run", edit_project(project, random_seed=5)), "other random_seed")


# -- files that are not what they seem -------------------------------------------------------------------


def test_an_input_that_is_not_a_regular_file_fails_at_once(tmp_path):
    folder = tmp_path / "folder.jsonl"
    folder.mkdir()
    fifo = tmp_path / "fifo.jsonl"
    os.mkfifo(fifo)  # nobody writes to it: reading it would block for ever
    loop = tmp_path / "loop.jsonl"
    loop.symlink_to(loop)
    zero = tmp_path / "zero.jsonl"
    zero.symlink_to("/dev/zero")  # endless: reading it would fill the memory
    cases = {folder: "a folder", fifo: "a FIFO", loop: "symbolic link loop", zero: "a character device"}
    for path, words in cases.items():
        with pytest.raises(DataError, match=words):
            within(5, lambda path=path: read_items(path))
        with pytest.raises(DataError, match=words):
            within(5, lambda path=path: read_answers(path))


def test_a_fifo_as_the_pool_fails_clearly(make_project):
    project = make_project()
    pool = project.parent / "pool.jsonl"
    pool.unlink()
    os.mkfifo(pool)
    fails_clearly(within(20, lambda: run_cli("run", project)), "pool.jsonl", "a FIFO (named pipe), not a regular file")
    assert not (project.parent / "run").exists()


def test_a_file_beyond_the_size_limit_is_refused(tmp_path, monkeypatch):
    import labelgraph.data as data

    path = write_jsonl(tmp_path / "answers.jsonl", [{"id": str(i), "label": "a"} for i in range(100)])
    monkeypatch.setattr(data, "MAX_ANSWERS_BYTES", 1000)
    with pytest.raises(DataError, match=r"answers.jsonl: [\d,]+ bytes, more than the limit of 1,000"):
        read_answers(path)


@pytest.mark.parametrize(
    ("line", "fragments"),
    [
        ('{"text": ' + "[" * 1000 + "]" * 1000 + "}", ["line 2", "nested deeper than 64 levels"]),
        ('{"text": "ok", "x": ' + "[" * 100 + "]" * 100 + "}", ["line 2, field 'x'", "nested deeper than 64"]),
        (
            '{"text": "a broken emoji \\ud83d here"}',
            ["line 2, field 'text'", "lone surrogate (\\ud83d) at character 16"],
        ),
        ('{"text": "ok", "note": {"k": "\\udc00"}}', ["line 2, field 'note'", "lone surrogate"]),
        ('{"text": "ok", "\\ud800": 1}', ["line 2", "lone surrogate"]),
        ('{"text": "ok", "n": NaN}', ["line 2", "NaN is not a JSON number"]),
        ('{"text": "ok", "n": ' + "1" * 5000 + "}", ["line 2", "not valid JSON", "digits"]),
        ('{"text": ["a", "list"]}', ["line 2, field 'text'", "text must be a string"]),
        ('{"text": "ok", "id": {"a": 1}}', ["line 2, field 'id'", "an id must be a string or a number"]),
        ('{"text": "ok", "label": ["positive"]}', ["line 2, field 'label'", "a label must be a string or a number"]),
    ],
)
def test_json_lines_that_cannot_be_stored_are_line_errors(tmp_path, line, fragments):
    path = tmp_path / "pool.jsonl"
    path.write_text('{"text": "fine"}\n' + line + "\n", encoding="utf-8")
    with pytest.raises(DataError) as caught:
        read_items(path, labels=["positive", "negative"])
    for fragment in fragments:
        assert fragment in str(caught.value), (fragment, str(caught.value))


def test_a_lone_surrogate_in_the_pool_fails_before_the_run_folder(make_project):
    project = make_project()
    (project.parent / "pool.jsonl").write_text('{"id": "a", "text": "ok \\ud83d"}\n', encoding="utf-8")
    fails_clearly(run_cli("run", project), "pool.jsonl, line 1, field 'text'", "lone surrogate")
    assert not (project.parent / "run").exists()


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_a_wrong_text_field_names_the_columns_there_are(make_project, suffix):
    project = make_project()
    pool = project.parent / f"pool{suffix}"
    if suffix == ".csv":
        pool.write_text("id,review\n1,a fine film\n2,a dull film\n")
    else:
        write_jsonl(pool, [{"id": "1", "review": "a fine film"}, {"id": "2", "review": "a dull film"}])
    edit_project(project, pool=pool.name)
    line = "line 2" if suffix == ".csv" else "line 1"
    fails_clearly(
        run_cli("run", project),
        f"pool{suffix}, {line}, field 'text': no such column (the columns are 'id', 'review')",
        "text_field",
    )


def pool_csv(project, text_column: str) -> None:
    """The project's pool rewritten as a CSV whose text column is ``text_column`` (and without gold labels)."""
    import csv

    rows = [json.loads(line) for line in (project.parent / "pool.jsonl").read_text().splitlines()]
    with (project.parent / "pool.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", text_column])
        writer.writerows([row["id"], row["text"]] for row in rows)


def test_seed_and_test_files_may_keep_text_and_label_when_the_pool_names_its_own(make_project):
    """text_field and label_field name the pool's columns; a seed or test file made apart from it (the example's)
    may keep text and label: they used to fail, advising to rename the pool's column."""
    project = make_project()
    pool_csv(project, "review")
    edit_project(project, pool="pool.csv", text_field="review", label_field="sentiment")
    result = run_cli("run", project)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    status = json.loads(run_cli("status", project, "--json").stdout)
    assert status["counts"]["seed"] == 6 and status["pool"] == 120


def test_a_seed_without_the_text_column_says_which_files_the_setting_names(make_project):
    project = make_project()
    pool_csv(project, "review")
    seed = project.parent / "seed.jsonl"
    write_jsonl(seed, [{"id": "s1", "sentence": "a fine film", "label": "positive"}])
    edit_project(project, pool="pool.csv", text_field="review")
    fails_clearly(
        run_cli("run", project),
        "seed.jsonl, line 1, field 'review': no such column, nor 'text' (the columns are 'id', 'sentence', 'label'); "
        "text_field names this column in the pool, seed and test files alike; a seed or test file may call it 'text' "
        "instead",
    )
    assert not (project.parent / "run").exists()


def test_a_wrong_label_field_in_the_seed_names_the_columns(make_project):
    project = edit_project(make_project(), label_field="sentiment")
    write_jsonl(project.parent / "seed.jsonl", [{"id": "s1", "text": "a fine film", "mark": "positive"}])
    fails_clearly(
        run_cli("run", project),
        "seed.jsonl, line 1, field 'sentiment': no such column, nor 'label' (the columns are 'id', 'text', 'mark')",
        "label_field",
    )


def test_a_pool_without_its_id_column_is_named_by_line_with_a_warning(make_project):
    project = make_project(seed_size=0)
    pool_csv(project, "text")
    (project.parent / "pool.csv").write_text(
        "".join(line.split(",", 1)[1] + "\n" for line in (project.parent / "pool.csv").read_text().splitlines())
    )
    edit_project(project, pool="pool.csv")  # id_field stays the template's id, which this file lacks
    result = run_in_a_process("run", project)  # the warning line as a user sees it, on stderr
    assert result.returncode == 0, result.stderr
    assert (
        f"warning: {project.parent / 'pool.csv'} has no 'id' column (id_field): its items are named by line "
        "(pool-2, ...); set id_field to its id column if it has one"
    ) in result.stderr
    assert json.loads(run_cli("status", project, "--json").stdout)["pending"][0].startswith("pool-")


def test_a_test_set_without_every_label_is_named_with_a_warning(make_project):
    """The first rows of a file sorted by label: the test measures one class ("accuracy 0.995, macro_f1 0.499")."""
    project = make_project(test_size=0)
    test = [row for row in (json.loads(line) for line in (EXAMPLE / "test.jsonl").read_text().splitlines())]
    positives = [row for row in test if row["label"] == "positive"][:30]
    write_jsonl(project.parent / "test.jsonl", positives)
    edit_project(project, test="test.jsonl")
    result = run_in_a_process("run", project)  # the warning line as a user sees it, on stderr
    assert result.returncode == 0, result.stderr
    assert (
        f"warning: the test set {project.parent / 'test.jsonl'} has no 'negative' item (positive 30): its accuracy "
        "leaves that label out and its macro-F1 counts it as 0; give a test set with every label (a random sample of "
        "the data, not its first rows)"
    ) in result.stderr


def test_an_id_twice_in_one_answers_file_names_both_lines(tmp_path):
    path = write_jsonl(
        tmp_path / "a.jsonl", [{"id": "x", "label": "a"}, {"id": "y", "label": "b"}, {"id": "x", "label": "b"}]
    )
    with pytest.raises(
        DataError, match=r"a.jsonl, line 3, field 'id': a second answer for 'x' \(the first is on line 1\)"
    ):
        read_answers(path)
    path = write_jsonl(tmp_path / "b.jsonl", [{"id": "x", "label": "a"}, {"id": "x", "label": None}])
    with pytest.raises(DataError, match=r"line 2, field 'id': a second answer for 'x' \(the first is on line 1\)"):
        read_answers(path)


def test_duplicate_answers_through_the_cli_store_nothing(make_project, gold, tmp_path):
    project = make_project()
    assert run_cli("run", project).exit_code == 0
    pending = json.loads(run_cli("status", project, "--json").stdout)["pending"]
    twice = write_jsonl(
        tmp_path / "twice.jsonl",
        [
            {"id": pending[0], "label": gold[pending[0]]},
            {"id": pending[1], "label": None},
            {"id": pending[1], "label": "positive"},
        ],
    )
    fails_clearly(run_cli("review", project, "--answers", twice), "twice.jsonl, line 3", "the first is on line 2")
    status = json.loads(run_cli("status", project, "--json").stdout)
    assert status["answered"] == [] and status["pending"] == pending


def dead_pid() -> int:
    """The id of a process that has ended."""
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(child.stdout)


def test_export_removes_the_temporary_files_of_killed_exports(tmp_path):
    out = tmp_path / "out.jsonl"
    stale = tmp_path / f".out.jsonl.tmp-{dead_pid()}"  # as a killed export of the old naming left it
    stale_new = tmp_path / f".out.jsonl.tmp-{dead_pid()}-0a1b2c3d"
    alive = tmp_path / f".out.jsonl.tmp-{os.getppid()}-00000000"  # a live writer's file is left alone
    other = tmp_path / f".other.jsonl.tmp-{dead_pid()}"  # another file's: not ours to judge here
    for path in (stale, stale_new, alive, other):
        path.write_text("half an export")
    record = LabelRecord(id="a", text="t", label="x", source="human", status="human", round=1)
    assert write_export([record], out) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["out.jsonl", alive.name, other.name])


# -- project files ---------------------------------------------------------------------------------------

HEAD = "name: t\npool: pool.jsonl\nlabels: [positive, negative]\n"


def billion_laughs(levels: int = 9) -> str:
    rows = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    rows += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, levels + 1)]
    return "x:\n" + "".join(f"  {row}\n" for row in rows)


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        (HEAD + "x: " + "[" * 500 + "]" * 500 + "\n", ["line 4", "nested deeper than 100 levels"]),
        (HEAD + "".join("  " * i + f"k{i}:\n" for i in range(150)), ["nested deeper than 100 levels"]),
        (HEAD + billion_laughs(), ["aliases expand the document to more than 100,000 values"]),
        (HEAD + "x: &a [1, *a]\n", ["line 4", "an alias refers to a value that holds it"]),
        (HEAD + "budget: 10\nbudget: 100\n", ["line 5", "the key 'budget' is given twice"]),
        ("name: t\npool: pool.jsonl\nlabels: !!omap [a: x, b: y]\n", ["line 3: field 'labels'", "tuple"]),
        (HEAD + "x: !!python/object:os.system x\n", ["line 4", "not valid YAML"]),
        (HEAD + "---\n" + HEAD, ["not valid YAML", "another document"]),
        (HEAD + "#" * 1_000_001, ["project.yaml", "more than the limit of 1,000,000"]),
        (HEAD + "x: " + "[" * 200_000 + "\n", ["line 4", "nested deeper than 100 levels"]),
        (HEAD + 'text_field: "\\ud83d"\n', ["line 4", "a lone surrogate (\\ud83d)"]),
    ],
)
def test_hostile_project_files_fail_fast_in_one_line(tmp_path, text, fragments):
    import time
    import tracemalloc

    from labelgraph.config import load_project
    from labelgraph.errors import ConfigError

    path = tmp_path / "project.yaml"
    path.write_text(text)
    tracemalloc.start()
    started = time.perf_counter()
    with pytest.raises(ConfigError):
        within(5, lambda: load_project(path))  # the alias bomb ran for minutes at 2 GB
    took, peak = time.perf_counter() - started, tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert took < 2 and peak < 50 * 2**20, f"{took:.2f} s, peak {peak / 2**20:.0f} MB"  # the bomb: minutes, 2 GB
    result = run_cli("run", path)
    fails_clearly(result, *fragments)
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_a_project_file_that_is_not_a_regular_file(tmp_path):
    fifo = tmp_path / "project.yaml"
    os.mkfifo(fifo)
    fails_clearly(within(10, lambda: run_cli("run", fifo)), "project.yaml", "a FIFO (named pipe), not a regular file")
    fails_clearly(run_cli("run", tmp_path), str(tmp_path), "a folder, not a regular file")
    fails_clearly(run_cli("run", tmp_path / "nowhere.yaml"), "nowhere.yaml: project file not found")


@pytest.mark.parametrize("run_dir", [".", "..", "data"])
def test_a_run_folder_that_would_hold_the_inputs_is_refused(make_project, run_dir):
    project = make_project()
    data = project.parent / "data"
    data.mkdir()
    for name in ("pool.jsonl", "seed.jsonl", "test.jsonl"):
        (project.parent / name).rename(data / name)
    project = edit_project(
        project, pool="data/pool.jsonl", seed="data/seed.jsonl", test="data/test.jsonl", run_dir=run_dir
    )
    before = {path: path.read_bytes() for path in data.iterdir()}
    fails_clearly(run_cli("run", project), "run_dir", "name a folder of its own for run_dir")
    assert {path: path.read_bytes() for path in data.iterdir()} == before  # test.jsonl was overwritten
    assert sorted(path.name for path in project.parent.iterdir()) == ["data", "project.yaml"]


def test_a_run_folder_that_is_the_project_folder_is_refused(make_project, tmp_path):
    project = make_project()
    elsewhere = tmp_path / "inputs"
    elsewhere.mkdir()
    (project.parent / "pool.jsonl").rename(elsewhere / "pool.jsonl")
    project = edit_project(project, pool=str(elsewhere / "pool.jsonl"), seed=None, test=None, run_dir=".")
    fails_clearly(run_cli("run", project), "is the project's own folder")


# -- damaged run folders ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def paused_run(tmp_path_factory):
    """A run folder paused for review, made once for the damage tests (each damages a copy)."""
    from tests.conftest import EXAMPLE, LABELS, read_jsonl

    folder = tmp_path_factory.mktemp("paused")
    for name, size in (("pool", 40), ("seed", 4), ("test", 20)):
        write_jsonl(folder / f"{name}.jsonl", read_jsonl(EXAMPLE / f"{name}.jsonl")[:size])
    config = {"name": "t", "pool": "pool.jsonl", "seed": "seed.jsonl", "test": "test.jsonl", "labels": LABELS}
    (folder / "project.yaml").write_text(yaml.safe_dump({**config, "batch_size": 5, "budget": 10, "run_dir": "run"}))

    assert run_in_a_process("run", folder / "project.yaml").returncode == 0
    assert not list((folder / "run").glob("*-wal"))
    return folder / "run"


def garbage(data: bytes) -> bytes:
    return bytes((index * 131 + 7) % 256 for index in range(max(len(data), 4096)))


DAMAGES: dict[str, tuple[str, Callable[[bytes], bytes]]] = {
    "run.json truncated": ("run.json", lambda data: data[: len(data) // 2]),
    "run.json without keys": ("run.json", lambda data: b'{"config": {}}'),
    "run.json nested": ("run.json", lambda data: b"[" * 5000 + b"]" * 5000),
    "checkpoints garbage": ("checkpoints.sqlite", garbage),
    "checkpoints truncated": ("checkpoints.sqlite", lambda data: data[:5000]),
    "reviews garbage": ("reviews.sqlite", garbage),
    "labels garbage": ("labels.sqlite", garbage),
    "synthetic garbage": ("synthetic.sqlite", garbage),
    "chroma garbage": ("memory/chroma.sqlite3", garbage),
    "items truncated": ("items.sqlite", lambda data: data[: len(data) // 2]),
    "items empty": ("items.sqlite", lambda data: b""),
    "vectors garbage": ("vectors.npy", garbage),
    "vectors truncated": ("vectors.npy", lambda data: data[: len(data) // 2]),
    "test vectors garbage": ("test_vectors.npy", garbage),
}


def snapshot(folder) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_run_folder_is_named_and_left_as_it_is(paused_run, tmp_path, damage):
    import shutil

    name, spoil = DAMAGES[damage]
    run = tmp_path / "run"
    shutil.copytree(paused_run, run)
    # reviews.sqlite and synthetic.sqlite are files of folders made up to 010994d: a damaged one is put there
    (run / name).write_bytes(spoil((run / name).read_bytes() if (run / name).exists() else b""))
    before = snapshot(run)
    for command in (["status"], ["resume"], ["export", "-o", tmp_path / "out.jsonl"]):
        result = run_cli(*command, run)
        fails_clearly(result, f"{run / name} is", "it holds", "Nothing was changed")
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert snapshot(run) == before
    assert not (tmp_path / "out.jsonl").exists()


def test_a_run_folder_file_that_is_a_fifo(paused_run, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(paused_run, run)
    os.mkfifo(run / "reviews.sqlite")  # the inbox file of a folder made before the inbox joined the label store
    fails_clearly(within(20, lambda: run_cli("status", run)), "reviews.sqlite is damaged (a FIFO")


def test_a_moved_aside_memory_is_built_again(paused_run, tmp_path):
    """What the message for a damaged memory promises: move it aside, and resume builds it again."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(paused_run, run)
    (run / "memory" / "chroma.sqlite3").write_bytes(garbage(b""))
    fails_clearly(run_cli("status", run), "move the memory folder aside")
    (run / "memory").rename(tmp_path / "memory.damaged")
    pending = json.loads(run_cli("status", run, "--json").stdout)["pending"]
    answers = write_jsonl(tmp_path / "answers.jsonl", [{"id": item_id, "label": "positive"} for item_id in pending])
    assert run_cli("review", run, "--answers", answers).exit_code == 0
    assert run_cli("resume", run).exit_code == 0
    from labelgraph.session.run import Run

    reopened = Run.open(run)
    try:
        people = {h.id for h in reopened.store.human().values() if h.label is not None}
        assert reopened.memory.ids() == people and len(people) == 4 + len(pending)
    finally:
        reopened.close()


SQL_DAMAGES = {
    "a label that is not JSON": ("labels.sqlite", "UPDATE verdicts SET body = '{\"id\": 1' WHERE rowid = 1"),
    "an id that is not text": ("labels.sqlite", "UPDATE human SET id = CAST(x'ff30' AS TEXT) WHERE rowid = 1"),
    "an answer that is not text": (
        "labels.sqlite",
        "INSERT INTO answers VALUES (CAST(x'ff' AS TEXT), 'x', 'r', 1, 0, 0)",
    ),
    "a checkpoint that does not deserialise": (
        "checkpoints.sqlite",
        "UPDATE checkpoints SET checkpoint = x'c1c1c1' WHERE rowid = (SELECT max(rowid) FROM checkpoints)",
    ),
}


@pytest.mark.parametrize("damage", list(SQL_DAMAGES))
def test_a_damaged_row_inside_a_sound_database_is_named(paused_run, tmp_path, damage):
    """A changed row passes PRAGMA quick_check: the rows the commands read are checked too."""
    import shutil
    import sqlite3
    from contextlib import closing

    name, sql = SQL_DAMAGES[damage]
    run = tmp_path / "run"
    shutil.copytree(paused_run, run)
    with closing(sqlite3.connect(run / name)) as db, db:
        assert db.execute(sql).rowcount == 1
    before = snapshot(run)
    for command in (["status"], ["export", "-o", tmp_path / "out.jsonl"]):
        fails_clearly(run_cli(*command, run), f"{run / name} is damaged", "Nothing was changed")
    assert snapshot(run) == before


@pytest.mark.parametrize(
    "shape",
    [
        "a 40 MB line",
        "40 MB of NUL bytes, no line end",
        pytest.param("a CSV cell over 40 MB of lines", marks=pytest.mark.slow),  # 14 s: make test-all runs it
    ],
)
def test_a_huge_row_is_refused_before_it_is_held(tmp_path, shape):
    """A row far past what max_text_chars allows is refused once a row's worth of it is read (12 bytes a character
    and 1 MiB of other columns: 1,060,576 bytes at 1,000 characters), not read whole: the memory the reader takes
    stays near that, not the row's 40 MB (a 900 MB line took a run past 2.5 GB)."""
    import tracemalloc

    size = 40 * 2**20
    if shape == "a 40 MB line":
        path, where = tmp_path / "pool.jsonl", "pool.jsonl, line 1: a line longer than 1,060,576 bytes"
        path.write_text(json.dumps({"id": "a", "text": "x" * size}) + "\n")
    elif shape.startswith("40 MB of NUL"):
        path, where = tmp_path / "pool.jsonl", "pool.jsonl, line 1: a line longer than 1,060,576 bytes"
        path.write_bytes(b"\0" * size)
    else:
        path, where = tmp_path / "pool.csv", "pool.csv, line 2: a row longer than 1,060,576 bytes"
        path.write_text('id,text\n1,"' + "many short lines\n" * (size // 17) + '"\n')
    tracemalloc.start()
    try:
        with pytest.raises(DataError) as caught:
            for _ in read_items(path, max_text_chars=1000):
                pass
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert where in str(caught.value) and "max_text_chars" in str(caught.value)
    assert peak < 12 * 2**20, f"{peak / 2**20:.1f} MB held to refuse it"  # the csv module: 4 bytes a character


def test_a_sheet_sets_items_aside_with_skip_and_trims_its_labels(tmp_path):
    """A filled --pending sheet: 'skip' or 'null' (any case) sets an item aside (they were unknown labels), a label
    with spaces around it is that label (it was refused), a blank cell is not answered yet, an empty row is none."""
    sheet = tmp_path / "todo.csv"
    sheet.write_text("id,label,text\na, positive ,x\nb,SKIP,x\nc,null,x\nd,,x\ne,  ,x\n,,\nf,skip,x\n")
    assert read_answers(sheet, ["positive", "negative"]) == [
        (2, "a", "positive", False),
        (3, "b", None, False),
        (4, "c", None, False),
        (8, "f", None, False),
    ]
    assert [answer.id for answer in read_answers(sheet, ["positive"], blanks=True) if answer.blank] == ["d", "e"]
    assert read_answers(sheet, ["positive", "skip"])[-1].label == "skip"  # a project's own label named so stays one


def test_a_missing_embedding_model_fails_before_anything_is_written(make_project, tmp_path):
    """embedding_model: /nonexistent/path failed after the run folder was made and embedding had begun (4-35 s),
    its error after progress lines: now one line, first, and no folder."""
    project = edit_project(make_project(), embedding_model="/nonexistent/path")
    result = run_cli("run", project)
    fails_clearly(result)
    assert result.stderr.strip() == (
        "error: embedding_model '/nonexistent/path': no such folder (name a sentence-transformers model's folder, "
        "a model, or minilm)"
    )
    assert result.stdout == "" and not (project.parent / "run").exists()
    (tmp_path / "empty-model").mkdir()
    result = run_cli("run", edit_project(project, embedding_model=str(tmp_path / "empty-model")))
    fails_clearly(result, "that folder holds no model (no modules.json or config.json in it)")
    assert not (project.parent / "run").exists()


def test_predict_reads_its_input_before_it_loads_the_model(tmp_path):
    """A bad input file is named at once, not after the model loaded (about 7 s)."""
    folder = tmp_path / "model"
    (folder / "encoder").mkdir(parents=True)  # no model in it: loading it would fail, naming the encoder
    head = {"labels": ["a", "b"], "weight": [[0.0], [1.0]], "bias": [0.0, 0.0], "temperature": 1.0, "max_length": 8}
    (folder / "head.json").write_text(json.dumps(head))
    fails_clearly(run_cli("predict", folder, tmp_path / "texts.csv"), "texts.csv: file not found")
    (tmp_path / "texts.csv").write_text("id,body\n1,a film\n")
    fails_clearly(run_cli("predict", folder, tmp_path / "texts.csv"), "texts.csv, line 2, field 'text': no such column")


def test_a_damaged_vector_header_is_named_without_a_warning(tmp_path):
    """NumPy reads a .npy header with ast: one holding a backslash warned ('invalid escape sequence') before the
    one-line error, in the fuzz suite's output and to a user on Python 3.12+ (a SyntaxWarning there)."""
    import warnings

    import numpy as np

    from labelgraph.errors import RunDamaged
    from labelgraph.session.workspace import _load_vectors

    path = tmp_path / "vectors.npy"
    np.save(path, np.zeros((2, 3), dtype=np.float32))
    data = bytearray(path.read_bytes())
    at = data.index(b"'descr'")
    data[at : at + 7] = b"'d\\esc'"  # a string holding an invalid escape (backslash e)
    path.write_bytes(bytes(data))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(RunDamaged, match=r"vectors\.npy is damaged"):
            _load_vectors(path, 2)
    assert not caught, [str(w.message) for w in caught]
