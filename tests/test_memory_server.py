"""Memory on a real Chroma server (``chroma run`` on 127.0.0.1, started here): same behaviour as embedded."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from labelgraph.agents.human import SimulatedHuman
from labelgraph.memory import Memory
from labelgraph.session.run import Project
from tests.service_helpers import console_script, free_port, wait_until_up

CHROMA = console_script("chroma")


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory):
    if CHROMA is None:
        pytest.fail("the chroma command (from the chromadb package) is missing")
    port = free_port()
    folder = tmp_path_factory.mktemp("chroma")
    process = subprocess.Popen(
        [CHROMA, "run", "--path", str(folder), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    wait_until_up(f"{url}/api/v2/heartbeat", process, timeout=60)
    yield url
    process.terminate()
    process.wait(timeout=30)


def test_a_run_on_a_chroma_server_labels_like_an_embedded_one(make_project, gold, tmp_path, chroma_url):
    exports, people_of, thread_of = {}, {}, {}
    for where in ("embedded", "server"):
        project = make_project(run_dir=f"run-{where}", budget=20)
        if where == "server":
            config = yaml.safe_load(project.read_text())
            config["memory"] = {"url": chroma_url}
            project.write_text(yaml.safe_dump(config))
        run = Project.from_yaml(project).start()
        run.run(SimulatedHuman(gold, run.config.label_names, noise=0.1, seed=2))
        labels = run.labels()
        people = {r.id for r in labels if r.status in {"seed", "human"}}
        # the memory holds people's labels and seeds only; the machine lane's labels stay in the label store
        assert len(people) == 6 + 20 and len(labels) > len(people)
        assert run.memory.ids() == people and run.memory.count() == len(people)
        people_of[where], thread_of[where] = people, run.workspace.thread_id
        out = tmp_path / f"{where}.jsonl"
        run.export(out)
        exports[where] = out.read_text()
    assert exports["server"] == exports["embedded"]
    # the server run's labels are on the server, in the run's own collection; the embedded run wrote none there
    assert Memory.server(chroma_url, collection=thread_of["server"]).ids() == people_of["server"]
    assert Memory.server(chroma_url, collection=thread_of["embedded"]).count() == 0
    assert not (tmp_path / "run-server" / "memory").exists()  # nothing embedded was written


def test_an_embedded_memory_after_a_server_one_stays_embedded(tmp_path, chroma_url):
    """chromadb's HttpClient rewrites the Settings object it is given; each client must get its own."""
    Memory.server(chroma_url, collection="first-run").count()  # connects (the client is made at first use)
    embedded = Memory.embedded(tmp_path / "memory")
    assert embedded.count() == 0 and (tmp_path / "memory").exists()
