"""Checkpoints in a real PostgreSQL (a throwaway cluster on 127.0.0.1, started here): a run pauses, a new
process-like Run resumes it from Postgres, and the labels equal those of a run on SQLite."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml

from labelgraph.agents.human import SimulatedHuman
from labelgraph.run import Project, Run
from tests.service_helpers import free_port

BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"))


def as_postgres(*args: str) -> subprocess.CompletedProcess[str]:
    command = list(args) if os.geteuid() != 0 else ["runuser", "-u", "postgres", "--", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def dsn():
    if not BIN:
        if os.environ.get("CI") == "true":
            raise RuntimeError("PostgreSQL is missing on CI: 'make test' installs it")
        pytest.skip("no PostgreSQL server on this machine (apt-get install postgresql)")
    folder = Path(tempfile.mkdtemp(prefix="labelgraph-pg-"))  # under /tmp: the postgres user can reach it
    data = folder / "data"
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    made = as_postgres(f"{BIN[-1]}/initdb", "-D", str(data), "-A", "trust", "-U", "postgres")
    assert made.returncode == 0, made.stderr
    port = free_port()
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1"
    started = as_postgres(f"{BIN[-1]}/pg_ctl", "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "start")
    assert started.returncode == 0, started.stderr + (folder / "log").read_text()
    yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    as_postgres(f"{BIN[-1]}/pg_ctl", "-D", str(data), "-m", "immediate", "stop")
    shutil.rmtree(folder, ignore_errors=True)


def test_pause_and_resume_from_postgres(make_project, gold, tmp_path, dsn, monkeypatch):
    monkeypatch.setenv("LABELGRAPH_TEST_PG", dsn)
    exports = {}
    for where in ("sqlite", "postgres"):
        project = make_project(run_dir=f"run-{where}", budget=20)
        if where == "postgres":
            config = yaml.safe_load(project.read_text())
            config["checkpoints"] = {"postgres_env": "LABELGRAPH_TEST_PG"}
            project.write_text(yaml.safe_dump(config))
        run = Project.from_yaml(project).start()
        human = SimulatedHuman(gold, run.config.label_names, seed=4)
        status = run.step()
        assert status.phase == "paused"
        run.answer(human.answer(run.pending_reviews()))
        run.close()
        again = Run.open(Project.from_yaml(project).config.run_dir)  # a fresh connection to the same store
        assert again.status().answered and again.status().round == 1
        assert again.run(human).phase == "done"
        out = tmp_path / f"{where}.jsonl"
        again.export(out)
        exports[where] = out.read_text()
    assert exports["postgres"] == exports["sqlite"]
    assert not (tmp_path / "run-postgres" / "checkpoints.sqlite").exists()


def test_a_missing_dsn_variable_is_named(make_project, monkeypatch):
    monkeypatch.delenv("LABELGRAPH_NO_SUCH_DSN", raising=False)
    project = make_project()
    config = yaml.safe_load(project.read_text())
    config["checkpoints"] = {"postgres_env": "LABELGRAPH_NO_SUCH_DSN"}
    project.write_text(yaml.safe_dump(config))
    from labelgraph.errors import ConfigError

    with pytest.raises(ConfigError, match="'LABELGRAPH_NO_SUCH_DSN' is not set"):
        Project.from_yaml(project).start()


@pytest.mark.parametrize(
    "dsn_text",
    [
        "host=127.0.0.1 password=my s3cret",  # malformed: the parser's own message would quote it
        "postgresql://u:s3cr%zzet@127.0.0.1/db",  # a bad percent-escape inside the password
        f"postgresql://u:s3cret@127.0.0.1:{free_port()}/db?connect_timeout=5",  # well formed, nobody listening
    ],
)
def test_a_bad_dsn_is_reported_without_its_password(make_project, monkeypatch, dsn_text):
    monkeypatch.setenv("LABELGRAPH_TEST_DSN", dsn_text)
    project = make_project()
    config = yaml.safe_load(project.read_text())
    config["checkpoints"] = {"postgres_env": "LABELGRAPH_TEST_DSN"}
    project.write_text(yaml.safe_dump(config))
    from labelgraph.errors import ConfigError

    with pytest.raises(ConfigError, match=r"\$LABELGRAPH_TEST_DSN") as raised:
        Project.from_yaml(project).start()
    assert "s3cr" not in str(raised.value)
