"""Shared fixtures: small projects built from the example data, the CLI in a subprocess, gold labels."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "movie_reviews"
SHARED = ROOT.parent / "shared"
LABELS = {
    "positive": "the reviewer likes the film; praise, enjoyment, recommendation",
    "negative": "the reviewer dislikes the film; criticism, boredom, disappointment",
}


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


SERVER_TESTS = {
    "test_review_page.py": "browser",
    "test_run_list_page.py": "browser",
    "test_postgres.py": "postgres",
    "test_memory_server.py": "chroma_server",
    "test_langgraph_server.py": "langgraph_server",
}
"""Test files that drive a real server from the system or a CLI: marked ``server`` and by kind, they run in
``make test-all`` (and CI) but not in ``make test``."""

SLOW_TESTS = {
    "test_bad_input.py": {"test_bad_answers_lose_nothing",
                          "test_export_onto_a_folder_fails_clearly_and_leaves_nothing",
                          "test_a_pool_without_its_id_column_is_named_by_line_with_a_warning",
                          "test_a_test_set_without_every_label_is_named_with_a_warning"},
    "test_blas.py": {
        "test_a_step_leaves_numpy_and_scipy_on_one_blas_thread",
        "test_a_machine_that_sets_openblas_threads_keeps_its_count",
    },
    "test_cli.py": {"test_run_pause_review_resume_export", "test_ctrl_c_says_interrupted_and_how_to_continue",
                    "test_pending_reviews_to_a_spreadsheet_and_back", "test_export_predictions_labels_every_pool_text",
                    "test_piped_output_keeps_commands_and_tables_whole",
                    "test_read_only_commands_open_no_vector_store"},
    "test_crash_resume.py": {"test_killed_run_resumes_to_the_same_labels"},
    "test_encoders.py": {"test_mpnet_is_the_stronger_encoder_when_installed"},
    "test_evals.py": {"test_eval_reports_the_accepted_machine_labels_against_gold", "test_small_eval_through_the_cli",
                      "test_students_side_by_side_in_one_report", "test_an_eval_records_what_certify_sim_replays"},
    "test_llm.py": {"test_requests_in_flight_at_a_kill_are_counted_and_reconciled_when_answered_again",
                    "test_a_run_with_30_percent_faults_labels_every_item"},
    "test_pool_store.py": {"test_a_float16_run_folder_holds_half_the_bytes_and_picks_as_float32_does"},
    "test_llm_loop.py": {"test_killed_llm_run_repeats_no_call", "test_the_whole_loop_through_the_endpoint_with_tools",
                         "test_costs_per_round_and_the_cost_budget"},
    "test_memory.py": {"test_reopened_in_a_new_process_searches_by_text"},
    "test_tools.py": {"test_a_tool_module_in_the_current_folder_is_found_by_the_installed_command"},
    "test_student.py": {"test_finetuned_student_trains_keeps_itself_and_comes_back",
                        "test_exported_student_predicts_the_same_in_a_fresh_process",
                        "test_predict_and_export_refuse_bad_input_in_one_line"},
    "test_review_terminal.py": {"test_resuming_from_the_review_goes_on_with_the_next_round",
                                "test_keys_pick_undo_skip_quit", "test_more_than_nine_labels_are_typed",
                                "test_a_partly_answered_round_is_finished_here_with_undo_and_ctrl_c"},
}  # fmt: skip
"""Whole runs of about 3 s or more on an idle 2-core machine (several subprocesses, a terminal, an eval, the
loop through an LLM endpoint): marked ``slow``, they run in ``make test-all`` but not in ``make test``, which
stays under 2 minutes."""


def pytest_configure(config: pytest.Config) -> None:
    """One vector cache for the session, shared with the CLI's subprocesses: each list of texts the tests embed
    goes through the real model once, and a run that finds its lists there loads no model at all. Set
    LABELGRAPH_VECTOR_CACHE yourself to keep one between sessions."""
    os.environ.setdefault("LABELGRAPH_EMBEDDING", "minilm")  # the tests keep MiniLM unless they name another
    if "LABELGRAPH_VECTOR_CACHE" not in os.environ:
        folder = tempfile.mkdtemp(prefix="labelgraph-vectors-")
        os.environ["LABELGRAPH_VECTOR_CACHE"] = os.path.join(folder, "vectors.sqlite")
        config.add_cleanup(lambda: shutil.rmtree(folder, ignore_errors=True))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        kind = SERVER_TESTS.get(item.path.name)
        if kind is not None:
            item.add_marker(kind)
            item.add_marker("server")
        if getattr(item, "originalname", item.name) in SLOW_TESTS.get(item.path.name, ()):
            item.add_marker("slow")


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's chromium, for the page tests (Playwright drives it): skipped where it is missing, an error on CI.

    A fixture, not a skip when the module is collected: ``make test`` deselects the browser tests by their marker
    and so reports none of them skipped."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI") == "true":
            raise RuntimeError("chromium is missing on CI: 'make test-all' installs it")
        pytest.skip("no chromium on this machine (apt-get install chromium)")
    return found


@pytest.fixture(scope="session")
def gold() -> dict[str, str]:
    """Gold labels of the example pool, by id."""
    return {row["id"]: row["label"] for row in read_jsonl(EXAMPLE / "gold.jsonl")}


@pytest.fixture
def make_project(tmp_path: Path) -> Callable[..., Path]:
    """Write a small project (pool, seed, test from the example data) and return its YAML path.

    Keyword arguments override project settings; ``pool_size``, ``seed_size`` and ``test_size`` cut the data.
    """

    def make(*, pool_size: int = 120, seed_size: int = 6, test_size: int = 100, **settings: Any) -> Path:
        pool = read_jsonl(EXAMPLE / "pool.jsonl")[:pool_size]
        write_jsonl(tmp_path / "pool.jsonl", pool)
        config: dict[str, Any] = {
            "name": "t",
            "pool": "pool.jsonl",
            "labels": LABELS,
            "batch_size": 10,
            "budget": 30,
            "max_rounds": 6,
            "run_dir": "run",
        }
        if seed_size:
            write_jsonl(tmp_path / "seed.jsonl", read_jsonl(EXAMPLE / "seed.jsonl")[:seed_size])
            config["seed"] = "seed.jsonl"
        if test_size:
            write_jsonl(tmp_path / "test.jsonl", read_jsonl(EXAMPLE / "test.jsonl")[:test_size])
            config["test"] = "test.jsonl"
        config.update(settings)
        path = tmp_path / "project.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        return path

    return make


def cli_env() -> dict[str, str]:
    """The environment for a CLI subprocess: this checkout's package first on the path."""
    return {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1", "COLUMNS": "200"}


def run_cli(*args: str | Path, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``labelgraph ARGS`` in a new process, output captured."""
    return subprocess.run(
        [sys.executable, "-m", "labelgraph.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=cli_env(),
        timeout=timeout,
    )


def invoke_cli(*args: str | Path):
    """``labelgraph ARGS`` in this process (typer's runner): same code, exit codes and streams, no start-up cost."""
    from typer.testing import CliRunner

    from labelgraph.cli.app import app

    return CliRunner().invoke(app, [str(arg) for arg in args], env={"NO_COLOR": "1", "COLUMNS": "200"})
