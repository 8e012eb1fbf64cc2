"""Students with the real model: the fine-tuned one trains, keeps itself in the run folder and comes back; a
run's student exports to a folder that a fresh process reloads to the same predictions; bad input to ``predict``
is one line."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from labelgraph.agents.human import SimulatedHuman
from labelgraph.config import StudentSettings
from labelgraph.session.run import Project
from labelgraph.student.finetune import FinetunedStudent
from labelgraph.student.folder import Head, fit_temperature, load_model
from labelgraph.student.models import evaluate
from tests.conftest import EXAMPLE, cli_env, read_jsonl, run_cli

SMALL = {"kind": "finetune", "min_labels": 20, "epochs": 1, "max_length": 48, "batch_size": 8}


def _example(n: int) -> tuple[list[str], list[str]]:
    rows = read_jsonl(EXAMPLE / "gold.jsonl")[:n]
    texts = {row["id"]: row["text"] for row in read_jsonl(EXAMPLE / "pool.jsonl")}
    return [texts[row["id"]] for row in rows], [row["label"] for row in rows]


def test_student_settings_take_a_kind_or_a_mapping():
    assert StudentSettings.model_validate("finetune").kind == "finetune"
    assert StudentSettings.model_validate({"kind": "logistic"}).kind == "logistic"
    with pytest.raises(ValidationError, match="logistic, finetune or module:Class"):
        StudentSettings.model_validate("bert")


def test_temperature_softens_an_overconfident_head():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(400, 5))
    y = (vectors[:, 0] + rng.normal(scale=1.0, size=400) > 0).astype(int)  # a noisy rule: 75% or so
    head = Head(weight=np.array([[-20.0, 0, 0, 0, 0], [20.0, 0, 0, 0, 0]]), bias=np.zeros(2))

    def log_loss(h: Head) -> float:
        return float(-np.log(h.proba(vectors)[np.arange(len(y)), y]).mean())

    head.temperature = fit_temperature(head, vectors, y)
    assert head.temperature > 3  # overconfident by far: a high temperature
    assert log_loss(head) < log_loss(Head(weight=head.weight, bias=head.bias)) - 0.5


def test_finetuned_student_trains_keeps_itself_and_comes_back(tmp_path):
    texts, labels = _example(80)
    settings = StudentSettings.model_validate(SMALL)
    student = FinetunedStudent(["negative", "positive"], settings, folder=tmp_path / "student")
    pretrained = next(student.encoder.parameters()).detach().clone()

    student.fit(texts[:10], labels[:10])  # below min_labels: no tune, a head on the pretrained encoder
    assert student.tuned_on == 0 and student.is_informative
    assert not (tmp_path / "student").exists()

    student.fit(texts[:60], labels[:60])
    assert student.tuned_on == 60
    assert not np.allclose(next(student.encoder.parameters()).detach().numpy(), pretrained.numpy())
    probs = student.predict_proba(texts[60:])
    assert probs.shape == (20, 2) and np.allclose(probs.sum(axis=1), 1)
    assert evaluate(student, texts[60:], labels[60:])["accuracy"] >= 0.6  # above chance on unseen texts

    student.fit(texts[:65], labels[:65])  # grew by less than retune_growth: the tuned student stays
    assert student.tuned_on == 60

    again = FinetunedStudent(["negative", "positive"], settings, folder=tmp_path / "student")
    again.fit(texts[:65], labels[:65])  # the kept student comes back: no tune, same predictions
    assert again.tuned_on == 60
    assert np.allclose(again.predict_proba(texts[60:]), probs, atol=1e-5)

    moved = settings.model_copy(update={"model": str(tmp_path / "student" / "encoder")})  # another base encoder
    other = FinetunedStudent(["negative", "positive"], moved, folder=tmp_path / "student")
    assert other.encoder is not None and other.tuned_on == 0  # the kept student was tuned from minilm: not reused


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A short run with the fine-tuned student, its answers given by a simulated person."""
    folder = tmp_path_factory.mktemp("finetuned")
    gold = {row["id"]: row["label"] for row in read_jsonl(EXAMPLE / "gold.jsonl")}
    for name, size in (("pool", 80), ("seed", 10), ("test", 60)):
        rows = read_jsonl(EXAMPLE / f"{name}.jsonl")[:size]
        (folder / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    project = {
        "name": "ft",
        "pool": "pool.jsonl",
        "seed": "seed.jsonl",
        "test": "test.jsonl",
        "labels": ["negative", "positive"],
        "batch_size": 10,
        "budget": 20,
        "max_rounds": 2,
        "annotator": "none",
        "student": SMALL,
        "run_dir": "run",
    }
    (folder / "project.json").write_text(json.dumps(project), encoding="utf-8")
    run = Project.from_yaml(folder / "project.json").start()
    run.run(SimulatedHuman(gold, ["negative", "positive"]))
    run.close()
    return folder


def test_exported_student_predicts_the_same_in_a_fresh_process(finished, tmp_path):
    exported = run_cli("export", finished / "run", "--model", tmp_path / "model")
    assert exported.returncode == 0, exported.stderr
    head = json.loads((tmp_path / "model" / "head.json").read_text())
    assert head["labels"] == ["negative", "positive"] and head["trained_on"] >= 20
    readme = (tmp_path / "model" / "README.md").read_text()
    assert "fine-tuned on" in readme
    call = re.search(r"`(labelgraph\.load_model\(FOLDER\)\.predict\(texts\))`", readme).group(1)
    folder = repr(str(tmp_path / "model"))
    code = f"import labelgraph; texts = ['a moving film']; print({call.replace('FOLDER', folder)})"
    said = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=cli_env(), timeout=300)
    assert said.returncode == 0 and ("negative" in said.stdout or "positive" in said.stdout), said.stderr

    done = run_cli("predict", tmp_path / "model", finished / "test.jsonl", "-o", tmp_path / "out.jsonl")
    assert done.returncode == 0, done.stderr
    fresh = read_jsonl(tmp_path / "out.jsonl")
    here = load_model(tmp_path / "model").predict([row["text"] for row in read_jsonl(finished / "test.jsonl")])
    assert [row["label"] for row in fresh] == [label for label, _ in here]
    assert np.allclose([row["probability"] for row in fresh], [p for _, p in here], atol=1e-4)
    gold = [row["label"] for row in read_jsonl(finished / "test.jsonl")]
    assert np.mean([row["label"] == g for row, g in zip(fresh, gold, strict=True)]) >= 0.6


def test_logistic_student_exports_with_its_frozen_encoder(make_project, tmp_path, gold):
    run = Project.from_yaml(make_project(annotator="none", max_rounds=1, budget=10)).start()
    run.run(SimulatedHuman(gold, run.config.label_names))
    ids = run.context.pool_ids[:40]
    in_run = run.context.predict(run.context.student(), ids)
    run.export_model(tmp_path / "model")
    exported = load_model(tmp_path / "model").predict_proba([item.text for item in run.context.items(ids)])
    people = sum(answer.label is not None for answer in run.store.human().values())  # answers and seeds
    run.close()
    readme = (tmp_path / "model" / "README.md").read_text()
    assert f": {people} from people or seeds (weight 1), 0 machine labels" in readme
    assert np.allclose(exported, in_run, atol=1e-3)  # the same head over the same model's vectors


def test_predict_and_export_refuse_bad_input_in_one_line(finished, tmp_path):
    model = tmp_path / "model"
    assert run_cli("export", finished / "run", "--model", model).returncode == 0
    not_empty = run_cli("export", finished / "run", "--model", model)
    texts = tmp_path / "texts.jsonl"
    texts.write_text('{"text": "a fine film"}\n{"text": 3.5e}\n', encoding="utf-8")
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "encoder").mkdir()
    (damaged / "head.json").write_text('{"labels": ["a"]', encoding="utf-8")
    cases = {
        "not empty": (not_empty, "not an empty folder"),
        "nothing asked": (run_cli("export", finished / "run"), "say what to export"),
        "no model": (run_cli("predict", tmp_path / "nowhere", texts), "not a labelgraph student folder"),
        "damaged head": (run_cli("predict", damaged, texts), "head.json is damaged"),
        "bad line": (run_cli("predict", model, texts), "texts.jsonl"),
        "no file": (run_cli("predict", model, tmp_path / "missing.csv"), "missing.csv"),
    }
    for name, (result, message) in cases.items():
        assert result.returncode != 0, name
        assert message in result.stderr, (name, result.stderr)
        assert "Traceback" not in result.stderr, name
        assert len(result.stderr.strip().splitlines()) <= 2, (name, result.stderr)


@pytest.mark.slow  # 10 s: a run and its resume in two processes; make test-all runs it
def test_a_resumed_student_reads_its_vectors_from_the_run_folder(tmp_path, monkeypatch):
    """The tuned encoder's vectors are kept beside ``student/`` by encoder version: a new process (a resumed run)
    reads them instead of embedding its pool again, with the same probabilities; a new tune makes them afresh."""
    from sentence_transformers import SentenceTransformer

    texts, labels = _example(80)
    settings = StudentSettings.model_validate(SMALL)
    student = FinetunedStudent(["negative", "positive"], settings, folder=tmp_path / "student")
    student.fit(texts[:60], labels[:60])
    probs = student.predict_proba(texts)
    kept = list((tmp_path / "student_vectors").iterdir())
    assert student.tuned_on == 60 and len(kept) == 1  # one version: the pretrained encoder's vectors are gone

    encoded: list[int] = []
    real = SentenceTransformer.encode

    def counted(self, sentences, *args, **kwargs):
        encoded.append(len(sentences))
        return real(self, sentences, *args, **kwargs)

    monkeypatch.setattr(SentenceTransformer, "encode", counted)
    again = FinetunedStudent(["negative", "positive"], settings, folder=tmp_path / "student")
    again.fit(texts[:65], labels[:65])  # no tune: the kept student, its kept vectors
    assert np.allclose(again.predict_proba(texts), probs, atol=1e-6)
    assert encoded == []  # every text's vector came from the run folder

    again.fit(texts, labels)  # grew by a third: a warm tune, a new version; the old vectors go
    again.predict_proba(texts)
    assert sum(encoded) == 80 and list((tmp_path / "student_vectors").iterdir()) != kept
