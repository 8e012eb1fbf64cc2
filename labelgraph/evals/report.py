"""Write an eval's results: ``results.json``, ``report.md`` and PNG plots (learning curves and coverage with std
bands, accuracy against coverage).

results.json schema:
    dataset, pool, test, spec, simulation   what was run, and that the person (and any replay/simulated
                                             annotator) is a simulation
    reference: {labels, accuracy, macro_f1}  the same student on every gold training label
    references: {student: {labels, student, fit_seconds, accuracy, macro_f1}}  each student compared (with
                                             several, curves and summary are keyed "strategy+student")
    curves: {strategy: {seed: [point]}}      point = {round, human_labels, labels, coverage, accepted,
                                             estimated_accuracy, macro_f1, accuracy, by_kind, llm_calls,
                                             llm_tokens, llm_cost} (round 0: the student on the seed labels;
                                             labels: what the student trained on that round)
    lanes: {"strategy-sSEED": {...}}         against gold at the end of the run: pool, labels (seed, human and
                                             accepted machine labels), seed_labels, coverage, machine_accepted,
                                             accepted_accuracy (true), estimated_label_accuracy, estimate_lower,
                                             estimate_upper, estimate_error, audits, human_labels, human_by_kind,
                                             annotator_alone (the scored machine labels' accuracy), routing_auroc
                                             (p_correct against right/wrong), final_label_accuracy (every label
                                             the student trains on), accuracy_coverage (the estimated curve with
                                             the true accuracy at each point)
    summary: {strategy: {figure: {mean, std, n}}}  aulc (area under macro-F1 vs human labels over 0..budget, /
                                             budget), final_macro_f1, final_macro_f1_share (of full supervision),
                                             final_label_accuracy, human_labels, labels (as in lanes: the seed set
                                             counted), coverage, machine_accepted,
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
from rich.console import Console

from labelgraph.cli.console import print_table
from labelgraph.data import write_atomic

__all__ = ["markdown", "print_report", "sections", "write_report"]


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
        axes.plot(grid, mean, label=f"{strategy} ({_count(len(by_seed), 'seed')})")
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


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' * (n != 1)}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _plot_accuracy_coverage(results: dict[str, Any], path: Path) -> None:
    """True and estimated accuracy of the unchecked machine labels against coverage, if labels down to each set were
    taken; per run the frontier (|), the certified point (o) and the uniform-audit baseline (x)."""
    figure, axes = plt.subplots(figsize=(7, 4.2), dpi=120)
    target = results["spec"]["quality_target"]
    for name, lane in results["lanes"].items():
        curve = lane["accuracy_coverage"]
        if not curve:
            continue
        x = [p["coverage"] for p in curve]
        (line,) = axes.plot(x, [p["true_accuracy"] for p in curve], label=f"{name} true")
        estimated = [(p["coverage"], p["accuracy"]) for p in curve if p["accuracy"] is not None]
        if estimated:
            axes.plot(*zip(*estimated, strict=True), linestyle="--", color=line.get_color(), label=f"{name} estimated")
        color = line.get_color()
        if lane.get("frontier_coverage") is not None:
            axes.plot([lane["frontier_coverage"]], [target], marker="|", markersize=14, color=color)
        if lane.get("accepted_accuracy") is not None:
            axes.plot([lane["coverage"]], [lane["accepted_accuracy"]], marker="o", color=color)
        if lane.get("uniform_audit_coverage") is not None:
            axes.plot([lane["uniform_audit_coverage"]], [target], marker="x", color=color)
    axes.axhline(target, color="grey", linestyle=":", linewidth=1, label="target (| frontier, o certified, x baseline)")
    axes.set_xlabel("coverage (share of the pool labelled)")
    axes.set_ylabel("accuracy of the accepted machine labels")
    axes.set_title(f"{results['dataset']}: accuracy against coverage", fontsize=10)
    axes.grid(alpha=0.3)
    axes.legend(loc="lower left", fontsize=6, ncol=2)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def _cell(figure: dict[str, Any], seeds: int, digits: int = 3) -> str:
    """Mean ± standard deviation over seeds; the mean alone for one seed; "-" where no seed has the figure."""
    if figure["mean"] is None:
        return "-"
    spread = f" ± {figure['std']:.{digits}f}" if seeds > 1 else ""
    return f"{figure['mean']:.{digits}f}{spread}"


Table = tuple[list[str], list[list[str]]]
"""A table: its header and its rows of cells."""


def _student(reference: dict[str, Any]) -> str:
    kind = reference.get("student")
    return "the same student" if kind is None else f"the {kind} student"


def sections(results: dict[str, Any]) -> list[str | Table]:
    """The report as markdown paragraphs and tables, for ``report.md`` and the terminal alike."""
    spec, ref = results["spec"], results["reference"]
    seeds = len(spec["seeds"])
    out: list[str | Table] = [
        f"# Eval: {results['dataset']}",
        f"Simulation: {results['simulation']['person']}; annotator `{spec['annotator']}`"
        + (" (a simulation of an annotator)" if results["simulation"]["annotator_is_simulated"] else "")
        + f"; critic {spec['critic']}.\n"
        f"Pool {results['pool']} texts, test {results['test']}; seed set {spec['seed_size']}, batch "
        f"{spec['batch_size']}, budget {spec['budget']} human labels, at most {spec['rounds']} rounds, "
        f"{_count(seeds, 'seed')} {spec['seeds']}.\n"
        + "\n".join(
            f"Full supervision ({_student(r)} on all {r['labels']} gold training labels): macro-F1 "
            f"{r['macro_f1']:.3f}, accuracy {r['accuracy']:.3f}"
            + (f", fitted in {r['fit_seconds']:.0f} s." if "fit_seconds" in r else ".")
            for r in results.get("references", {"": ref}).values()
        ),
    ]
    header = ["strategy", "AULC", "final macro-F1", "share of full", "coverage", "frontier share", "accepted accuracy",
              "estimate error", "routing AUROC", "human labels", "labels", "to 90%", "to 95%"]  # fmt: skip
    rows = []
    for strategy, s in results["summary"].items():
        reach = [
            f"{s[k]['mean']:.0f} ({s[k]['n']}/{seeds})" if s[k]["mean"] is not None else "not reached"
            for k in ("labels_to_90", "labels_to_95")
        ]
        figures = ("aulc", "final_macro_f1", "final_macro_f1_share", "coverage", "frontier_share", "accepted_accuracy",
                   "estimate_error")  # fmt: skip
        rows.append(
            [strategy, *(_cell(s[k], seeds) for k in figures), _cell(s["routing_auroc"], seeds),
             f"{s['human_labels']['mean']:.0f}", f"{s['labels']['mean']:.0f}", *reach]
        )  # fmt: skip
    spread = "Mean ± standard deviation over seeds; " if seeds > 1 else "One seed: no spread. "
    lanes = any(r["machine_accepted"] for r in results["lanes"].values())
    out += [
        (header, rows),
        f"{spread}AULC is the area under macro-F1 against human labels\n"
        "from 0 to the budget, divided by the budget (a run that stops early counts its last value to the\n"
        'end). "labels": every label the run vouches for at its end, the seed set\'s included (seed, human and\n'
        f'accepted machine labels){", here and in the table of the two lanes" if lanes else ""}. "to 90%": human\n'
        "labels until macro-F1 reaches 90% of full supervision (in how many seeds).",
    ]
    if lanes:
        header = ["run", "coverage", "frontier", "share", "baseline", "oracle", "accepted", "their true accuracy",
                  "estimated (lower bound)", "checks", "routing AUROC", "annotator alone",
                  "human: explore/fix/audit"]  # fmt: skip
        rows = []
        for name, r in results["lanes"].items():
            kinds = r["human_by_kind"]
            share = "-" if r.get("frontier_share") is None else f"{r['frontier_share']:.2f}"
            rows.append(
                [name, f"{r['coverage']:.1%}", _pct(r.get("frontier_coverage")), share,
                 _pct(r.get("uniform_audit_coverage")), _pct(r.get("oracle_coverage")), str(r["machine_accepted"]),
                 _pct(r["accepted_accuracy"]), f"{_pct(r['estimated_label_accuracy'])} ({_pct(r['estimate_lower'])})",
                 str(r.get("checks", "-")), str(r["routing_auroc"] if r["routing_auroc"] is not None else "-"),
                 _pct(r["annotator_alone"]), f"{kinds.get('explore', 0)}/{kinds.get('fix', 0)}/{kinds.get('audit', 0)}"]
            )  # fmt: skip
        out += [
            "## The two lanes",
            (header, rows),
            '"frontier": the coverage of the largest top set of the run\'s final p_correct ranking whose true\n'
            'accuracy meets the target; "share": coverage / frontier; "baseline": every answer a uniform blind\n'
            "audit of every machine label, one Clopper-Pearson test at the full level, at its typical outcome;\n"
            '"oracle": every answer a uniform check inside the one top set worth testing most, one test at the\n'
            'full level, its expected coverage. "their true accuracy": of the accepted machine labels, against\n'
            'gold; "estimated": what the run itself reports (its lower bound as certified); "checks": draws on\n'
            'machine labels; AUROC of p_correct against whether the machine label is right; "annotator alone":\n'
            "the machine labels nobody checked.",
        ]
    return out


def _markdown_table(table: Table) -> str:
    header, rows = table
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def markdown(results: dict[str, Any], images: list[str] | None = None) -> str:
    """``report.md``: the sections, then the plots named in ``images`` (file names)."""
    titles = {
        "accuracy_coverage.png": "accuracy and coverage",
        "learning_curves.png": "learning curves",
        "coverage.png": "coverage",
    }
    blocks = [block if isinstance(block, str) else _markdown_table(block) for block in sections(results)]
    blocks += [f"![{titles.get(name, name)}]({name})" for name in images or []]
    return "\n\n".join(blocks) + "\n"


def print_report(results: dict[str, Any], console: Console) -> None:
    """The report on a console: its paragraphs unwrapped, its tables as wide as their content."""
    for block in sections(results):
        if isinstance(block, tuple):
            print_table(console, *block)
        elif block.startswith("#"):
            console.print(block.lstrip("# "), style="bold", markup=False)
        else:
            console.print(block.replace("\n", " ").replace("`", ""), markup=False)
        console.print()


def write_report(results: dict[str, Any], out: Path) -> list[str]:
    """Write results.json, the plots and report.md into ``out``; return the names of the files written.

    The accuracy-coverage plot only where some run has machine labels (not with ``--annotator none``)."""
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / "results.json", json.dumps(results, indent=2).encode())
    images = ["learning_curves.png", "coverage.png"]
    _plot(results, "macro_f1", "test macro-F1", out / images[0], results["reference"]["macro_f1"])
    _plot(results, "coverage", "coverage (share of the pool labelled)", out / images[1])
    stale = out / "accuracy_coverage.png"
    if any(lane["accuracy_coverage"] for lane in results["lanes"].values()):
        _plot_accuracy_coverage(results, stale)
        images.insert(0, stale.name)
    else:
        stale.unlink(missing_ok=True)  # from an earlier eval into the same folder
    write_atomic(out / "report.md", markdown(results, images).encode())
    return ["results.json", "report.md", *images]
