"""Generated hostile inputs, shared by the CI fuzz test (tests/test_fuzz.py) and its long form
(benchmarks/fuzz_inputs.py).

Three families, all of which fail (or pass) before any embedding model loads:

- ``project``: project files with hostile settings, hostile YAML (deep, alias bombs, tags, bytes) and files
  that are not files;
- ``data``: pool, seed, test and answers files with hostile rows, bytes and columns;
- ``run``: a run folder with one file damaged (truncated, flipped, garbage, gone, a folder, a FIFO...).

``attempt`` runs a case in a thread with a time limit and sorts the outcome: ``accepted`` (the oracle found
nothing wrong), ``refused`` (a LabelgraphError, or an OSError: the CLI prints either as one line), ``traceback``
(anything else), ``hang`` (still running at the limit) or ``wrongly_accepted`` (accepted, but the oracle names a
broken promise).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import sqlite3
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from labelgraph.config import ProjectConfig, load_project
from labelgraph.data import read_answers
from labelgraph.errors import LabelgraphError
from labelgraph.session.workspace import Workspace

LABELS = ["positive", "negative"]
EMBEDDER = "tests.fuzz_cases:HashEmbedder"


class HashEmbedder:
    """Vectors from a hash of the text: instant, deterministic, unit length (no model to load)."""

    name = "hash"
    dim = 16

    def embed(self, texts: list[str]) -> np.ndarray:
        rows = [np.frombuffer(hashlib.sha256(t.encode()).digest()[:16], np.uint8) for t in texts]
        vectors = np.array(rows, dtype=np.float32).reshape(len(texts), self.dim) - 127.5
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True).clip(1e-6)


@dataclass
class Case:
    family: str
    name: str
    call: Callable[[], list[str]]
    """Runs the case; returns the oracle's complaints about what was accepted ([] when all is well)."""


@dataclass
class Outcome:
    case: Case
    result: str
    detail: str
    seconds: float


def attempt(case: Case, timeout: float) -> Outcome:
    """Run ``case`` in a thread for at most ``timeout`` seconds and sort what happened."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["complaints"] = case.call()
        except (LabelgraphError, OSError) as error:
            box["refused"] = error
        except BaseException as error:  # what the CLI would show as a traceback
            box["error"] = "".join(traceback.format_exception(error)[-6:])

    started = time.perf_counter()
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    seconds = time.perf_counter() - started
    if thread.is_alive():
        return Outcome(case, "hang", f"still running after {timeout} s", seconds)
    if "error" in box:
        return Outcome(case, "traceback", box["error"], seconds)
    if "refused" in box:
        return Outcome(case, "refused", str(box["refused"])[:300], seconds)
    complaints = box["complaints"]
    return Outcome(case, "wrongly_accepted" if complaints else "accepted", "; ".join(complaints)[:300], seconds)


# -- a valid project to start from ----------------------------------------------------------------------


def rows(prefix: str, count: int, *, labelled: bool) -> list[dict[str, Any]]:
    out = []
    for i in range(count):
        row: dict[str, Any] = {"id": f"{prefix}{i}", "text": f"{prefix} text number {i}, a film", "note": i}
        if labelled:
            row["label"] = LABELS[i % 2]
        out.append(row)
    return out


def jsonl(items: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(row) + "\n" for row in items).encode()


SETTINGS: dict[str, str] = {
    "name": "fuzz",
    "pool": "pool.jsonl",
    "seed": "seed.jsonl",
    "test": "test.jsonl",
    "labels": "[positive, negative]",
    "batch_size": "4",
    "budget": "8",
    "embedding_model": f"'{EMBEDDER}'",
    "run_dir": "run",
}


def yaml_text(settings: dict[str, str]) -> str:
    return "".join(f"{key}: {value}\n" for key, value in settings.items())


def write_inputs(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pool.jsonl").write_bytes(jsonl(rows("p", 12, labelled=False)))
    (folder / "seed.jsonl").write_bytes(jsonl(rows("s", 4, labelled=True)))
    (folder / "test.jsonl").write_bytes(jsonl(rows("t", 4, labelled=True)))
    (folder / "project.yaml").write_text(yaml_text(SETTINGS))


# -- what a load may accept ------------------------------------------------------------------------------


def _strings(value: Any) -> list[str]:
    stack, out = [value], []
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
        elif isinstance(item, str):
            out.append(item)
    return out


def _unencodable(texts: list[str]) -> bool:
    try:
        for text in texts:
            text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def config_complaints(config: ProjectConfig, folder: Path) -> list[str]:
    """Promises a loaded project keeps: the checks the issue asked for."""
    dumped = config.model_dump(mode="python")
    out = []
    if not 0 <= config.random_seed < 2**32:
        out.append(f"random_seed {config.random_seed}")
    if not config.embedding_model.strip() or (config.llm and not config.llm.model.strip()):
        out.append("a blank model name")
    names = list(config.labels)
    if len(names) < 2 or any(not isinstance(n, str) or not n.strip() or not n.isprintable() for n in names):
        out.append(f"labels {names!r}")
    if _unencodable(_strings(dumped)):
        out.append("a lone surrogate in a setting")
    floats = [v for v in json.loads(config.model_dump_json()).values() if isinstance(v, float)]
    if any(v != v or v in (float("inf"), float("-inf")) for v in floats):
        out.append("a number that is not finite")
    run_dir = Path(os.path.realpath(config.run_dir or folder))
    inputs = [folder, config.pool, config.seed, config.test]
    if any(path is not None and Path(os.path.realpath(path)).is_relative_to(run_dir) for path in inputs):
        out.append(f"run_dir {run_dir} holds the project or its inputs")
    return out


def workspace_complaints(workspace: Workspace, config: ProjectConfig) -> list[str]:
    """Promises of an opened run folder: clean texts, unique ids, known labels, a vector each."""
    out = []
    ids = [item.id for item in workspace.items]
    if len(set(ids)) != len(ids):
        out.append("duplicate ids")
    for item in [*workspace.items, *workspace.test_items]:
        if not isinstance(item.text, str) or not item.text.strip() or len(item.text) > config.max_text_chars:
            out.append(f"item {item.id!r}: bad text")
        if item.label is not None and item.label not in config.labels:
            out.append(f"item {item.id!r}: unknown label {item.label!r}")
        if _unencodable([item.id, item.text, *_strings(item.meta)]):
            out.append(f"item {item.id!r}: a lone surrogate")
    if workspace.vectors.shape[0] != len(workspace.items) or not np.isfinite(workspace.vectors).all():
        out.append("vectors do not match the items")
    return out[:3]


def plugin_complaints(config: ProjectConfig) -> list[str]:
    """What ``labelgraph run`` checks before the run folder exists, and whether a plug-in annotator is one."""
    from labelgraph.agents.annotator import Annotator
    from labelgraph.plugins import load_object
    from labelgraph.session.wiring import BUILT_IN_ANNOTATORS, check_plugins

    check_plugins(config)
    if config.annotator in BUILT_IN_ANNOTATORS:
        return []
    factory = load_object(config.annotator, kind="annotator")
    try:
        made = factory(config) if callable(factory) else factory
    except Exception as error:  # what Run() would meet after the folder is written
        return [f"annotator {config.annotator!r} passed the plug-in check, but building it fails: {error}"]
    return [] if isinstance(made, Annotator) else [f"annotator {config.annotator!r} is not an annotator"]


def create_and_open(project: Path) -> list[str]:
    """Load a project, check its plug-ins, write its run folder with the hash embedder and open it again;
    the oracle's complaints."""
    config = load_project(project)
    complaints = config_complaints(config, project.parent) or plugin_complaints(config)
    if complaints:
        return complaints
    Workspace.create(config, embedder=HashEmbedder())
    assert config.run_dir is not None
    return workspace_complaints(Workspace.open(config.run_dir), config)


# -- hostile values and bytes ----------------------------------------------------------------------------

YAML_VALUES = [
    "-1", "0", "1", "4294967296", "18446744073709551616", "1e308", ".nan", "-.inf", ".inf", "''", "' '",
    '"\\0"', '"\\ud83d"', '"a\\ud800b"', "[]", "{}", "[a, b]", "[a]", "[a, a, b]", "{a: 1}", "{a: [x], b: y}",
    "true", "no", "null", "~", "'../..'", "'.'", "/", "/dev/zero", "os:getcwd", "'💥'", "'a\\nb'",
    "!!omap [a: x, b: y]", "!!set {a, b}", "!!binary aGk=", "2024-01-01", "0x1F", "0o17", "1_000", "'1'",
    "[[[[[[]]]]]]", "!!python/name:os.system", "!!str 1", "!custom x", "'x' ", "[yes, no]", "[1, 2]",
    "{1: a, 2: b}", "[[a], [b]]", "pool.jsonl", "seed.jsonl", "run", "'*'", "0.5", "-0.0", "1.5", "100000000",
    "{model: ''}", "{model: x, timeout: .inf}", "{cs: [0]}", "{cs: []}", "{cs: [.nan]}", "{scope: 2.0}",
    "{target_accuracy: 1.5}", "{url: 'ftp://x'}", "[{path: ''}]", "[{path: 'no.such:thing'}]",
]  # fmt: skip
KEYS = [
    "name", "pool", "labels", "text_field", "id_field", "label_field", "seed", "test", "batch_size", "budget",
    "max_rounds", "strategy", "annotator", "embedding_model", "run_dir", "random_seed", "max_text_chars",
    "neighbours", "tool_steps", "llm", "critic", "quality", "machine", "memory", "checkpoints", "tools",
    "generator", "stop_when_stable", "student_learns_from", "critic_llm", "colour",
]  # fmt: skip
JSON_VALUES = [
    "null", "true", "1", "-0", "1e999", "NaN", "-Infinity", '"\\ud83d"', '"\\udfff x"', '"\\u0000"', '""',
    '" "', "[]", "{}", "[1, [2, [3]]]", "[" * 70 + "]" * 70, "[" * 1000 + "]" * 1000, '"' + "x" * 25_000 + '"',
    "1" * 5000, '{"a": "\\ud800"}', '"💥"', '"\\n"', "12345678901234567890", "0.1", '"positive"', '"neutral"',
    '"p0"', '"s1"', '{"a": ' * 80 + "1" + "}" * 80,
]  # fmt: skip


def flip(data: bytes, rng: random.Random, count: int) -> bytes:
    out = bytearray(data)
    for _ in range(count if out else 0):
        out[rng.randrange(len(out))] = rng.randrange(256)
    return bytes(out)


def swap_for_a_non_file(path: Path, rng: random.Random) -> str:
    """Replace ``path`` with something that is not a regular file; the name of what."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
    kind = rng.choice(["folder", "fifo", "loop", "dev-zero", "missing", "dangling"])
    if kind == "folder":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "loop":
        path.symlink_to(path.name)
    elif kind == "dev-zero":
        path.symlink_to("/dev/zero")
    elif kind == "dangling":
        path.symlink_to("nowhere")
    return kind


def billion_laughs(levels: int, fanout: int) -> str:
    lines = [f"  l0: &l0 [{', '.join(['lol'] * fanout)}]"]
    lines += [f"  l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * fanout)}]" for i in range(1, levels + 1)]
    return "x:\n" + "\n".join(lines) + "\n"


# -- the families -----------------------------------------------------------------------------------------


def project_case(rng: random.Random, folder: Path) -> Case:
    write_inputs(folder)
    project = folder / "project.yaml"
    settings = dict(SETTINGS)
    head = yaml_text(SETTINGS)
    kind = rng.choice(["setting", "setting", "setting", "settings", "structure", "bytes", "file"])
    if kind in {"setting", "settings"}:
        for _ in range(1 if kind == "setting" else rng.randint(2, 5)):
            settings[rng.choice(KEYS)] = rng.choice(YAML_VALUES)
        project.write_text(yaml_text(settings))
        name = ", ".join(f"{k}={settings[k]}" for k in settings if settings[k] != SETTINGS.get(k))[:120]
    elif kind == "structure":
        shape = rng.choice(["deep-flow", "deep-block", "bomb", "cycle", "merge", "twice", "docs", "big", "top"])
        text = {
            "deep-flow": lambda: head + "x: " + "[" * (n := rng.randint(90, 3000)) + "]" * n + "\n",
            "deep-block": lambda: head + "".join("  " * i + f"k{i}:\n" for i in range(rng.randint(90, 400))),
            "bomb": lambda: head + billion_laughs(rng.randint(3, 12), rng.randint(2, 12)),
            "cycle": lambda: head + "x: &a [1, {b: *a}]\n",
            "merge": lambda: "base: &b {batch_size: 4, budget: 8}\n" + head + "<<: *b\n",
            "twice": lambda: head + "labels: [a, b]\n",
            "docs": lambda: head + "---\n" + head,
            "big": lambda: head + "# " + "x" * rng.choice([999_000, 1_000_001, 3_000_000]) + "\n",
            "top": lambda: rng.choice(["", "# nothing\n", "[1, 2]\n", "just text\n", "42\n", "null\n"]),
        }[shape]()
        project.write_text(text, encoding="utf-8")
        name = f"structure {shape}"
    elif kind == "bytes":
        data = head.encode()
        how = rng.choice(["truncate", "flip", "insert", "not-utf8", "bom", "nul", "tabs"])
        if how == "truncate":
            data = data[: rng.randrange(len(data))]
        elif how == "flip":
            data = flip(data, rng, rng.randint(1, 8))
        elif how == "insert":
            at = rng.randrange(len(data))
            data = (
                data[:at] + bytes(rng.choice(b":-[]{}&*!|>'\"%@`#,\n\t ") for _ in range(rng.randint(1, 6))) + data[at:]
            )
        elif how == "not-utf8":
            data += b"x: caf\xe9\n"
        elif how == "bom":
            data = b"\xef\xbb\xbf" + data
        elif how == "nul":
            data += b"x: a\x00b\n"
        else:
            data = data.replace(b"\n", b"\n\t", 2)
        project.write_bytes(data)
        name = f"bytes {how}"
    else:
        name = f"project file {swap_for_a_non_file(project, rng)}"
    return Case("project", name, lambda: create_and_open(project))


def _line(row: dict[str, Any], field: str, raw: str) -> str:
    """A JSON line for ``row`` with ``field`` set to the raw JSON text ``raw``."""
    parts = [f"{json.dumps(k)}: {json.dumps(v)}" for k, v in row.items() if k != field]
    return "{" + ", ".join([*parts, f"{json.dumps(field)}: {raw}"]) + "}"


def data_case(rng: random.Random, folder: Path) -> Case:
    write_inputs(folder)
    target = rng.choice(["pool", "pool", "seed", "test", "answers", "pool-csv"])
    if target == "answers":
        return answers_case(rng, folder)
    settings = dict(SETTINGS)
    labelled = target in {"seed", "test"}
    base = rows(target[0], 12 if target.startswith("pool") else 4, labelled=labelled)
    lines = [json.dumps(row) for row in base]
    how = rng.choice(["value", "value", "value", "drop", "rename", "twice", "line", "bytes", "file", "field"])
    detail = how
    if how == "value":
        index, field = rng.randrange(len(base)), rng.choice(["text", "id", "label", "note", "extra"])
        raw = rng.choice(JSON_VALUES)
        lines[index] = _line(base[index], field, raw)
        detail = f"{field}={raw[:30]}"
    elif how == "drop":
        index = rng.randrange(len(base))
        row = dict(base[index])
        row.pop(rng.choice(list(row)))
        lines[index] = json.dumps(row)
    elif how == "rename":
        for index, row in enumerate(base):
            lines[index] = json.dumps({("body" if k == "text" else k): v for k, v in row.items()})
    elif how == "twice":
        lines.append(lines[rng.randrange(len(lines))])
    elif how == "line":
        extra = rng.choice(["[]", "1", '"x"', "null", "{", '{"text": }', "[" * 1000, "", "   ", "\ufeff{}"])
        lines.insert(rng.randrange(len(lines) + 1), extra)
        detail = f"line {extra[:20]!r}"
    elif how == "field":
        key = rng.choice(["text_field", "id_field", "label_field"])
        settings[key] = rng.choice(["body", "note", "id", "label", "text", "''", '"\\ud83d"'])
        detail = f"{key}={settings[key]}"
    data = ("\n".join(lines) + "\n").encode("utf-8", "surrogatepass")
    if how == "bytes":
        data = rng.choice(
            [
                lambda: data[: rng.randrange(len(data))],
                lambda: flip(data, rng, rng.randint(1, 20)),
                lambda: b"\xef\xbb\xbf" + data,
                lambda: data.replace(b"\n", b"\r\n"),
                lambda: data + b'{"text": "caf\xe9"}\n',
                lambda: b"",
            ]
        )()
    name = {"pool": "pool.jsonl", "pool-csv": "pool.jsonl", "seed": "seed.jsonl", "test": "test.jsonl"}[target]
    path = folder / name
    if target == "pool-csv":
        path = folder / "pool.csv"
        settings["pool"] = "pool.csv"
        data = csv_bytes(rng, base)
        detail = "csv"
    path.write_bytes(data)
    if how == "file":
        detail = f"{name} {swap_for_a_non_file(path, rng)}"
    (folder / "project.yaml").write_text(yaml_text(settings))
    return Case("data", f"{target}: {detail}", lambda: create_and_open(folder / "project.yaml"))


def csv_bytes(rng: random.Random, base: list[dict[str, Any]]) -> bytes:
    lines = ["id,text,note"] + [f"{row['id']},{row['text'].replace(',', '')},{row['note']}" for row in base]
    at = rng.randrange(len(lines))
    lines[at] = rng.choice(
        ["", "a,b,c,d", '"open quote,x,1', "x,\x00,1", "id,text", ",,", "only", "y," + "z" * 25_000 + ",1", "\ufeff"]
    )
    return ("\n".join(lines) + "\n").encode()


def answers_case(rng: random.Random, folder: Path) -> Case:
    lines = [json.dumps({"id": f"p{i}", "label": LABELS[i % 2]}) for i in range(6)]
    how = rng.choice(["value", "value", "twice", "null-twice", "drop", "line", "file"])
    if how == "value":
        index, field, raw = rng.randrange(6), rng.choice(["id", "label"]), rng.choice(JSON_VALUES)
        lines[index] = _line({"id": f"p{index}", "label": "positive"}, field, raw)
        how = f"{field}={raw[:30]}"
    elif how == "twice":
        lines.append(lines[rng.randrange(6)])
    elif how == "null-twice":
        lines.append(json.dumps({"id": "p0", "label": None}))
    elif how == "drop":
        lines[rng.randrange(6)] = json.dumps({"id": "p1"})
    elif how == "line":
        lines.insert(rng.randrange(7), rng.choice(["[]", "{", "[" * 2000, "1", '"\\ud83d"']))
    path = folder / "answers.jsonl"
    path.write_bytes(("\n".join(lines) + "\n").encode())
    if how == "file":
        how = f"file {swap_for_a_non_file(path, rng)}"

    def call() -> list[str]:
        given = read_answers(path)
        ids = [answer.id for answer in given]
        out = ["an id twice"] if len(set(ids)) != len(ids) else []
        if _unencodable([text for answer in given for text in (answer.id, answer.label or "")]):
            out.append("a lone surrogate")
        return out

    return Case("data", f"answers: {how}", call)


def template_run(folder: Path) -> Path:
    """A run folder of the base project with every SQLite file the product keeps (tables, a few rows)."""
    write_inputs(folder)
    config = load_project(folder / "project.yaml")
    Workspace.create(config, embedder=HashEmbedder())
    assert config.run_dir is not None
    (config.run_dir / "memory").mkdir(exist_ok=True)
    for name in ("checkpoints.sqlite", "reviews.sqlite", "labels.sqlite", "synthetic.sqlite", "memory/chroma.sqlite3"):
        with sqlite3.connect(config.run_dir / name) as db:
            db.execute("CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY, v BLOB)")
            db.executemany("INSERT OR REPLACE INTO t VALUES (?, ?)", [(str(i), os.urandom(300)) for i in range(40)])
        db.close()
    return config.run_dir


def damage(run: Path, rng: random.Random) -> str:
    """Damage one file of a run folder at random; say how."""
    files = sorted(p for p in run.rglob("*") if p.is_file() and p.name != ".lock" and not p.name.endswith("-wal"))
    path = rng.choice(files)
    data = path.read_bytes()
    how = rng.choice(["truncate", "flip", "page", "garbage", "empty", "append", "file", "json"])
    if how == "truncate":
        path.write_bytes(data[: rng.randrange(len(data) or 1)])
    elif how == "flip":
        path.write_bytes(flip(data, rng, rng.randint(1, 50)))
    elif how == "page":
        at = rng.randrange(max(len(data) - 4096, 1))
        path.write_bytes(data[:at] + bytes(4096) + data[at + 4096 :])
    elif how == "garbage":
        path.write_bytes(rng.randbytes(rng.choice([10, 100, 4096, len(data) or 1])))
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "append":
        path.write_bytes(data + rng.randbytes(rng.randint(1, 5000)))
    elif how == "file":
        how = f"file {swap_for_a_non_file(path, rng)}"
    else:
        path = run / "run.json"
        meta = json.loads(path.read_text())
        key = rng.choice(["thread_id", "config", "config.labels", "config.pool", "config.random_seed", "config.name"])
        holder = meta["config"] if key.startswith("config.") else meta
        leaf = key.split(".")[-1]
        if rng.random() < 0.3:
            holder.pop(leaf, None)
        else:
            holder[leaf] = rng.choice([None, 1, -1, "", [], {}, "x" * 10, [[[]]], 2**70, "\ud83d"])
        path.write_text(json.dumps(meta))
        how = f"json {key}"
    return f"{path.relative_to(run)} {how}"


def run_case(rng: random.Random, folder: Path, template: Path, deep: Callable[[Path], list[str]] | None) -> Case:
    """A copy of the ``template`` run folder with one file damaged; ``deep`` goes on with a folder that opens."""
    run = folder / "run"
    shutil.copytree(template, run, symlinks=True)
    name = damage(run, rng)

    def call() -> list[str]:
        Workspace.open(run)
        return deep(run) if deep is not None else []

    return Case("run", name, call)


def generate(
    count: int, seed: int, root: Path, template: Path, deep: Callable[[Path], list[str]] | None = None
) -> list[Case]:
    """``count`` cases (project 40 %, data 40 %, run 20 %), each in its own folder under ``root``."""
    rng = random.Random(seed)
    cases = []
    for index in range(count):
        folder = root / f"case-{index:05d}"
        pick = rng.random()
        if pick < 0.4:
            cases.append(project_case(rng, folder))
        elif pick < 0.8:
            cases.append(data_case(rng, folder))
        else:
            folder.mkdir(parents=True)
            cases.append(run_case(rng, folder, template, deep))
    return cases
