"""Run the real graph on a dataset with gold labels, a simulated person, and each strategy x seed.

Each run is an ordinary run folder under ``OUT/runs/``: re-running the same eval resumes unfinished runs and
reuses finished ones, and a run is deterministic for its seed.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field, model_validator

from labelgraph.agents.annotator import Annotator
from labelgraph.agents.human import SimulatedHuman
from labelgraph.config import LLMSettings, ProjectConfig
from labelgraph.errors import ConfigError
from labelgraph.evals.annotators import NoAnnotator, ReplayAnnotator, SimulatedAnnotator
from labelgraph.evals.datasets import CachedEmbedder, Dataset
from labelgraph.evals.metrics import aulc, labels_to_reach, mean_std
from labelgraph.models import LogisticRegressionStudent, evaluate
from labelgraph.run import Project, Run
from labelgraph.strategies import get_strategy

__all__ = ["EvalSpec", "full_supervision", "run_eval"]


class EvalSpec(BaseModel):
    """What to simulate."""

    strategies: list[str] = Field(min_length=1)
    annotator: str = "embedded"  # none | embedded | llm | replay:FILE | simulated:ACC
    seed_size: int = Field(20, ge=0)
    batch_size: int = Field(20, ge=1)
    budget: int = Field(200, ge=1)
    rounds: int = Field(20, ge=1)
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2], min_length=1)
    noise: float = Field(0.0, ge=0, le=1)
    llm: LLMSettings | None = None
    critic: Literal["on", "off"] = "on"

    @model_validator(mode="after")
    def _consistent(self) -> EvalSpec:
        if self.budget < self.batch_size:
            raise ValueError(f"budget ({self.budget}) is smaller than one batch ({self.batch_size})")
        if (self.annotator == "llm" or "llm" in self.strategies) and self.llm is None:
            raise ValueError("annotator or strategy 'llm' needs a model (--llm-model; --llm-base-url for a server)")
        kind, _, arg = self.annotator.partition(":")
        if kind not in {"none", "embedded", "llm", "replay", "simulated"}:
            raise ValueError(f"unknown annotator {self.annotator!r} (none, embedded, llm, replay:FILE, simulated:ACC)")
        if kind == "replay" and not Path(arg).is_file():
            raise ValueError(f"annotator {self.annotator!r}: no such file {arg!r}")
        if kind == "simulated" and not _is_probability(arg):
            raise ValueError(f"annotator {self.annotator!r}: give an accuracy from 0 to 1, e.g. simulated:0.9")
        for strategy in set(self.strategies) - {"llm"}:
            get_strategy(strategy)  # an unknown name fails here, before any embedding
        return self


def _is_probability(text: str) -> bool:
    try:
        return 0.0 <= float(text) <= 1.0
    except ValueError:
        return False


def _write(path: Path, rows: list[dict[str, Any]]) -> Path:
    """Write the run's data file; one already there with other rows means the run was made from other data."""
    text = "".join(json.dumps(row) + "\n" for row in rows)
    if path.exists() and path.read_text(encoding="utf-8") != text:
        raise ConfigError(
            f"{path.parent} was simulated on other data ({path.name} differs: another dataset, --pool-size, "
            "--test-size or --seed-size); use another --out, or delete that folder to start over"
        )
    path.write_text(text, encoding="utf-8")
    return path


def full_supervision(dataset: Dataset, embedder: CachedEmbedder) -> dict[str, Any]:
    """The same student trained on every gold training label: the ceiling for the curves."""
    student = LogisticRegressionStudent(dataset.labels)
    student.fit(embedder.embed([i.text for i in dataset.train]), [i.label for i in dataset.train])  # type: ignore[misc]
    test = embedder.embed([i.text for i in dataset.test])
    return {"labels": len(dataset.train), **evaluate(student, test, [i.label for i in dataset.test])}  # type: ignore[misc]


def _annotator(spec: EvalSpec, dataset: Dataset, embedder: CachedEmbedder, seed: int) -> Annotator | None:
    kind, _, arg = spec.annotator.partition(":")
    if kind in {"embedded", "llm"}:
        return None  # the project builds it
    if kind == "none":
        return NoAnnotator()
    if kind == "replay":
        return ReplayAnnotator(Path(arg), dataset.labels)
    if kind == "simulated":  # its accuracy was checked by EvalSpec
        accuracy = float(arg)
        reference = LogisticRegressionStudent(dataset.labels)
        vectors = embedder.embed([i.text for i in dataset.train])
        reference.fit(vectors, [i.label for i in dataset.train])  # type: ignore[misc]
        probs = reference.predict_proba(vectors)
        gold = {f"t{n}": item.label for n, item in enumerate(dataset.train)}
        return SimulatedAnnotator(gold, dict(zip(gold, probs, strict=True)), dataset.labels, accuracy, seed)  # type: ignore[arg-type]
    raise AssertionError(f"EvalSpec admitted annotator {spec.annotator!r}")


def _project(spec: EvalSpec, dataset: Dataset, folder: Path, strategy: str, seed: int) -> ProjectConfig:
    folder.mkdir(parents=True, exist_ok=True)
    pool = [{"id": f"t{n}", "text": item.text, "label": item.label} for n, item in enumerate(dataset.train)]
    seeded = random.Random(seed).sample(range(len(pool)), min(spec.seed_size, len(pool)))
    _write(folder / "pool.jsonl", pool)
    _write(folder / "seed.jsonl", [pool[n] for n in seeded])
    _write(folder / "test.jsonl", [{"text": i.text, "label": i.label} for i in dataset.test])
    critic: dict[str, Any] = {}
    if spec.critic == "off":  # every annotation accepted as it is: the baseline for the critic's routing
        critic = {"min_confidence": 0, "min_neighbour_agreement": 0, "min_student_probability": 0,
                  "min_labels_to_trust": 0, "min_vote_share": 0}  # fmt: skip
    config = ProjectConfig(
        name=f"{dataset.name}-{strategy}-s{seed}",
        pool=folder / "pool.jsonl",
        seed=folder / "seed.jsonl" if seeded else None,
        test=folder / "test.jsonl",
        labels={label: "" for label in dataset.labels},
        batch_size=spec.batch_size,
        budget=spec.budget,
        max_rounds=spec.rounds,
        strategy=strategy,
        annotator="llm" if spec.annotator == "llm" else "embedded",
        critic=critic,
        llm=spec.llm,
        run_dir=folder / "run",
        random_seed=seed,
    )
    return config


def _curve(run: Run, dataset: Dataset, test_vectors: np.ndarray) -> list[dict[str, Any]]:
    """One point before the first round (the student on the seed labels), then one per round."""
    gold = run.gold
    records = run.labels()
    student = LogisticRegressionStudent(dataset.labels)
    seeds = [r for r in records if r.source == "seed"]
    if seeds:
        student.fit(run.context.vectors([r.id for r in seeds]), [r.label for r in seeds])
    start = evaluate(student, test_vectors, [i.label for i in dataset.test])  # type: ignore[misc]
    points = [{"round": 0, "human_labels": 0, "labels": len(seeds), "label_accuracy": 1.0, "llm_cost": 0.0, **start}]
    for entry in run.status().history:
        upto = [r for r in records if r.round <= entry["round"] and r.source != "seed"]
        right = sum(r.label == gold.get(r.id) for r in upto)
        points.append(
            {
                "round": entry["round"],
                "human_labels": entry["human_labels"],
                "labels": entry["labels"],
                "macro_f1": entry.get("macro_f1", 0.0),
                "accuracy": entry.get("accuracy", 0.0),
                "label_accuracy": round(right / len(upto), 4) if upto else 1.0,
                "sent_to_person": entry["reviewed"] + entry["skipped"],
                "llm_calls": entry.get("llm_calls", 0),
                "llm_tokens": entry.get("llm_tokens", 0),
                "llm_cost": entry.get("llm_cost", 0.0),
            }
        )
    return points


def _routing(run: Run) -> dict[str, Any]:
    """The labelled set with the critic's routing, against the annotator's raw labels on the same items."""
    gold = run.gold
    records = [r for r in run.labels() if r.source != "seed" and r.id in gold]
    raw = [r for r in records if r.annotator_label is not None]
    accepted = [r for r in records if r.source == "annotator"]
    return {
        "items": len(records),
        "with_routing": round(sum(r.label == gold[r.id] for r in records) / len(records), 4) if records else None,
        "annotator_alone": round(sum(r.annotator_label == gold[r.id] for r in records) / len(records), 4)
        if records
        else None,
        "annotator_answered": round(sum(r.annotator_label == gold[r.id] for r in raw) / len(raw), 4) if raw else None,
        "sent_to_person": sum(r.source == "human" for r in records),
        "accepted": len(accepted),
        "accepted_accuracy": round(sum(r.label == gold[r.id] for r in accepted) / len(accepted), 4)
        if accepted
        else None,
    }


def run_eval(
    spec: EvalSpec,
    dataset: Dataset,
    out: Path,
    *,
    embedder: CachedEmbedder | None = None,
    on_run: Callable[[str, int], None] | None = None,
) -> dict[str, Any]:
    """Every strategy x seed through the real graph; returns the ``results.json`` document."""
    embedder = embedder or CachedEmbedder()
    reference = full_supervision(dataset, embedder)
    test_vectors = embedder.embed([i.text for i in dataset.test])
    curves: dict[str, dict[str, list[dict[str, Any]]]] = {}
    routing: dict[str, dict[str, Any]] = {}
    for strategy in spec.strategies:
        curves[strategy] = {}
        for seed in spec.seeds:
            folder = out / "runs" / f"{strategy}-s{seed}"
            config = _project(spec, dataset, folder, strategy, seed)
            run = Project(config).start(embedder=embedder, annotator=_annotator(spec, dataset, embedder, seed))
            human = SimulatedHuman(run.gold, dataset.labels, noise=spec.noise, seed=seed)
            run.run(human)
            curves[strategy][str(seed)] = _curve(run, dataset, test_vectors)
            routing[f"{strategy}-s{seed}"] = _routing(run)
            run.close()
            if on_run is not None:
                on_run(strategy, seed)
    return {
        "dataset": dataset.name,
        "spec": spec.model_dump(mode="json"),
        "simulation": {
            "person": f"simulated from gold labels, noise {spec.noise}",
            "annotator": spec.annotator,
            "annotator_is_simulated": spec.annotator.startswith(("replay:", "simulated:")),
        },
        "pool": len(dataset.train),
        "test": len(dataset.test),
        "reference": reference,
        "curves": curves,
        "routing": routing,
        "summary": summarise(curves, reference["macro_f1"], routing, budget=spec.budget),
    }


def summarise(
    curves: dict[str, dict[str, list[dict[str, Any]]]],
    full_f1: float,
    routing: dict[str, dict[str, Any]],
    *,
    budget: int,
) -> dict[str, dict[str, Any]]:
    """Per strategy, mean and std over seeds of each figure; AULC over 0..``budget`` human labels."""
    summary = {}
    for strategy, by_seed in curves.items():
        rows = []
        for seed, points in by_seed.items():
            x = [p["human_labels"] for p in points]
            y = [p["macro_f1"] for p in points]
            routed = routing.get(f"{strategy}-s{seed}", {})
            rows.append(
                {
                    "aulc": aulc(x, y, until=budget),
                    "final_macro_f1": y[-1],
                    "final_label_accuracy": points[-1]["label_accuracy"],
                    "human_labels": x[-1],
                    "labels": points[-1]["labels"],
                    "labels_to_90": labels_to_reach(x, y, 0.9 * full_f1),
                    "labels_to_95": labels_to_reach(x, y, 0.95 * full_f1),
                    "sent_to_person": routed.get("sent_to_person"),
                    "annotator_alone_accuracy": routed.get("annotator_alone"),
                    "accepted_accuracy": routed.get("accepted_accuracy"),
                    "llm_cost": sum(p["llm_cost"] for p in points),
                }
            )
        summary[strategy] = {key: mean_std([row[key] for row in rows]) for key in rows[0]}
    return summary
