"""Checkpoints in a real PostgreSQL (a throwaway cluster on 127.0.0.1, started here): a run pauses, a new
process-like Run resumes it from Postgres, and the labels equal those of a run on SQLite; the checkpointer and a
paused run outlive their connections (ended by an admin, by a restart of the server) and a server that stays away
is one line."""

from __future__ import annotations

import glob
import operator
import os
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, TypedDict

import pytest
import yaml

from labelgraph.agents.human import SimulatedHuman
from labelgraph.errors import RunError
from labelgraph.session.run import Project, Run
from tests.service_helpers import free_port

BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"))


def as_postgres(*args: str) -> subprocess.CompletedProcess[str]:
    command = list(args) if os.geteuid() != 0 else ["runuser", "-u", "postgres", "--", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


@dataclass
class Cluster:
    """The module's throwaway cluster: its DSN, and the pg_ctl commands an outage is made of."""

    dsn: str
    data: Path
    options: str
    log: Path

    def pg_ctl(self, *args: str) -> None:
        done = as_postgres(f"{BIN[-1]}/pg_ctl", "-D", str(self.data), *args)
        assert done.returncode == 0, done.stderr + self.log.read_text()

    def start(self) -> None:
        self.pg_ctl("-o", self.options, "-l", str(self.log), "-w", "start")

    def stop(self) -> None:
        self.pg_ctl("-m", "fast", "-w", "stop")

    def restart(self) -> None:
        """Stop and start (not pg_ctl restart, whose server would keep this process's pipes open)."""
        self.stop()
        self.start()


def terminate_backends(dsn: str) -> int:
    """End every other session of the database, as an admin, a proxy's idle timeout or a failover does; how many."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as admin:
        (ended,) = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
    return ended


@pytest.fixture(scope="module")
def cluster():
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
    # a password in the DSN (trust ignores it), so the tests see that no error quotes it
    server = Cluster(f"postgresql://postgres:pg-s3cret@127.0.0.1:{port}/postgres", data, options, folder / "log")
    server.start()
    yield server
    as_postgres(f"{BIN[-1]}/pg_ctl", "-D", str(data), "-m", "immediate", "stop")
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def dsn(cluster):
    return cluster.dsn


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


class Steps(TypedDict):
    steps: Annotated[list[int], operator.add]


def counting_graph(checkpointer):
    """A graph of one node that appends 1 to the steps it is given: its history is all in the checkpoints."""
    from langgraph.graph import END, START, StateGraph

    builder = StateGraph(Steps)
    builder.add_node("step", lambda state: {"steps": [1]})
    builder.add_edge(START, "step")
    builder.add_edge("step", END)
    return builder.compile(checkpointer=checkpointer)


def test_checkpoints_outlive_lost_connections_and_a_server_away_is_one_line(cluster):
    from labelgraph.graphs.checkpoint import postgres_checkpointer

    saver = postgres_checkpointer(cluster.dsn, source="$LABELGRAPH_TEST_PG", wait=3)
    graph = counting_graph(saver)
    config = {"configurable": {"thread_id": uuid.uuid4().hex}}
    graph.invoke({"steps": [10]}, config)
    assert terminate_backends(cluster.dsn) >= 1  # the checkpointer's connection among them
    graph.invoke({"steps": [20]}, config)
    cluster.restart()  # a restarted server: every connection gone again
    graph.invoke({"steps": [30]}, config)
    assert graph.get_state(config).values["steps"] == [10, 1, 20, 1, 30, 1]
    cluster.stop()
    try:
        with pytest.raises(RunError) as raised:  # a database that stays away: one line, and no traceback
            graph.invoke({"steps": [40]}, config)
    finally:
        cluster.start()
    message = str(raised.value)
    assert "\n" not in message and "pg-s3cret" not in message
    assert "checkpoint database 127.0.0.1:" in message and "/postgres ($LABELGRAPH_TEST_PG)" in message
    assert graph.get_state(config).values["steps"] == [10, 1, 20, 1, 30, 1]  # nothing committed was lost
    graph.invoke({"steps": [40]}, config)  # and the same checkpointer goes on once it is back
    assert graph.get_state(config).values["steps"] == [10, 1, 20, 1, 30, 1, 40, 1]
    saver.conn.close()


def test_a_paused_run_goes_on_after_its_connections_are_lost(make_project, gold, cluster, monkeypatch):
    """The HTTP API keeps a run open for days: its checkpointer and label store outlive a restart of the server."""
    monkeypatch.setenv("LABELGRAPH_TEST_PG", cluster.dsn)
    project = make_project(budget=20)
    config = yaml.safe_load(project.read_text())
    config["checkpoints"] = {"postgres_env": "LABELGRAPH_TEST_PG"}
    project.write_text(yaml.safe_dump(config))
    run = Project.from_yaml(project).start()
    human = SimulatedHuman(gold, run.config.label_names, seed=4)
    assert run.step().phase == "paused"
    machine = run.store.machine()
    assert machine
    cluster.restart()
    assert run.store.machine() == machine
    answers = human.answer(run.pending_reviews())
    assert run.answer(answers) == len(answers) > 0
    assert terminate_backends(cluster.dsn) >= 2  # the checkpointer's connection and the label store's
    assert run.run(human).phase == "done"  # round 1 committed with those answers, and the rounds after it
    stored = run.store.human()
    assert {item: stored[item].label for item in answers} == answers
    assert machine.keys() <= run.store.machine().keys() and run.status().round > 1
    run.close()
    assert terminate_backends(cluster.dsn) == 0  # closing the run let go of both its connections
