"""The ``labelgraph`` command: init, run, status, review, relabel, resume, export (and eval, serve)."""

from __future__ import annotations

import functools
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from labelgraph.cli.console import command_name, print_table, stdout_console
from labelgraph.cli.templates import PROJECT_TEMPLATE
from labelgraph.errors import ConfigError, LabelgraphError
from labelgraph.evals.cli import eval_command
from labelgraph.service.serve import serve_command

app = typer.Typer(
    help="LLM-based active learning: select, annotate and critique labels; people answer the disputes.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = stdout_console()  # never wraps: commands and ids must survive a pipe
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
    from labelgraph.session.run import Run

    if path.is_file() and path.suffix in {".yaml", ".yml"}:
        path = load_project(path).run_dir  # type: ignore[assignment]
    return Run.open(path)


def progress_for(run, *, until: str | None = None) -> Callable[[str, dict[str, Any]], None]:
    """One line a node as ``run``'s graph streams its updates, saying what the node did (none after the node
    ``until``: the terminal review shows the batch ``present`` opens while the round works on)."""
    from labelgraph.agents.human import ReviewItem  # loads where a run streams: startup stays quick

    history = run.history()
    seen = {"new": 0, "accepted": history[-1]["accepted"] if history else None}

    def show(node: str, update: dict[str, Any]) -> None:
        if seen.get("quiet"):
            return
        seen["quiet"] = node == until and bool(update.get("pending"))  # a round that asks nothing keeps its lines
        if node == "select":
            seen["new"], seen["round"] = len(update.get("machine", [])), update.get("round")
            console.print(
                f"[bold]round {update.get('round')}[/]  select: {seen['new']} texts for the machine, "
                f"{len(update.get('asked', {}))} for you"
            )
        elif node == "annotate" and run.context.annotator is not None and "round" in seen:
            console.print("  annotate: " + annotated(run.store.annotated_in(seen["round"]), seen["new"]))
        elif node == "present" or update.get("pending"):  # an earlier version's replayed write holds dicts
            kinds = Counter(ReviewItem.model_validate(item).kind for item in update.get("pending", []))
            asked = ", ".join(f"{kinds[k]} {k}" for k in ("fix", "audit", "explore") if kinds[k]) or "none"
            console.print(f"  {node}: {len(update.get('pending', []))} for you ({asked}), open for answers")
        elif node == "critique" and run.context.annotator is not None:
            console.print("  critique: every machine label scored")
        elif node == "train":
            entry = (update.get("history") or [None])[-1]
            if entry is None:
                return
            entry = entry.model_dump() if hasattr(entry, "model_dump") else entry
            metric = f", test macro-F1 {entry['macro_f1']:.3f}" if entry.get("macro_f1") is not None else ""
            estimate = (
                f", estimated {entry['estimated_accuracy']:.1%} right (lower bound {entry['estimate_lower']:.1%})"
                if entry.get("estimated_accuracy") is not None
                else ""
            )
            console.print(
                f"  machine: {entry['accepted']} accepted, {entry['proposed']} proposed{estimate}; "
                f"coverage {entry['coverage']:.0%} (people's, seed and accepted labels)"
                + dropped(seen["accepted"], entry["accepted"])
                + f"\n  train: student refit on {trained_on(run, entry['labels'])}{metric}"
            )
            seen["accepted"] = entry["accepted"]

    return show


def annotated(count: int, new: int) -> str:
    """What the machine lane did in a round: ``count`` texts labelled, ``new`` of them for the first time."""
    again = count - min(new, count)
    if not again:
        return f"the machine labelled {count} text{'s' * (count != 1)}"
    first = f"{min(new, count)} new, " if new else ""
    return (
        f"the machine labelled {first}{again} again (the embedded annotator labels every text anew each round, "
        "from people's labels so far)"
    )


def dropped(before: int | None, now: int) -> str:
    """Why the accepted set shrank since the last round, if it did."""
    if before is None or now >= before:
        return ""
    return (
        f"\n  ({before - now} accepted last round went back to proposed: each round tests the sets again with every "
        "answer so far, at its own share of the error level, and accepts the largest that passes)"
    )


def trained_on(run, labels: int) -> str:
    """What the student was fitted on: people's labels, and accepted (or also proposed) machine labels."""
    people = sum(h.label is not None for h in run.store.human().values())
    machine = max(labels - people, 0)
    mode = run.config.student_learns_from
    proposals = mode == "all" or (mode == "auto" and run.store.meta("student_uses_proposals") == "yes")
    if not machine:
        return f"{labels} labels, all from people (and seeds)"
    told = f"{labels} labels: {people} from people (and seeds), {machine}"
    if not proposals:
        return f"{told} accepted machine labels weighted by p_correct"
    why = "student_learns_from: all" if mode == "all" else "blind checks found the machine right more often than it"
    return f"{told} machine labels weighted by p_correct, proposals too ({why})"


def items(count: int) -> str:
    return f"{count} item{'s' * (count != 1)}"


def report(status) -> None:
    """Say where the run stands and what to do next."""
    run, me = status.run, command_name()
    if status.phase == "paused":
        if status.answered and not status.pending:
            answered = len(status.answered)
            everything = "It is answered" if answered == 1 else f"All {answered} are answered"
            console.print(
                f"{everything} (round {status.round}): continue with\n  {me} resume {run}\n"
                "(the answers are kept until the round commits them)"
            )
            return
        waiting = len(status.pending)
        answered = f"{len(status.answered)} answered, " if status.answered else ""
        console.print(
            f"[yellow]{answered}{items(waiting)} wait{'s' * (waiting == 1)} for review[/] (round {status.round}). "
            f"Answer {'it' if waiting == 1 else 'them'} with\n"
            f"  {me} review {run}\n  {me} review {run} --answers answers.jsonl"
            f'   (one {{"id": ..., "label": ...}} a line; the ids: {me} status {run} --json)\n'
            f"then continue with\n  {me} resume {run}"
        )
    elif status.phase == "done":
        console.print(
            f"[green]done[/]: {status.stop_reason}. {status.labels} labels "
            f"({', '.join(f'{k} {v}' for k, v in sorted(status.by_source.items()))}), "
            f"coverage {status.coverage:.0%}.\n{describe_estimate(status.estimate)}\n"
            f"Export them with\n  {me} export {run} -o labels.jsonl"
        )


def describe_estimate(estimate) -> str:
    """How right the accepted machine labels are estimated to be and on what that rests; then what the next set
    to certify lacks."""
    if estimate is None or estimate.accuracy is None:
        target = f"{estimate.target:.0%}" if estimate is not None else "the target"
        return f"no machine label accepted yet: none is shown to reach {target} right" + describe_next(estimate)
    return (
        f"accepted machine labels: {estimate.accepted:,}, estimated {estimate.accuracy:.1%} right "
        f"(lower bound {estimate.lower:.1%} at {estimate.confidence:.0%} confidence; target {estimate.target:.0%}), "
        f"from {checks(estimate.checks)} of machine labels" + describe_next(estimate)
    )


def checks(count: int) -> str:
    return f"{count:,} check{'s' * (count != 1)}"


def describe_next(estimate) -> str:
    """A second line: the next set to certify, and the checks it needs if its estimate holds."""
    following = estimate.next if estimate is not None else None
    if following is None:
        return ""
    which = f"\nnext: the top {following.labels:,} machine labels (coverage {following.coverage:.0%})"
    if following.accuracy is None:
        return f"{which} hold {checks(following.checks)}; the next audits go there"
    bound = f", lower bound {following.lower:.1%}" if following.lower is not None else ""
    line = f"{which} are estimated {following.accuracy:.1%} right{bound} on {checks(following.checks)}; "
    if following.audits_needed:
        more = following.audits_needed
        return line + f"about {more:,} more check{'s' * (more != 1)} in them would give even odds to certify them"
    if following.accuracy <= estimate.target:
        return line + f"below the {estimate.target:.0%} target: if that holds, more checks will not certify them"
    return line + f"if that holds, certifying them at {estimate.target:.0%} needs more than 1,000 more checks"


@app.command()
@friendly
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the project file.")] = Path("project.yaml"),
) -> None:
    """Write a commented project file to start from."""
    if path.exists():
        raise LabelgraphError(f"{path} exists already; choose another path")
    path.write_text(PROJECT_TEMPLATE, encoding="utf-8")
    console.print(f"wrote {path}: set 'pool' and 'labels', then run  {command_name()} run {path}")


@app.command()
@friendly
def run(
    project: Annotated[Path, typer.Argument(help="The project file (YAML).")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the expected LLM calls and cost; run nothing.")
    ] = False,
) -> None:
    """Start (or continue) a run: rounds go on until the budget, a stop rule, or a pause for review."""
    from labelgraph.session.run import Project

    loaded = Project.from_yaml(project)
    if dry_run:
        print_plan(loaded.config)
        return
    loaded.check()  # a wrong plug-in or embedding model fails before anything is written or said
    console.print(f"run folder: {loaded.config.run_dir}")
    advance(loaded.start())


def advance(active) -> None:
    """Step the run and report where it stands; Ctrl-C leaves it interrupted and says how to go on."""
    try:
        report(active.step(progress_for(active)))
    except KeyboardInterrupt:
        errors.print(f"interrupted; continue with  {command_name()} resume {active.workspace.path}", soft_wrap=True)
        raise typer.Exit(130) from None


def print_plan(config) -> None:
    """The expected LLM calls, tokens and cost of a fresh run."""
    from labelgraph.session.plan import plan_costs

    plan = plan_costs(config)
    console.print(f"[bold]{config.name}[/]: the machine lane annotates {plan.texts:,} texts")
    for line in plan.lines:
        console.print(
            f"  {line.agent}: {line.calls:,} calls, {line.input_tokens:,} input + {line.output_tokens:,} output "
            f"tokens, ${line.cost:.4f}"
        )
    for line in plan.doubt:  # inside the lines above: what the LLM's own doubt costs
        console.print(f"    {line.agent}: {line.calls:,} calls, ${line.cost:.4f}")
    console.print(f"in all: {plan.calls:,} calls, ${plan.cost:.4f}   (tokens counted with {plan.tokenizer})")
    for note in plan.notes:
        console.print(f"  note: {note}")


@app.command()
@friendly
def plan(project: Annotated[Path, typer.Argument(help="The project file (YAML).")]) -> None:
    """Before an LLM spends money: the calls, tokens and cost a run of this project should take."""
    from labelgraph.config import load_project

    print_plan(load_project(project))


@app.command()
@friendly
def resume(run_path: RunArg) -> None:
    """Continue a run from its checkpoint, with the answers given so far."""
    active = open_run(run_path)
    if active.phase == "paused" and active.status().pending:  # a batch goes on once every item is answered
        report(active.status())
        return
    advance(active)


@app.command()
@friendly
def status(run_path: RunArg, as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Round, labels by source, pending reviews, metrics."""
    run = open_run(run_path)
    current = run.status()
    if as_json:
        sys.stdout.write(current.model_dump_json(indent=2) + "\n")
        return
    console.print(f"[bold]{escape(current.name)}[/]  {current.run}")
    console.print(f"phase: {current.phase}   round: {current.round}   stop: {current.stop_reason or '-'}")
    counts = current.counts
    console.print(
        f"pool: {current.pool:,} texts   coverage: {current.coverage:.1%}   human labels: {current.human_labels} of "
        f"{current.budget}   set aside: {counts['set_aside']}   not yet annotated: {current.machine_todo:,}"
    )
    console.print(
        "  (coverage: the share of the pool's texts whose label the run vouches for: a person's answer, a seed label "
        "or an accepted machine label; proposals are not counted)"
    )
    console.print(
        f"machine: {counts['accepted']:,} accepted, {counts['proposed']:,} proposed, {counts['rejected']} rejected, "
        f"{counts['failed']} failed"
        + (
            "   (provisional: accepted labels wait for the review's commit, at resume, which settles them again; "
            "the last round's summary may count others)"
            if current.phase == "paused"
            else ""
        )
    )
    console.print(describe_estimate(current.estimate))
    print_table(console, *label_table(run, current))
    console.print(
        "  (vouched for: seed + human + accepted, the labels the run stands behind; proposed: the machine's guesses, "
        "exported as such)"
    )
    if current.history:
        console.print("rounds:")
        print_table(console, *round_table(current.history))
        if len(current.history) > 1 and (
            shrank := dropped(current.history[-2]["accepted"], current.history[-1]["accepted"])
        ):
            console.print(shrank.lstrip("\n"))
    if current.metrics:
        console.print("student: " + ", ".join(f"{k} {v:.3f}" for k, v in current.metrics.items()))
    if current.cost or current.llm_usage:
        finish = f"${current.expected_cost_to_finish:.4f}" if current.expected_cost_to_finish is not None else "unknown"
        console.print(f"LLM cost so far: ${current.cost:.4f}   expected to finish the machine lane: {finish}")
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
        if not current.pending and current.phase == "paused":
            console.print(
                f"every item of round {current.round} is answered: {command_name()} resume {current.run} commits them"
            )
    if current.phase == "interrupted" and run.answers_to_commit():
        console.print(
            f"round {current.round} stopped after taking its answers, before committing them: "
            f"{command_name()} resume {current.run} commits them"
        )


def label_table(run, current) -> tuple[list[str], list[list[str]]]:
    """Per label: seeds, people's labels, accepted and proposed machine labels, what the run vouches for (the three
    first), and the accepted labels' estimated accuracy with the blind audits."""
    by_status = Counter((record.label, record.status) for record in run.labels())
    kinds = ("seed", "human", "accepted", "proposed")
    per_label = current.estimate.per_label if current.estimate is not None else {}
    rows = [
        [label, *(str(by_status[label, kind]) for kind in kinds), str(current.by_label.get(label, 0)), right(figures)]
        for label in current.label_names
        for figures in [per_label.get(label)]
    ]
    totals = Counter(kind for (_, kind) in by_status.elements())
    rows.append(["all", *(str(totals[kind]) for kind in kinds), str(current.labels), right(current.estimate)])
    return ["label", *kinds, "vouched for", "accepted: est. right"], rows


def round_table(history: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """One row a round: people's answers, machine labels, coverage, the accepted labels' estimate, test F1."""

    def cell(value: float | None, form: str) -> str:
        return "-" if value is None else format(value, form)

    rows = [
        [
            str(h["round"]),
            str(h.get("reviewed", 0)),
            str(h.get("human_labels", 0)),
            str(h.get("machine_annotated", 0)),
            str(h.get("accepted", 0)),
            str(h.get("proposed", 0)),
            cell(h.get("coverage"), ".1%"),
            cell(h.get("estimated_accuracy"), ".1%")
            + (f" (>= {h['estimate_lower']:.1%})" if h.get("estimate_lower") is not None else ""),
            cell(h.get("macro_f1"), ".3f"),
        ]
        for h in history
    ]
    header = ["round", "answered", "human labels", "machine labelled", "accepted", "proposed", "coverage",
              "accepted: est. right", "test macro-F1"]  # fmt: skip
    return header, rows


def right(figures) -> str:
    """An estimate's accuracy, with its audits."""
    if figures is None:
        return "-"
    accuracy = f"{figures.accuracy:.1%}" if figures.accuracy is not None else "-"
    return accuracy + (f" (audits {figures.audits_right}/{figures.audits})" if figures.audits else "")


@app.command()
@friendly
def review(
    run_path: RunArg,
    answers: Annotated[
        Path | None,
        typer.Option(
            help='JSONL answers, one {"id": ..., "label": ...} a line (null sets aside), or the --pending sheet filled '
            "in (a blank label: not yet; skip: set aside). Give it again as it fills: rows given before are kept."
        ),
    ] = None,
    reviewer: Annotated[str, typer.Option(help="Your name, kept with each answer.")] = "cli",
    correct: Annotated[
        bool,
        typer.Option(
            "--correct",
            help="Let the file replace answers given earlier; committed ones are relabelled, the old label kept.",
        ),
    ] = False,
    pending: Annotated[
        Path | None,
        typer.Option(help="Write the waiting items (text, candidates, reasons) to .jsonl or .csv to answer elsewhere."),
    ] = None,
) -> None:
    """Answer disputed items: in the terminal, or from a file with --answers (--pending writes one to fill)."""
    from labelgraph.cli.review_terminal import review_in_terminal  # loads where a review runs: startup stays quick

    active = open_run(run_path)
    me, run = command_name(), active.workspace.path
    if pending is not None:
        from labelgraph.cli.review_file import write_pending

        count = write_pending(active.pending_reviews(), pending)
        console.print(
            f"wrote {count} item{'s' * (count != 1)} waiting to {pending}: fill in 'label' (one of the labels, or skip "
            f"to set an item aside; leave it blank for later), then  {me} review {run} --answers {pending}"
        )
        return
    if answers is not None:
        from labelgraph.cli.review_file import read_back

        read = read_back(active, answers, reviewer=reviewer, correct=correct)
        note = f" ({read.unchanged} given before, unchanged)" if read.unchanged else ""
        note += f" ({read.corrected} corrected)" if read.corrected else ""
        note += f" ({read.relabelled} committed ones relabelled, the old labels kept)" if read.relabelled else ""
        then = f"continue with  {me} resume {run}"
        if read.waiting:
            wait = f"{read.waiting} still wait{'s' * (read.waiting == 1)}"
            then = (
                f"{wait}: fill in {'its label' if read.waiting == 1 else 'their labels'} and give the file again "
                f"(or  {me} review {run}), then  {me} resume {run}"
                if read.blank == read.waiting
                else f"{wait}, {read.waiting - read.blank} not in this file: write them with  {me} review {run} "
                f"--pending FILE"
            )
        console.print(f"recorded {read.recorded} answer{'s' * (read.recorded != 1)}{note}; {then}")
        return
    if not sys.stdin.isatty():
        raise LabelgraphError("no terminal to review in: pass --answers FILE.jsonl")
    review_in_terminal(
        active,
        console,
        reviewer=reviewer,
        resume=lambda run: run.step(progress_for(run, until="present")),
        report=report,
    )


@app.command()
@friendly
def relabel(
    run_path: RunArg,
    item_id: Annotated[str, typer.Argument(metavar="ID", help="The item whose committed label changes.")],
    label: Annotated[str, typer.Argument(metavar="LABEL", help="Its new label.")],
    note: Annotated[str, typer.Option(help="Why, kept in the item's history.")] = "",
    reviewer: Annotated[str, typer.Option(help="Your name, kept in the item's history.")] = "cli",
) -> None:
    """Change a committed label (a person's answer, a seed, an item set aside); the old one stays in its history."""
    active = open_run(run_path)
    changed = active.relabel({item_id: label}, reviewer=reviewer, note=note)
    if not changed:
        console.print(f"{escape(item_id)} is labelled {escape(label)} already: nothing changed")
        return
    was, run, me = changed[item_id].old_label, active.workspace.path, command_name()
    then = (
        f"export it with  {me} export {run} -o labels.jsonl"
        if active.phase == "done"
        else f"the next round learns from it:  {me} resume {run}"
    )
    console.print(
        f"relabelled {escape(item_id)}: {escape(was) if was is not None else 'set aside'} -> {escape(label)} "
        f"(the old label stays in its history, which the export carries); {then}"
    )


@app.command()
@friendly
def export(
    run_path: RunArg,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="File to write: .jsonl or .csv.")] = None,
    predictions: Annotated[
        bool, typer.Option("--predictions", help="Also the student's label and probability for every other text.")
    ] = False,
    model: Annotated[
        Path | None, typer.Option("--model", help="Also write the trained student to this new folder.")
    ] = None,
) -> None:
    """Write every label with its provenance (source, round, confidence, the critic's verdict), and/or the
    trained student as a folder (``--model``) that ``labelgraph predict`` reads."""
    if output is None and model is None:
        raise ConfigError("say what to export: --output FILE (the labels), --model FOLDER (the student), or both")
    run = open_run(run_path)
    if output is not None:
        count = run.export(output, predictions=predictions)
        console.print(f"wrote {count} labels to {output}")
    if model is not None:
        run.export_model(model)
        console.print(f"wrote the student to {model}/ ({command_name()} predict {model} FILE)")


@app.command()
@friendly
def predict(
    model: Annotated[Path, typer.Argument(help="A student folder written by export --model.")],
    data: Annotated[Path, typer.Argument(help="Texts to label: .jsonl, .csv or .txt (one text a line).")],
    output: Annotated[Path | None, typer.Option("-o", "--output", help="JSONL to write (default: stdout).")] = None,
    text_field: Annotated[str, typer.Option(help="The text's field in JSONL or CSV rows.")] = "text",
) -> None:
    """Label texts with an exported student: one JSON line per text with its label and probability."""
    from labelgraph.cli.predict import predict_file

    count = predict_file(model, data, output, text_field=text_field)
    if output is not None:
        console.print(f"wrote {count} predictions to {output}")


app.command("eval")(friendly(eval_command))
app.command("serve")(friendly(serve_command))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
