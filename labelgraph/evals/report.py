"""Write an eval's results: ``results.json``, ``report.md`` and PNG plots (learning curves and coverage with std
bands, accuracy against coverage).

results.json schema:
    dataset, pool, test, spec, simulation   what was run, and that the person (and any replay/simulated
                                             annotator) is a simulation
    reference: {labels, accuracy, macro_f1}  the same student on every gold training label
    curves: {strategy: {seed: [point]}}      point = {round, human_labels, labels, coverage, accepted,
                                             estimated_accuracy, macro_f1, accuracy, by_kind, llm_calls,
                                             llm_tokens, llm_cost} (round 0: the student on the seed labels)
    lanes: {"strategy-sSEED": {...}}         against gold at the end of the run: pool, coverage, machine_accepted,
                                             accepted_accuracy (true), estimated_label_accuracy, estimate_lower,
                                             estimate_upper, estimate_error, audits, human_labels, human_by_kind,
                                             annotator_alone (the scored machine labels' accuracy), routing_auroc
                                             (p_correct against right/wrong), final_label_accuracy (every label
                                             the student trains on), accuracy_coverage (the estimated curve with
                                             the true accuracy at each point)
    summary: {strategy: {figure: {mean, std, n}}}  aulc (area under macro-F1 vs human labels over 0..budget, /
                                             budget), final_macro_f1, final_macro_f1_share (of full supervision),
                                             final_label_accuracy, human_labels, labels, coverage, machine_accepted,
                                             accepted_accuracy, estimated_label_accuracy, estimate_lower,
                                             estimate_error, routing_auroc, annotator_alone_accuracy,
                                             labels_to_90 / labels_to_95 (of full supervision), llm_calls, llm_cost
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from labelgraph.data import write_atomic

__all__ = ["write_report"]


def _band(points_by_seed: dict[str, list[dict[str, Any]]], key: str, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    curves = [
        np.interp(grid, [p["human_labels"] for p in points], [p[key] for p in points])
        for points in points_by_seed.values()
    ]
    return np.mean(curves, axis=0), np.std(curves, axis=0)


def _plot(results: dict[str, Any], key: str, ylabel: str, path: Path, reference: float | None = None) -> None:
    top = max(p["human_labels"] for by_seed in results["curves"].values() for ps in by_seed.values() for p in ps)
    grid = np.linspace(0, max(top, 1), 60)
    figure, axes = plt.subplots(figsize=(7, 4.2), dpi=120)
    for strategy, by_seed in results["curves"].items():
        mean, std = _band(by_seed, key, grid)
        axes.plot(grid, mean, label=f"{strategy} ({len(by_seed)} seeds)")
        low, high = mean - std, mean + std
        low, high = np.clip(low, 0, 1), np.clip(high, 0, 1)  # accuracies and F1 live in [0, 1]
        axes.fill_between(grid, low, high, alpha=0.2)
    if reference is not None:
        axes.axhline(reference, color="grey", linestyle="--", linewidth=1, label="full supervision")
    axes.set_xlabel("human labels")
    axes.set_ylabel(ylabel)
    kind, _, arg = results["spec"]["annotator"].partition(":")
    annotator = f"{kind}:{Path(arg).name}" if arg else kind
    axes.set_title(f"{results['dataset']}: {ylabel}\nannotator {annotator}; simulated person", fontsize=10)
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _plot_accuracy_coverage(results: dict[str, Any], path: Path) -> None:
    """Estimated and true accuracy of the accepted set against coverage, if labels down to each stratum were taken."""
    figure, axes = plt.subplots(figsize=(7, 4.2), dpi=120)
    for name, lane in results["lanes"].items():
        curve = lane["accuracy_coverage"]
        if not curve:
            continue
        x = [p["coverage"] for p in curve]
        (line,) = axes.plot(x, [p["true_accuracy"] for p in curve], label=f"{name} true")
        axes.plot(x, [p["accuracy"] for p in curve], linestyle="--", color=line.get_color(), label=f"{name} estimated")
    axes.axhline(results["spec"]["quality_target"], color="grey", linestyle=":", linewidth=1, label="target")
    axes.set_xlabel("coverage (share of the pool labelled)")
    axes.set_ylabel("accuracy of the accepted machine labels")
    axes.set_title(f"{results['dataset']}: accuracy against coverage", fontsize=10)
    axes.grid(alpha=0.3)
    axes.legend(loc="lower left", fontsize=6, ncol=2)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def _cell(figure: dict[str, Any], digits: int = 3) -> str:
    if figure["mean"] is None:
        return "not reached"
    return f"{figure['mean']:.{digits}f} ± {figure['std']:.{digits}f}"


def markdown(results: dict[str, Any]) -> str:
    spec, ref = results["spec"], results["reference"]
    lines = [
        f"# Eval: {results['dataset']}",
        "",
        f"Simulation: {results['simulation']['person']}; annotator `{spec['annotator']}`"
        + (" (a simulation of an annotator)" if results["simulation"]["annotator_is_simulated"] else "")
        + f"; critic {spec['critic']}.",
        f"Pool {results['pool']} texts, test {results['test']}; seed set {spec['seed_size']}, batch "
        f"{spec['batch_size']}, budget {spec['budget']} human labels, at most {spec['rounds']} rounds, seeds "
        f"{spec['seeds']}.",
        f"Full supervision (the same student on all {ref['labels']} gold training labels): macro-F1 "
        f"{ref['macro_f1']:.3f}, accuracy {ref['accuracy']:.3f}.",
        "",
        "| strategy | AULC | final macro-F1 | share of full | coverage | accepted accuracy | estimate error "
        "| routing AUROC | human labels | labels | to 90% | to 95% |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for strategy, s in results["summary"].items():
        reach = [
            f"{s[k]['mean']:.0f} ({s[k]['n']}/{len(spec['seeds'])})" if s[k]["mean"] is not None else "not reached"
            for k in ("labels_to_90", "labels_to_95")
        ]
        lines.append(
            f"| {strategy} | {_cell(s['aulc'])} | {_cell(s['final_macro_f1'])} | {_cell(s['final_macro_f1_share'])} "
            f"| {_cell(s['coverage'])} | {_cell(s['accepted_accuracy'])} | {_cell(s['estimate_error'])} "
            f"| {_cell(s['routing_auroc'])} | {s['human_labels']['mean']:.0f} | {s['labels']['mean']:.0f} "
            f"| {reach[0]} | {reach[1]} |"
        )
    lines += ["", "Mean ± standard deviation over seeds; AULC is the area under macro-F1 against human labels",
              "from 0 to the budget, divided by the budget (a run that stops early counts its last value to the",
              "end). \"to 90%\": human labels until macro-F1 reaches 90% of full supervision (in how many seeds).",
              ""]  # fmt: skip
    if any(r["machine_accepted"] for r in results["lanes"].values()):
        lines += [
            "## The two lanes",
            "",
            "| run | coverage | accepted | their true accuracy | estimated (lower bound) | audits "
            "| routing AUROC | annotator alone | all labels' accuracy | human: explore/fix/audit |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for name, r in results["lanes"].items():
            kinds = r["human_by_kind"]
            lines.append(
                f"| {name} | {r['coverage']:.1%} | {r['machine_accepted']} | {_pct(r['accepted_accuracy'])} "
                f"| {_pct(r['estimated_label_accuracy'])} ({_pct(r['estimate_lower'])}) | {r['audits']} "
                f"| {r['routing_auroc']} | {_pct(r['annotator_alone'])} | {_pct(r['final_label_accuracy'])} "
                f"| {kinds.get('explore', 0)}/{kinds.get('fix', 0)}/{kinds.get('audit', 0)} |"
            )
        lines += [
            "",
            '"their true accuracy": of the accepted machine labels, against gold; "estimated": what the run',
            "itself reports (its lower bound at the configured confidence); AUROC of p_correct against",
            'whether the machine label is right; "annotator alone": the machine labels the critic scored.',
            "",
            "![accuracy and coverage](accuracy_coverage.png)",
            "",
        ]
    lines += ["![learning curves](learning_curves.png)", "", "![coverage](coverage.png)", ""]
    return "\n".join(lines)


def write_report(results: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / "results.json", json.dumps(results, indent=2).encode())
    _plot(results, "macro_f1", "test macro-F1", out / "learning_curves.png", results["reference"]["macro_f1"])
    _plot(results, "coverage", "coverage (share of the pool labelled)", out / "coverage.png")
    _plot_accuracy_coverage(results, out / "accuracy_coverage.png")
    write_atomic(out / "report.md", markdown(results).encode())
