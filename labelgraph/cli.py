"""The ``labelgraph`` command: init, run, status, review, resume, export (and eval, serve)."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from labelgraph.errors import LabelgraphError
from labelgraph.evals.cli import eval_command
from labelgraph.service.serve import serve_command
from labelgraph.templates import PROJECT_TEMPLATE

app = typer.Typer(
    help="LLM-based active learning: select, annotate and critique labels; people answer the disputes.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console(highlight=False)
errors = Console(stderr=True, highlight=False)

RunArg = Annotated[Path, typer.Argument(help="The run folder (or the project file that names it).")]


def friendly(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a LabelgraphError or OSError into one red line on stderr and exit code 2: no traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except LabelgraphError as error:
            errors.print(f"[bold red]error:[/] {escape(str(error))}", soft_wrap=True)
            raise typer.Exit(2) from None
        except OSError as error:  # a folder given as a file, a full disk, no permission: the system's words
            errors.print(f"[bold red]error:[/] {escape(str(error))}", soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper


def open_run(path: Path):
    """A run from its folder, or from the project file that names the folder."""
    from labelgraph.config import load_project
    from labelgraph.run import Run

    if path.is_file() and path.suffix in {".yaml", ".yml"}:
        path = load_project(path).run_dir  # type: ignore[assignment]
    return Run.open(path)


def progress(node: str, update: dict[str, Any]) -> None:
    """One line a node, as the graph streams its updates."""
    if node == "select":
        console.print(f"[bold]round {update.get('round')}[/]  select: {len(update.get('batch', []))} items")
    elif node == "annotate":
        labelled = sum(a["label"] is not None for a in update.get("annotations", {}).values())
        console.print(f"  annotate: {labelled} labelled")
    elif node == "critique":
        verdicts = [v["decision"] for v in update.get("verdicts", {}).values()]
        console.print(
            f"  critique: {verdicts.count('accept')} accepted, {verdicts.count('dispute')} disputed, "
            f"{verdicts.count('reject')} rejected; {len(update.get('pending', []))} for review"
        )
    elif node == "commit":
        console.print(f"  commit: {len(update.get('labels', {}))} labels in all")
    elif node == "train":
        entry = (update.get("history") or [{}])[-1]
        metric = f", test macro-F1 {entry['macro_f1']:.3f}" if "macro_f1" in entry else ""
        console.print(f"  train: student refit on {entry.get('labels', 0)} labels{metric}")


def report(status) -> None:
    """Say where the run stands and what to do next."""
    run = status.run
    if status.phase == "paused":
        console.print(
            f"[yellow]{len(status.pending)} items wait for review[/] (round {status.round}). Answer them with\n"
            f"  labelgraph review {run}\n  labelgraph review {run} --answers answers.jsonl"
            f'   (one {{"id": ..., "label": ...}} a line; the ids: labelgraph status {run} --json)\n'
            f"then continue with\n  labelgraph resume {run}"
        )
        if status.answered and not status.pending:
            console.print(f"All {len(status.answered)} are answered: run 'labelgraph resume {run}'.")
    elif status.phase == "done":
        console.print(
            f"[green]done[/]: {status.stop_reason}. {status.labels} labels "
            f"({', '.join(f'{k} {v}' for k, v in sorted(status.by_source.items()))}).\n"
            f"Export them with\n  labelgraph export {run} -o labels.jsonl"
        )


@app.command()
@friendly
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the project file.")] = Path("project.yaml"),
) -> None:
    """Write a commented project file to start from."""
    if path.exists():
        raise LabelgraphError(f"{path} exists already; choose another path")
    path.write_text(PROJECT_TEMPLATE, encoding="utf-8")
    console.print(f"wrote {path}: set 'pool' and 'labels', then run  labelgraph run {path}")


@app.command()
@friendly
def run(project: Annotated[Path, typer.Argument(help="The project file (YAML).")]) -> None:
    """Start (or continue) a run: rounds go on until the budget, a stop rule, or a pause for review."""
    from labelgraph.run import Project

    loaded = Project.from_yaml(project)
    console.print(f"run folder: {loaded.config.run_dir}")
    active = loaded.start()
    report(active.step(progress))


@app.command()
@friendly
def resume(run_path: RunArg) -> None:
    """Continue a run from its checkpoint, with the answers given so far."""
    active = open_run(run_path)
    if active.phase == "paused" and active.status().pending and not active.status().answered:
        report(active.status())
        return
    report(active.step(progress))


@app.command()
@friendly
def status(run_path: RunArg, as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Round, labels by source, pending reviews, metrics."""
    current = open_run(run_path).status()
    if as_json:
        sys.stdout.write(current.model_dump_json(indent=2) + "\n")
        return
    console.print(f"[bold]{current.name}[/]  {current.run}")
    console.print(f"phase: {current.phase}   round: {current.round}   stop: {current.stop_reason or '-'}")
    sources = ", ".join(f"{k} {v}" for k, v in sorted(current.by_source.items())) or "none"
    console.print(f"labels: {current.labels} ({sources})   human labels: {current.human_labels} of {current.budget}")
    if current.metrics:
        console.print("metrics: " + ", ".join(f"{k} {v:.3f}" for k, v in current.metrics.items()))
    for agent, used in sorted(current.llm_usage.items()):
        console.print(
            f"llm {agent}: {used.calls} calls, {used.input_tokens:,} + {used.output_tokens:,} tokens, ${used.cost:.4f}"
        )
    for name, figures in sorted(current.tools.items()):
        console.print(
            f"tool {escape(name)}: coverage {figures['coverage']:.0%}, agreement {figures['agreement']:.0%} "
            f"({int(figures['votes'])} votes)"
        )
    if current.pending:
        console.print(f"pending review ({len(current.pending)}): {escape(', '.join(current.pending))}")
    if current.answered:
        console.print(f"answered, waiting for resume ({len(current.answered)}): {escape(', '.join(current.answered))}")


@app.command()
@friendly
def review(
    run_path: RunArg,
    answers: Annotated[
        Path | None, typer.Option(help='JSONL answers, one {"id": ..., "label": ...} a line (null skips).')
    ] = None,
    reviewer: Annotated[str, typer.Option(help="Your name, kept with each answer.")] = "cli",
) -> None:
    """Answer disputed items: in the terminal, or from a file with --answers."""
    from labelgraph.agents.human import check_answers
    from labelgraph.data import read_answers
    from labelgraph.review_terminal import review_in_terminal

    active = open_run(run_path)
    if answers is not None:
        given = read_answers(answers)
        waiting = [item.id for item in active.pending_reviews(include_answered=True)]
        for line, item_id, label in given:  # name the line of the first bad answer
            check_answers(
                [(item_id, label)], waiting=waiting, labels=active.config.label_names, source=f"{answers}, line {line}"
            )
        stored = active.inbox.answered([item_id for _, item_id, _ in given])
        fresh = [(item_id, label) for _, item_id, label in given if item_id not in stored or stored[item_id] != label]
        repeated = len(given) - len(fresh)  # the same answer again (a file run twice, or grown): nothing to do
        count = active.answer(fresh, reviewer=reviewer) if fresh else 0
        note = f" ({repeated} given before, unchanged)" if repeated else ""
        console.print(
            f"recorded {count} answer{'s' * (count != 1)}{note}; continue with  "
            f"labelgraph resume {active.workspace.path}"
        )
        return
    if not sys.stdin.isatty():
        raise LabelgraphError("no terminal to review in: pass --answers FILE.jsonl")
    review_in_terminal(active, console, reviewer=reviewer)


@app.command()
@friendly
def export(
    run_path: RunArg,
    output: Annotated[Path, typer.Option("-o", "--output", help="File to write: .jsonl or .csv.")],
) -> None:
    """Write every label with its provenance (source, round, confidence, the critic's verdict)."""
    count = open_run(run_path).export(output)
    console.print(f"wrote {count} labels to {output}")


app.command("eval")(friendly(eval_command))
app.command("serve")(friendly(serve_command))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
