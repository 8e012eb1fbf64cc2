"""The label store in a real PostgreSQL (the throwaway cluster of ``tests/test_postgres.py``): the same answers as
in SQLite, operation for operation and for a whole run; a round written twice leaves one copy; two runs in one
database see only their own labels; a run killed inside a node resumes to the labels of an uninterrupted run; a
store outlives its lost connections, and a database that stays away is one line that loses nothing."""

from __future__ import annotations

import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from labelgraph.agents.human import SimulatedHuman
from labelgraph.config import CheckpointSettings
from labelgraph.data import LabelChange
from labelgraph.errors import ConfigError, ConflictError, RunError
from labelgraph.session.run import Project
from labelgraph.stores.labels import HumanLabel, LabelStore, MachineLabel, StoredVerdict, label_store_for, schema_for
from tests.conftest import EXAMPLE, cli_env, read_jsonl
from tests.service_helpers import free_port
from tests.test_crash_resume import RUNNER, write_project
from tests.test_postgres import cluster, dsn, terminate_backends  # noqa: F401  (fixtures: this module's cluster)


@pytest.fixture(params=["sqlite", "postgres"])
def open_store(request, tmp_path):
    """Opens a run's store on either backend; ``open_store("a")`` twice is the same run's store opened again."""
    opened: list[LabelStore] = []
    prefix = uuid.uuid4().hex[:8]  # a fresh namespace per test: the cluster lives for the whole module

    def make(run: str = "a") -> LabelStore:
        if request.param == "sqlite":
            store = LabelStore(tmp_path / f"{run}.sqlite")
        else:
            store = LabelStore.postgres(request.getfixturevalue("dsn"), run=f"{prefix}-{run}")
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


def rows(store: LabelStore, table: str) -> int:
    """How many rows a table of the store holds (not how many ids: a second copy would show here)."""
    return store._read(f"SELECT COUNT(*) FROM {{{table}}}")[0][0]


def change(old: str | None, new: str, by: str = "ana") -> LabelChange:
    return LabelChange(at="2025-01-01T00:00:00Z", by=by, old_label=old, new_label=new)


def round_one(ids: list[str]) -> tuple[list[MachineLabel], list[StoredVerdict], list[HumanLabel]]:
    """A round's writes: annotations (a third of them failed), the critic's verdicts, people's answers."""
    machine = [
        MachineLabel(
            id=item,
            round=1,
            label=None if n % 3 == 0 else ("pos" if n % 2 else "neg"),
            confidence=n / len(ids),
            annotator="embedded",
            synthetic=n % 7 == 0,
            distribution={"pos": n / len(ids), "neg": 1 - n / len(ids)},
            votes={"kw": n % 2},
        )
        for n, item in enumerate(ids)
    ]
    statuses = ("accepted", "proposed", "rejected")
    verdicts = [
        StoredVerdict(id=m.id, round=1, label=m.label, p_correct=0.1 + n / (2 * len(ids)), status=statuses[n % 3])
        for n, m in enumerate(m for m in machine if m.label is not None)
    ]
    human = [
        HumanLabel(id=ids[4], round=1, label="neg", kind="fix", shown="pos", machine_label="pos", reviewer="ana"),
        HumanLabel(id=ids[5], round=1, label=None, kind="audit", machine_label="pos"),
        HumanLabel(id="new-1", round=1, label="pos", kind="explore", reviewer="bo"),
    ]
    return machine, verdicts, human


def scenario(store: LabelStore) -> dict[str, Any]:
    """Every operation of the store, in the order a run makes them, and everything it reads back."""
    ids = [f"item-{n:04d}" for n in range(1100)]  # over two of machine_for's 500-id chunks
    store.put_human([HumanLabel(id="seed-1", round=0, label="pos", kind="seed")])
    store.put_human([HumanLabel(id="seed-2", round=0, label="neg", kind="seed")])
    machine, verdicts, human = round_one(ids)
    store.put_machine(machine)
    store.put_verdicts(verdicts)
    store.put_human(human)
    store.put_meta("estimate", '{"first": 1}')
    # round 2 annotates new items and refreshes an old one (which moves to the end, in SQLite as in Postgres)
    store.put_machine([MachineLabel(id=ids[1], round=2, label="neg", confidence=0.9)])
    store.put_machine([MachineLabel(id=f"late-{n}", round=2, label="pos", confidence=0.5) for n in range(5)])
    store.put_meta("estimate", '{"second": 2}')
    store.relabel([(ids[4], change("neg", "pos")), ("new-1", change("pos", "neg"))])
    store.relabel([(ids[5], change(None, "neg", by="bo"))])  # a set-aside answer: IS / IS NOT DISTINCT FROM
    with pytest.raises(ConflictError):  # all or none: the second is stale, so the first does not happen either
        store.relabel([("seed-1", change("pos", "neg")), (ids[4], change("neg", "pos"))])
    written = [(f"syn-{n}", f"text {n}", '{"synthetic": true}', bytes(range(n, n + 16))) for n in range(3)]
    store.put_synthetic(written)
    store.put_synthetic([("syn-0", "another text", "{}", b"\x00" * 16)])  # a re-run generate: the first row stays
    store.put_answers({"a": "pos", "b": None}, reviewer="ana", round_number=2)
    store.claim_answers(["a"])
    store.withdraw_answer("b")
    return {
        "synthetic": sorted(store.synthetic(["syn-2", "syn-0", "nobody"])),
        "answers": store.answers(["a", "b"]),
        "machine": [m.model_dump() for m in store.machine().values()],
        "machine_before_2": list(store.machine(before_round=2)),
        "machine_for": {k: v.model_dump() for k, v in store.machine_for([*ids[::2], "nobody"]).items()},
        "machine_ids": sorted(store.machine_ids()),
        "annotated_in": [store.annotated_in(r) for r in range(4)],
        "verdicts": {k: v.model_dump() for k, v in store.verdicts().items()},
        "human": [h.model_dump() for h in store.human().values()],
        "human_before_1": list(store.human(before_round=1)),
        "relabels": {k: [c.model_dump() for c in v] for k, v in store.relabels().items()},
        "counts": store.counts(),
        "meta": [store.meta("estimate"), store.meta("nothing")],
        # the light reads: pages in id order (each database's own collation), columns without the bodies
        "iter_machine": sorted(m.id for m in store.iter_machine(page=7)),
        "iter_verdicts": sorted(v.id for v in store.iter_verdicts(["accepted", "proposed"], page=50)),
        "verdicts_for": {k: v.model_dump() for k, v in store.verdicts_for([*ids[::4], "nobody"]).items()},
        "verdict_ids": sorted(store.verdict_ids("accepted")),
        "verdict_labels": store.verdict_labels(["accepted", "proposed"]),
        "annotated_before": store.annotated_before(2),
        "open_labels": [
            (o.id, o.label, o.confidence, o.votes)
            for o in store.open_labels(before_round=3, skip={ids[2], ids[4]}, page=7)
        ],
        "open_expected": [
            (m.id, m.label, m.confidence, m.votes)
            for m in store.machine(before_round=3).values()
            if m.label is not None and m.id not in {ids[2], ids[4]}
        ],
    }


def check_light_reads(read: dict[str, Any]) -> None:
    """The light reads give what the full reads give: every row once, none of another status."""
    verdicts = read["verdicts"]
    assert read["iter_machine"] == read["machine_ids"] and len(read["machine_ids"]) == 1105
    vouched = {k: v for k, v in verdicts.items() if v["status"] in {"accepted", "proposed"}}
    assert read["iter_verdicts"] == sorted(vouched) and len(vouched) == 489
    assert read["verdict_labels"] == {k: (v["label"], v["p_correct"]) for k, v in vouched.items()}
    assert read["verdict_ids"] == sorted(k for k, v in verdicts.items() if v["status"] == "accepted")
    assert read["verdicts_for"] == {k: v for k, v in verdicts.items() if k in set(read["verdicts_for"])}
    assert len(read["verdicts_for"]) == len([k for k in verdicts if int(k[5:]) % 4 == 0]) > 100
    assert read["annotated_before"] == read["machine_before_2"]
    # the critic's light view: every labelled annotation but the skipped, in write order, a page at a time
    assert read["open_labels"] == read["open_expected"] and len(read["open_labels"]) == 733 + 5 - 2


def test_the_light_reads_match_the_full_reads(tmp_path):
    store = LabelStore(tmp_path / "labels.sqlite")
    try:
        check_light_reads(scenario(store))
    finally:
        store.close()


@pytest.mark.server  # conftest marks test_postgres.py by its name; this file marks its server tests itself
@pytest.mark.postgres
def test_every_operation_reads_back_as_in_sqlite(dsn, tmp_path):  # noqa: F811
    sqlite = LabelStore(tmp_path / "labels.sqlite")
    postgres = LabelStore.postgres(dsn, run=f"same-{uuid.uuid4().hex[:8]}")
    try:
        expected, got = scenario(sqlite), scenario(postgres)
    finally:
        sqlite.close()
        postgres.close()
    for key in expected:
        assert got[key] == expected[key], key
    check_light_reads(got)
    assert list(got["machine"][-6:][0].values())[:2] == ["item-0001", 2]  # the refreshed one moved to the end
    assert got["human"][0]["id"] == "seed-1" and got["human"][-1]["id"] == "new-1"
    assert [row[:2] for row in got["synthetic"]] == [("syn-0", "text 0"), ("syn-2", "text 2")]  # the first write stays
    assert got["synthetic"][1][3] == bytes(range(2, 18)) and got["answers"] == {"a": "pos"}
    assert got["counts"] == {
        "seed": 2,
        "human": 3,
        "set_aside": 0,
        "accepted": 244,
        "proposed": 244,
        "rejected": 243,
        "failed": 367,
    }  # fmt: skip  (ids[4] and ids[5] have people's answers, which count instead of their verdicts)
    assert [c["new_label"] for c in got["relabels"]["item-0005"]] == ["neg"]
    assert got["meta"] == ['{"second": 2}', None]


@pytest.mark.server
@pytest.mark.postgres
def test_a_round_written_twice_leaves_one_copy(open_store):
    store = open_store()
    ids = [f"item-{n:03d}" for n in range(60)]
    for _ in range(2):  # a node re-run after a crash writes its round again
        machine, verdicts, human = round_one(ids)
        store.put_machine(machine)
        store.put_verdicts(verdicts)
        store.put_human(human)
        store.put_meta("estimate", "{}")
    first = (store.machine(), store.verdicts(), store.human(), store.counts())
    again = open_store()  # and a new process sees what this one does
    assert (again.machine(), again.verdicts(), again.human(), again.counts()) == first
    assert [rows(store, table) for table in ("machine", "verdicts", "human", "meta")] == [60, 40, 3, 1]
    assert list(store.machine()) == ids  # rewritten whole, in the same order: nothing moved
    assert store.annotated_in(1) == 60 and store.relabels() == {}


@pytest.mark.server
@pytest.mark.postgres
def test_two_runs_in_one_database_see_only_their_own_labels(dsn):  # noqa: F811
    prefix = uuid.uuid4().hex[:8]
    a = LabelStore.postgres(dsn, run=f"{prefix}-a")
    b = LabelStore.postgres(dsn, run=f"{prefix}-b")
    try:
        a.put_human([HumanLabel(id="x", round=1, label="pos", kind="explore")])
        b.put_human([HumanLabel(id="x", round=1, label="neg", kind="explore")])  # the same id, another run
        a.put_machine([MachineLabel(id="y", round=1, label="pos")])
        a.put_meta("estimate", "a")
        b.relabel([("x", change("neg", "pos"))])
        assert a.human()["x"].label == "pos" and b.human()["x"].label == "pos"
        assert a.relabels() == {} and list(b.relabels()) == ["x"]
        assert b.machine() == {} and b.meta("estimate") is None and a.meta("estimate") == "a"
        assert b.counts()["human"] == 1 and a.counts()["human"] == 1
        with pytest.raises(ConflictError):  # a's answer is still "pos": b's relabel did not reach it
            a.relabel([("x", change("neg", "pos"))])
    finally:
        a.close()
        b.close()
    again = LabelStore.postgres(dsn, run=f"{prefix}-a")
    assert list(again.machine()) == ["y"] and again.human()["x"].label == "pos"
    again.close()


def test_schema_names_fit_postgres_and_keep_runs_apart():
    assert schema_for("movies-0123456789ab") == "labels_movies-0123456789ab"
    long_a, long_b = "x" * 80 + "-0123456789ab", "x" * 80 + "-ba9876543210"  # differ only past 63 bytes
    assert schema_for(long_a) != schema_for(long_b)
    assert all(len(schema_for(name).encode()) <= 63 for name in (long_a, "é" * 60 + "-1", 'a"b'))
    assert schema_for(long_a) == schema_for(long_a)


def test_an_unreachable_database_is_one_line_without_the_password():
    dsn_text = f"postgresql://u:s3cret@127.0.0.1:{free_port()}/labels"
    with pytest.raises(ConfigError) as raised:
        LabelStore.postgres(dsn_text, run="r", source="$LABELGRAPH_PG")
    message = str(raised.value)
    assert "\n" not in message and "s3cret" not in message
    assert message.startswith("cannot connect to the label store's database 127.0.0.1:") and "$LABELGRAPH_PG" in message


def test_a_run_folder_with_labels_sqlite_keeps_it(tmp_path, monkeypatch):
    """A run begun (checkpoints in Postgres) before the label store followed them: its labels stay where they are."""
    monkeypatch.setenv("LABELGRAPH_TEST_PG", f"postgresql://u@127.0.0.1:{free_port()}/nobody")
    settings = CheckpointSettings(postgres_env="LABELGRAPH_TEST_PG")
    with pytest.raises(ConfigError, match="label store's database"):
        label_store_for(settings, tmp_path, run="r")  # no labels.sqlite: Postgres (and nobody listens)
    LabelStore(tmp_path / "labels.sqlite").close()
    kept = label_store_for(settings, tmp_path, run="r")
    assert kept.path == tmp_path / "labels.sqlite"
    kept.close()
    assert label_store_for(CheckpointSettings(), tmp_path, run="r").path == tmp_path / "labels.sqlite"


def postgres_project(project: Path, *, run_dir: str = "run") -> Path:
    config = yaml.safe_load(project.read_text())
    config.update(checkpoints={"postgres_env": "LABELGRAPH_TEST_PG"}, run_dir=run_dir)
    project.write_text(yaml.safe_dump(config))
    return project


@pytest.mark.server
@pytest.mark.postgres
def test_a_run_keeps_its_labels_in_postgres_and_exports_what_sqlite_does(make_project, gold, dsn, monkeypatch):  # noqa: F811
    monkeypatch.setenv("LABELGRAPH_TEST_PG", dsn)
    seen = {}
    for where in ("sqlite", "postgres"):
        project = make_project(run_dir=f"run-{where}", budget=20)
        if where == "postgres":
            postgres_project(project, run_dir="run-postgres")
        run = Project.from_yaml(project).start()
        outcome = run.run(SimulatedHuman(gold, run.config.label_names, seed=4))
        assert outcome.phase == "done"
        out = project.parent / f"{where}.jsonl"
        run.export(out)
        seen[where] = (out.read_text(), run.store.counts(), run.store.human(), run.store.verdicts(), run.workspace)
        run.close()
    assert seen["postgres"][:4] == seen["sqlite"][:4]
    workspace = seen["postgres"][4]
    assert not (workspace.path / "labels.sqlite").exists()  # the labels went to Postgres, nothing to the folder
    import psycopg

    with psycopg.connect(dsn) as db:
        schemas = {name for (name,) in db.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'labels_%'")}
        assert schema_for(workspace.thread_id) in schemas
        (count,) = db.execute(f'SELECT COUNT(*) FROM "{schema_for(workspace.thread_id)}".human').fetchone()
    assert count == len(seen["postgres"][2]) > 0


KILLS = ["annotate:2", "critique:2", "commit:2"]
"""Inside the nodes that write the store: after the store's write, before LangGraph's checkpoint (crash_runner)."""


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> list[dict]:
    """The export of an uninterrupted run of test_crash_resume's project (on SQLite)."""
    folder = tmp_path_factory.mktemp("reference")
    write_project(folder)
    done = runner(folder / "project.yaml", folder / "labels.jsonl", env=cli_env())
    assert done.returncode == 0, done.stderr
    return read_jsonl(folder / "labels.jsonl")


def runner(project: Path, out: Path, kill: str | None = None, *, env: dict[str, str]) -> subprocess.CompletedProcess:
    args = [sys.executable, str(RUNNER), str(project), str(EXAMPLE / "gold.jsonl"), str(out)]
    return subprocess.run(args + ([kill] if kill else []), capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.server
@pytest.mark.postgres
@pytest.mark.parametrize("kill", KILLS)
def test_a_killed_run_resumes_from_postgres_to_the_same_labels(uninterrupted, kill, tmp_path, dsn):  # noqa: F811
    write_project(tmp_path)
    postgres_project(tmp_path / "project.yaml")
    env = {**cli_env(), "LABELGRAPH_TEST_PG": dsn}
    killed = runner(tmp_path / "project.yaml", tmp_path / "labels.jsonl", kill, env=env)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    resumed = runner(tmp_path / "project.yaml", tmp_path / "labels.jsonl", env=env)
    assert resumed.returncode == 0, resumed.stderr
    got = read_jsonl(tmp_path / "labels.jsonl")
    assert len({row["id"] for row in got}) == len(got)  # nothing committed twice
    assert got == uninterrupted
    assert not (tmp_path / "run" / "labels.sqlite").exists()


@pytest.mark.server
@pytest.mark.postgres
def test_the_store_outlives_its_lost_connections(cluster):  # noqa: F811
    store = LabelStore.postgres(cluster.dsn, run=f"lost-{uuid.uuid4().hex[:8]}")
    ids = [f"item-{n:03d}" for n in range(60)]
    machine, verdicts, human = round_one(ids)
    store.put_machine(machine)
    store.put_verdicts(verdicts)
    first = (store.machine(), store.verdicts())
    assert terminate_backends(cluster.dsn) >= 1  # an admin, an idle timeout or a proxy ends the store's session
    assert (store.machine(), store.verdicts()) == first
    store.put_human(human)  # and writes go on
    cluster.restart()
    assert (store.machine(), store.verdicts()) == first
    assert [h.model_dump() for h in store.human().values()] == [h.model_dump() for h in human]
    store.relabel([(ids[4], change("neg", "pos"))])
    terminate_backends(cluster.dsn)
    store.put_meta("estimate", "{}")
    assert store.human()[ids[4]].label == "pos" and list(store.relabels()) == [ids[4]]
    assert [rows(store, table) for table in ("machine", "verdicts", "human", "meta", "relabels")] == [60, 40, 3, 1, 1]
    store.close()


@pytest.mark.server
@pytest.mark.postgres
def test_a_database_that_stays_away_is_one_line_and_loses_nothing(cluster):  # noqa: F811
    run = f"away-{uuid.uuid4().hex[:8]}"
    store = LabelStore.postgres(cluster.dsn, run=run, source="$LABELGRAPH_PG", wait=2)
    ids = [f"item-{n:03d}" for n in range(30)]
    machine, verdicts, _ = round_one(ids)
    store.put_machine(machine)
    cluster.stop()
    try:
        with pytest.raises(RunError) as write:
            store.put_verdicts(verdicts)
        with pytest.raises(RunError):
            store.machine()
    finally:
        cluster.start()
    message = str(write.value)
    assert "\n" not in message and "pg-s3cret" not in message
    assert message.startswith("cannot connect to the label store's database 127.0.0.1:")
    assert "/postgres ($LABELGRAPH_PG)" in message and "tried for 2 s" in message
    assert store.machine() == {m.id: m for m in machine}  # what was written before is all there
    assert store.verdicts() == {}  # the failed write left nothing behind, and is written whole when repeated
    store.put_verdicts(verdicts)
    assert rows(store, "verdicts") == len(verdicts)
    store.close()
    again = LabelStore.postgres(cluster.dsn, run=run)
    assert list(again.machine()) == ids and len(again.verdicts()) == len(verdicts)
    again.close()


@pytest.mark.server
@pytest.mark.postgres
def test_a_schema_that_is_not_a_label_store_is_one_line(dsn):  # noqa: F811
    import psycopg

    run = f"other-{uuid.uuid4().hex[:8]}"
    with psycopg.connect(dsn, autocommit=True) as db:
        db.execute(f'CREATE SCHEMA "{schema_for(run)}"')
        db.execute(f'CREATE TABLE "{schema_for(run)}".machine (id TEXT PRIMARY KEY, round INTEGER, text TEXT)')
    with pytest.raises(ConfigError) as raised:
        LabelStore.postgres(dsn, run=run, source="$LABELGRAPH_PG")
    message = str(raised.value)
    assert "\n" not in message and "pg-s3cret" not in message
    schema = schema_for(run)
    assert message.startswith(f'the schema "{schema}" ($LABELGRAPH_PG) is not a label store: its table machine')
    with psycopg.connect(dsn) as db:  # and nothing was added to it
        tables = db.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,))
        assert [name for (name,) in tables] == ["machine"]
