"""``labelgraph eval``: compare strategies on a dataset with gold labels, through the real loop."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["eval_command"]


def eval_command(
    dataset: Annotated[str | None, typer.Argument(help="A dataset by name (sst2, mr, ...) or folder.")] = None,
    train: Annotated[Path | None, typer.Option(help="Train JSONL (text, label), instead of a name.")] = None,
    test: Annotated[Path | None, typer.Option(help="Test JSONL (text, label), with --train.")] = None,
    strategies: Annotated[str, typer.Option(help="Comma-separated strategies to compare.")] = "random,margin,coreset",
    annotator: Annotated[
        str, typer.Option(help="none | embedded | llm | replay:FILE | simulated:ACC[:flat] | difficulty:ACC")
    ] = "none",
    seed_size: Annotated[int, typer.Option(help="Gold labels given before the first round.")] = 20,
    batch_size: Annotated[int, typer.Option(help="Items selected per round.")] = 20,
    budget: Annotated[int, typer.Option(help="Human labels per run.")] = 200,
    rounds: Annotated[int, typer.Option(help="Most rounds per run.")] = 30,
    seeds: Annotated[int, typer.Option(help="Runs per strategy (seeds 0..N-1).")] = 3,
    noise: Annotated[float, typer.Option(help="Rate at which the simulated person answers wrongly.")] = 0.0,
    pool_size: Annotated[int, typer.Option(help="Training texts sampled into the pool (0: all).")] = 2000,
    test_size: Annotated[int, typer.Option(help="Test texts sampled (0: all).")] = 500,
    critic: Annotated[str, typer.Option(help="on, or off to accept every annotation (a baseline).")] = "on",
    quality_target: Annotated[
        float, typer.Option(help="Accuracy the accepted machine labels must reach (a lower bound).")
    ] = 0.95,
    audit: Annotated[float, typer.Option(help="Share of acceptable machine labels audited blind.")] = 0.05,
    explore: Annotated[float, typer.Option(help="Share of each batch drawn from the strategy's picks.")] = 0.3,
    student_learns_from: Annotated[
        str, typer.Option(help="Machine labels the student trains on: auto, accepted, or all (proposals too).")
    ] = "auto",
    student: Annotated[
        str, typer.Option(help="Students to compare, comma-separated: logistic, finetune, module:Class.")
    ] = "logistic",
    embedding: Annotated[
        str | None,
        typer.Option(
            help="The encoder: all-mpnet-base-v2 (default), minilm, a sentence-transformers folder or hub id."
        ),
    ] = None,
    llm_model: Annotated[str | None, typer.Option(help="For --annotator llm: the model.")] = None,
    llm_base_url: Annotated[str | None, typer.Option(help="For --annotator llm: an OpenAI-compatible URL.")] = None,
    llm_samples: Annotated[
        int, typer.Option(help="For --annotator llm: answers an item (self-consistency: their votes).")
    ] = 1,
    llm_logprobs: Annotated[
        bool, typer.Option(help="For --annotator llm: ask for the label tokens' log-probabilities.")
    ] = False,
    out: Annotated[Path | None, typer.Option(help="Output folder (default evals/DATASET-ANNOTATOR).")] = None,
) -> None:
    """Simulate active learning with gold labels; write results.json, report.md and plots."""
    from pydantic import ValidationError

    from labelgraph.cli.console import stdout_console
    from labelgraph.config import LLMSettings, format_validation_error
    from labelgraph.encoding.embedders import get_embedder
    from labelgraph.encoding.encoders import MINILM, canonical, default_encoder, is_plugin, source
    from labelgraph.errors import ConfigError
    from labelgraph.evals.datasets import CachedEmbedder, load_dataset
    from labelgraph.evals.report import print_report, write_report
    from labelgraph.evals.simulate import EvalSpec, run_eval
    from labelgraph.progress import task

    try:  # the options first: a mistake is one line, before any text is embedded
        llm = None
        if llm_model:
            llm = LLMSettings(model=llm_model, base_url=llm_base_url, samples=llm_samples, logprobs=llm_logprobs)
        spec = EvalSpec(
            strategies=[s.strip() for s in strategies.split(",") if s.strip()],
            annotator=annotator,
            seed_size=seed_size,
            batch_size=batch_size,
            budget=budget,
            rounds=rounds,
            seeds=list(range(seeds)),
            noise=noise,
            llm=llm,
            critic=critic,  # type: ignore[arg-type]
            quality_target=quality_target,
            audit=audit,
            explore=explore,
            student_learns_from=student_learns_from,  # type: ignore[arg-type]
            students=[s.strip() for s in student.split(",") if s.strip()],
        )
        embedding = embedding or default_encoder()
        if not is_plugin(embedding):
            source(embedding)  # a missing encoder is one line, before the dataset is read
    except ValidationError as error:
        raise ConfigError(format_validation_error(error, "labelgraph eval options")) from None
    data = load_dataset(dataset, train=train, test=test, pool_size=pool_size or None, test_size=test_size or None)
    encoder = "" if canonical(embedding) == MINILM else "-" + Path(canonical(embedding)).name
    folder = out or Path("evals") / f"{data.name}-{annotator.split(':')[0]}{encoder}"
    with task(f"{data.name}: eval runs", total=len(spec.strategies) * len(spec.seeds) * len(spec.students)) as advance:
        embedder = CachedEmbedder(get_embedder(embedding))
        results = run_eval(spec, data, folder, embedder=embedder, on_run=lambda strategy, seed: advance())
    written = write_report(results, folder)
    console = stdout_console()
    print_report(results, console)
    console.print(f"wrote {folder}/{', '.join(written)}", markup=False)
