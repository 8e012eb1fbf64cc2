"""Run the real graph on a dataset with gold labels, a simulated person, and each strategy x seed.

Each run is an ordinary run folder under ``OUT/runs/``: re-running the same eval resumes unfinished runs and
reuses finished ones, and a run is deterministic for its seed.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field, model_validator
from sklearn.metrics import roc_auc_score

from labelgraph.agents.annotator import Annotator
from labelgraph.agents.human import SimulatedHuman
from labelgraph.config import LLMSettings, ProjectConfig, StudentSettings
from labelgraph.critic.signals import SIGNALS
from labelgraph.errors import ConfigError
from labelgraph.evals.annotators import (
    DifficultyAnnotator,
    ReplayAnnotator,
    SimulatedAnnotator,
    text_model_probabilities,
)
from labelgraph.evals.datasets import CachedEmbedder, Dataset
from labelgraph.evals.frontier import baseline_coverage, frontier_size, oracle_coverage
from labelgraph.evals.metrics import aulc, labels_to_reach, mean_std
from labelgraph.session.run import Project, Run
from labelgraph.strategies import get_strategy
from labelgraph.student.models import LogisticRegressionStudent, evaluate, make_student, reads_text

__all__ = ["EvalSpec", "full_supervision", "run_eval"]


class EvalSpec(BaseModel):
    """What to simulate."""

    strategies: list[str] = Field(min_length=1)
    annotator: str = "embedded"  # none | embedded | llm | replay:FILE | simulated:ACC[:flat] | difficulty:ACC
    seed_size: int = Field(20, ge=0)
    batch_size: int = Field(20, ge=1)
    budget: int = Field(200, ge=1)
    rounds: int = Field(20, ge=1)
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2], min_length=1)
    noise: float = Field(0.0, ge=0, le=1)
    llm: LLMSettings | None = None
    critic: Literal["on", "off"] = "on"
    quality_target: float = Field(0.95, gt=0, le=1)
    audit: float = Field(0.05, ge=0, le=1)
    explore: float = Field(0.3, ge=0, le=1)
    student_learns_from: Literal["auto", "accepted", "all"] = "auto"
    students: list[str] = Field(default_factory=lambda: ["logistic"], min_length=1)
    """Students compared side by side (logistic, finetune, module:Class): each runs every strategy and seed."""

    @model_validator(mode="after")
    def _consistent(self) -> EvalSpec:
        if self.budget < self.batch_size:
            raise ValueError(f"budget ({self.budget}) is smaller than one batch ({self.batch_size})")
        if (self.annotator == "llm" or "llm" in self.strategies) and self.llm is None:
            raise ValueError("annotator or strategy 'llm' needs a model (--llm-model; --llm-base-url for a server)")
        kind, _, arg = self.annotator.partition(":")
        if kind not in {"none", "embedded", "llm", "replay", "simulated", "difficulty"}:
            kinds = "none, embedded, llm, replay:FILE, simulated:ACC, difficulty:ACC"
            raise ValueError(f"unknown annotator {self.annotator!r} ({kinds})")
        if kind == "replay" and not Path(arg).is_file():
            raise ValueError(f"annotator {self.annotator!r}: no such file {arg!r}")
        accuracy, _, flat = arg.partition(":")
        if kind == "simulated" and (not _is_probability(accuracy) or flat not in {"", "flat"}):
            raise ValueError(
                f"annotator {self.annotator!r}: give an accuracy from 0 to 1, e.g. simulated:0.9 "
                "(or simulated:0.9:flat)"
            )
        if kind == "difficulty" and not _is_probability(arg):
            raise ValueError(f"annotator {self.annotator!r}: give an accuracy from 0 to 1, e.g. difficulty:0.85")
        for student in self.students:
            StudentSettings(kind=student)  # an unknown kind fails here too
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


def full_supervision(dataset: Dataset, embedder: CachedEmbedder, student_kind: str = "logistic") -> dict[str, Any]:
    """The same student trained on every gold training label: the ceiling for the curves (with its time)."""
    started = time.perf_counter()
    student = make_student(student_kind, dataset.labels)
    student.fit(_inputs(student, dataset.train, embedder), [i.label for i in dataset.train])  # type: ignore[misc]
    seconds = time.perf_counter() - started
    scores = evaluate(student, _inputs(student, dataset.test, embedder), [i.label for i in dataset.test])  # type: ignore[misc]
    return {"labels": len(dataset.train), "student": student_kind, "fit_seconds": round(seconds, 1), **scores}


def _inputs(student: Any, items: list[Any], embedder: CachedEmbedder) -> Any:
    texts = [i.text for i in items]
    return texts if reads_text(student) else embedder.embed(texts)


def _plugins(spec: EvalSpec, dataset: Dataset, embedder: CachedEmbedder, seed: int) -> dict[str, Annotator]:
    """The annotator the run gets instead of the project's (none for embedded, llm and none)."""
    if spec.annotator.partition(":")[0] in {"embedded", "llm", "none"}:
        return {}  # the project builds it ('none': no machine lane)
    return {"annotator": _annotator(spec, dataset, embedder, seed)}


def _annotator(spec: EvalSpec, dataset: Dataset, embedder: CachedEmbedder, seed: int) -> Annotator:
    kind, _, arg = spec.annotator.partition(":")
    if kind == "replay":
        return ReplayAnnotator(Path(arg), dataset.labels)
    if kind == "simulated":  # its accuracy was checked by EvalSpec
        accuracy, _, flat = arg.partition(":")
        reference = LogisticRegressionStudent(dataset.labels)
        vectors = embedder.embed([i.text for i in dataset.train])
        reference.fit(vectors, [i.label for i in dataset.train])  # type: ignore[misc]
        probs = reference.predict_proba(vectors)
        gold = {f"t{n}": item.label for n, item in enumerate(dataset.train)}
        return SimulatedAnnotator(
            gold, dict(zip(gold, probs, strict=True)), dataset.labels, float(accuracy), seed, informative=flat != "flat"
        )
    if kind == "difficulty":
        return difficulty_annotator(dataset, float(arg), seed)
    raise AssertionError(f"EvalSpec admitted annotator {spec.annotator!r}")


def difficulty_annotator(
    dataset: Dataset, accuracy: float, seed: int, probabilities: np.ndarray | None = None
) -> DifficultyAnnotator:
    """``difficulty:ACC`` over the eval's pool (ids ``t0``, ``t1``, ...); ``probabilities`` are the text model's
    (``text_model_probabilities``), computed here unless a caller that builds several seeds passes them once."""
    texts, gold_labels = [i.text for i in dataset.train], [i.label for i in dataset.train]
    if probabilities is None:
        probabilities = text_model_probabilities(texts, gold_labels, dataset.labels)  # type: ignore[arg-type]
    gold = {f"t{n}": label for n, label in enumerate(gold_labels)}
    return DifficultyAnnotator(gold, probabilities, dataset.labels, accuracy, seed)  # type: ignore[arg-type]


def _project(
    spec: EvalSpec, dataset: Dataset, folder: Path, strategy: str, seed: int, student: str = "logistic"
) -> ProjectConfig:
    folder.mkdir(parents=True, exist_ok=True)
    pool = [{"id": f"t{n}", "text": item.text, "label": item.label} for n, item in enumerate(dataset.train)]
    seeded = random.Random(seed).sample(range(len(pool)), min(spec.seed_size, len(pool)))
    _write(folder / "pool.jsonl", pool)
    _write(folder / "seed.jsonl", [pool[n] for n in seeded])
    _write(folder / "test.jsonl", [{"text": i.text, "label": i.label} for i in dataset.test])
    quality: dict[str, Any] = {"target_accuracy": spec.quality_target, "audit": spec.audit, "explore": spec.explore}
    if spec.critic == "off":  # every annotation accepted as it is: the baseline for the critic
        quality = {"enabled": False, "audit": 0.0}
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
        annotator=spec.annotator if spec.annotator in {"llm", "none"} else "embedded",
        quality=quality,
        student_learns_from=spec.student_learns_from,
        student=student,
        llm=spec.llm,
        run_dir=folder / "run",
        random_seed=seed,
    )
    return config


def _curve(run: Run, dataset: Dataset, embedder: CachedEmbedder) -> list[dict[str, Any]]:
    """One point before the first round (the student on the seed labels), then one per round."""
    seeds = [r for r in run.labels(include_proposed=False) if r.source == "seed"]
    student = make_student(run.config.student, dataset.labels)
    if seeds:
        student.fit(run.context.student_inputs(student, [r.id for r in seeds]), [r.label for r in seeds])
    start = evaluate(student, _inputs(student, dataset.test, embedder), [i.label for i in dataset.test])  # type: ignore[misc]
    points = [{"round": 0, "human_labels": 0, "labels": len(seeds), "coverage": 0.0, "llm_cost": 0.0, **start}]
    for entry in run.status().history:
        points.append(
            {
                "round": entry["round"],
                "human_labels": entry["human_labels"],
                "labels": entry["labels"],
                "coverage": entry["coverage"],
                "accepted": entry["accepted"],
                "estimated_accuracy": entry["estimated_accuracy"],
                "macro_f1": entry.get("macro_f1") or 0.0,
                "accuracy": entry.get("accuracy") or 0.0,
                "by_kind": entry["by_kind"],
                "llm_calls": entry["llm_calls"],
                "llm_tokens": entry["llm_tokens"],
                "llm_cost": entry["llm_cost"],
            }
        )
    return points


def certification_record(run: Run) -> dict[str, np.ndarray]:
    """What ``benchmarks/certify_sim.py`` replays, for every machine label of the pool at the run's end: its
    signals, final p_correct (out of fold if checked), whether a person checked it, its label and whether that is
    right against gold, the final student's uncertainty (normalised entropy); and every draw of the person's
    batches (round, text, probability, rule)."""
    gold, store = run.gold, run.store
    pool = set(run.context.pool_ids)
    human = store.human()
    rows = []
    for status in ("accepted", "proposed", "checked"):
        for verdict in store.iter_verdicts((status,)):
            answer = human.get(verdict.id)
            if verdict.id in gold and verdict.id in pool and verdict.label and (answer is None or answer.label):
                rows.append(verdict)
    draws = store.draws()
    student = run.context.student()
    names = run.config.label_names
    uncertainty = np.ones(len(rows))
    if rows and student.is_informative:
        probs = run.context.predict(student, [v.id for v in rows])
        uncertainty = -(probs * np.log(np.clip(probs, 1e-12, 1))).sum(axis=1) / np.log(len(names))
    return {
        "ids": np.array([v.id for v in rows], dtype=str),
        "uncertainty": uncertainty,
        "features": np.array([[v.signals.get(name, 0.0) for name in SIGNALS] for v in rows]).reshape(-1, len(SIGNALS)),
        "p": np.array([v.p_correct for v in rows], dtype=float),
        "checked": np.array([v.status == "checked" for v in rows], dtype=bool),
        "accepted": np.array([v.status == "accepted" for v in rows], dtype=bool),
        "labels": np.array([v.label for v in rows], dtype=str),
        "right": np.array([v.label == gold[v.id] for v in rows], dtype=bool),
        "pool": np.array(len(pool)),
        "seeds": np.array(sum(1 for h in human.values() if h.kind == "seed" and h.label is not None)),
        "covered": np.array(sum(1 for h in human.values() if h.label is not None and h.id in pool)),
        "answers": np.array(sum(1 for h in human.values() if h.kind != "seed" and h.label is not None)),
        "draw_round": np.array([d[0] for d in draws], dtype=int),
        "draw_id": np.array([d[1] for d in draws], dtype=str),
        "draw_probability": np.array([d[2] for d in draws], dtype=float),
        "draw_rule": np.array([d[3] for d in draws], dtype=str),
    }


def _lanes(run: Run, record: dict[str, np.ndarray]) -> dict[str, Any]:
    """The run's labels against gold: coverage, true and estimated accuracy of the accepted set, routing AUROC,
    the true accuracy-coverage curve of the unchecked machine labels ordered by p_correct, and what could have
    been certified (``labelgraph.evals.frontier``)."""
    gold = run.gold
    quality = run.config.quality
    records = [r for r in run.labels() if r.id in gold]
    trained = [r for r in records if r.status != "proposed"]
    accepted = [r for r in records if r.status == "accepted"]
    right, p, checked = record["right"], record["p"], record["checked"]
    open_right, open_p = right[~checked], p[~checked]
    auroc = float(roc_auc_score(right, p)) if 0 < right.sum() < len(right) else None
    estimate = run.estimate()
    truth = float(np.mean([r.label == gold[r.id] for r in accepted])) if accepted else None
    people = [r for r in records if r.status == "human"]
    pool, covered, answers = int(record["pool"]), int(record["covered"]), int(record["answers"])
    curve = []
    for point in estimate.curve if estimate else []:
        taken = open_right[open_p >= point.threshold]
        curve.append({**point.model_dump(), "true_accuracy": round(float(taken.mean()), 4) if len(taken) else None})
    coverage = run.status().coverage
    alpha = 1 - quality.confidence
    frontier = (frontier_size(open_p, open_right, quality.target_accuracy) + covered) / pool if pool else 0.0
    baseline, baseline_lower = baseline_coverage(
        right, quality.target_accuracy, alpha, answers, pool, int(record["seeds"])
    )
    return {
        "pool": len(run.context.pool_ids),
        "labels": len(trained),
        "seed_labels": sum(r.status == "seed" for r in trained),
        "coverage": coverage,
        "final_label_accuracy": round(float(np.mean([r.label == gold[r.id] for r in trained])), 4) if trained else None,
        "machine_accepted": len(accepted),
        "accepted_accuracy": round(truth, 4) if truth is not None else None,
        "estimated_label_accuracy": estimate.accuracy if estimate else None,
        "estimate_lower": estimate.lower if estimate else None,
        "estimate_upper": estimate.upper if estimate else None,
        "estimate_error": round(estimate.accuracy - truth, 4)
        if estimate and estimate.accuracy is not None and truth is not None
        else None,
        "false_certification": truth < quality.target_accuracy if truth is not None else False,
        "frontier_coverage": round(frontier, 4),
        "frontier_share": round(coverage / frontier, 4) if frontier else None,
        "uniform_audit_coverage": round(baseline, 4),
        "uniform_audit_lower": round(baseline_lower, 4),
        "oracle_coverage": round(
            oracle_coverage(open_p, open_right, quality.target_accuracy, alpha, answers, pool, covered), 4
        ),
        "checks": estimate.checks if estimate else 0,
        "audits": estimate.audits if estimate else 0,
        "human_labels": len(people),
        "human_by_kind": dict(Counter(r.kind for r in people)),
        "annotator_alone": round(float(open_right.mean()), 4) if len(open_right) else None,
        "routing_auroc": round(auroc, 4) if auroc is not None else None,
        "accuracy_coverage": curve,
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
    references = {student: full_supervision(dataset, embedder, student) for student in spec.students}
    curves: dict[str, dict[str, list[dict[str, Any]]]] = {}
    lanes: dict[str, dict[str, Any]] = {}
    full_f1: dict[str, float] = {}
    for student in spec.students:
        for strategy in spec.strategies:
            name = strategy if len(spec.students) == 1 else f"{strategy}+{student}"
            curves[name], full_f1[name] = {}, references[student]["macro_f1"]
            for seed in spec.seeds:
                folder = out / "runs" / f"{name}-s{seed}"
                config = _project(spec, dataset, folder, strategy, seed, student)
                run = Project(config).start(embedder=embedder, **_plugins(spec, dataset, embedder, seed))
                human = SimulatedHuman(run.gold, dataset.labels, noise=spec.noise, seed=seed)
                run.run(human)
                curves[name][str(seed)] = _curve(run, dataset, embedder)
                record = certification_record(run)
                np.savez_compressed(folder / "certify.npz", **record)
                lanes[f"{name}-s{seed}"] = _lanes(run, record)
                run.close()
                if on_run is not None:
                    on_run(name, seed)
    return {
        "dataset": dataset.name,
        "spec": spec.model_dump(mode="json"),
        "simulation": {
            "person": f"simulated from gold labels, noise {spec.noise}",
            "annotator": spec.annotator,
            "annotator_is_simulated": spec.annotator.startswith(("replay:", "simulated:", "difficulty:")),
        },
        "pool": len(dataset.train),
        "test": len(dataset.test),
        "reference": references[spec.students[0]],
        "references": references,
        "curves": curves,
        "lanes": lanes,
        "summary": summarise(curves, full_f1, lanes, budget=spec.budget),
    }


def summarise(
    curves: dict[str, dict[str, list[dict[str, Any]]]],
    full_f1: float | dict[str, float],
    lanes: dict[str, dict[str, Any]],
    *,
    budget: int,
) -> dict[str, dict[str, Any]]:
    """Per strategy, mean and std over seeds of each figure; AULC over 0..``budget`` human labels."""
    summary = {}
    for strategy, by_seed in curves.items():
        ceiling = full_f1[strategy] if isinstance(full_f1, dict) else full_f1
        rows = []
        for seed, points in by_seed.items():
            x = [p["human_labels"] for p in points]
            y = [p["macro_f1"] for p in points]
            lane = lanes.get(f"{strategy}-s{seed}", {})
            rows.append(
                {
                    "aulc": aulc(x, y, until=budget),
                    "final_macro_f1": y[-1],
                    "final_macro_f1_share": round(y[-1] / ceiling, 4) if ceiling else None,
                    "final_label_accuracy": lane.get("final_label_accuracy"),
                    "human_labels": x[-1],
                    "labels": lane.get("labels"),
                    "coverage": lane.get("coverage"),
                    "machine_accepted": lane.get("machine_accepted"),
                    "accepted_accuracy": lane.get("accepted_accuracy"),
                    "estimated_label_accuracy": lane.get("estimated_label_accuracy"),
                    "estimate_lower": lane.get("estimate_lower"),
                    "estimate_error": lane.get("estimate_error"),
                    "false_certification": float(lane["false_certification"]) if lane else None,
                    "frontier_coverage": lane.get("frontier_coverage"),
                    "frontier_share": lane.get("frontier_share"),
                    "uniform_audit_coverage": lane.get("uniform_audit_coverage"),
                    "oracle_coverage": lane.get("oracle_coverage"),
                    "routing_auroc": lane.get("routing_auroc"),
                    "annotator_alone_accuracy": lane.get("annotator_alone"),
                    "labels_to_90": labels_to_reach(x, y, 0.9 * ceiling),
                    "labels_to_95": labels_to_reach(x, y, 0.95 * ceiling),
                    "llm_calls": sum(p["llm_calls"] for p in points[1:]),
                    "llm_cost": sum(p["llm_cost"] for p in points),
                }
            )
        summary[strategy] = {key: mean_std([row[key] for row in rows]) for key in rows[0]}
    return summary
