"""How much each critic signal adds to routing: the AUROC of the calibrated ranking with every signal, without
each one, and of each signal alone, on recorded eval runs.

    python benchmarks/signal_ablation.py EVAL_OUT [EVAL_OUT ...] [--extra SCORES.npz]

Each recorded run (``OUT/runs/NAME/certify.npz``, written by ``labelgraph eval``) holds the final round's signals of
every machine label, which of them people checked and whether each is right. The product's calibration
(``critic.calibration.calibrate``) is refitted on the run's checks with all signals and with one signal held
constant; the routing AUROC ("is this machine label right") is taken over the labels nobody checked, as the eval
reports it. A signal's "alone" figure is its raw value's AUROC, before any calibration. ``--extra`` adds a
candidate signal saved by ``benchmarks/routing_finetuned.py --save`` (a fine-tuned student's out-of-fold probability
of the recorded LLM's label, so for replay runs of that recording), matched to the run's items by text: the
calibrated AUROC with it beside every signal, and alone. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from labelgraph.config import CriticSettings
from labelgraph.critic.calibration import calibrate
from labelgraph.critic.signals import SIGNALS


def routing_auroc(features: np.ndarray, checked: np.ndarray, right: np.ndarray) -> float | None:
    """The calibrated ranking's AUROC over unchecked labels; None where they are all right or all wrong."""
    rows = np.flatnonzero(checked)
    p, _, _ = calibrate(features, rows, right[rows], CriticSettings())
    open_ = ~checked
    if len(set(right[open_].tolist())) < 2:
        return None
    return float(roc_auc_score(right[open_], p[open_]))


def ablate(features: np.ndarray, checked: np.ndarray, right: np.ndarray) -> dict[str, dict[str, float | None]]:
    """Per signal: AUROC alone, and the calibrated AUROC without it (``all`` holds the AUROC with every signal)."""
    figures: dict[str, dict[str, float | None]] = {"all": {"with": routing_auroc(features, checked, right)}}
    open_ = ~checked
    for column, name in enumerate(SIGNALS):
        values = features[:, column]
        constant = np.ptp(values) == 0
        held = features.copy()
        held[:, column] = values.mean()
        figures[name] = {
            "alone": None if constant else float(roc_auc_score(right[open_], values[open_])),
            "without": None if constant else routing_auroc(held, checked, right),
        }
    return figures


def extra_signal(saved: Path, run_folder: Path, ids: np.ndarray, key: str = "llm_tuned") -> np.ndarray:
    """Per machine label of a run (``ids``), the saved student's probability of the recorded label, by the text the
    run's ``pool.jsonl`` gives the id; a text the file lacks gets the mean."""
    scores = np.load(saved, allow_pickle=False)
    probability = scores[key][np.arange(len(scores["llm"])), scores["llm"]]
    row_of = {text: row for row, text in enumerate(scores["texts"].tolist())}
    with (run_folder / "pool.jsonl").open(encoding="utf-8") as handle:
        text_of = {row["id"]: row["text"] for row in map(json.loads, handle)}
    values = np.array([probability[row_of[text_of[i]]] if text_of.get(i) in row_of else np.nan for i in ids])
    return np.where(np.isnan(values), np.nanmean(values), values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recorded", type=Path, nargs="+", help="eval output folders or certify.npz files")
    parser.add_argument("--extra", type=Path, default=None, help="routing_finetuned.py --save's NPZ")
    args = parser.parse_args()
    files = [f for r in args.recorded for f in ([r] if r.suffix == ".npz" else sorted(r.glob("runs/*/certify.npz")))]
    if not files:
        raise SystemExit("error: no certify.npz found (run labelgraph eval first)")
    print(f"{'run':34} {'all':>6}  " + "  ".join(f"{name[:13]:>13}" for name in SIGNALS))
    print(f"{'':34} {'':>6}  " + "  ".join(f"{'alone/-drop':>13}" for _ in SIGNALS))
    by_run = {}
    for path in files:
        run = np.load(path, allow_pickle=False)
        features, checked, right = run["features"], run["checked"].astype(bool), run["right"].astype(bool)
        figures = ablate(features, checked, right)
        name = f"{path.parent.parent.parent.name}/{path.parent.name}"
        by_run[name] = figures
        whole = figures["all"]["with"]
        cells = []
        for signal in SIGNALS:
            alone, without = figures[signal]["alone"], figures[signal]["without"]
            drop = None if without is None or whole is None else whole - without
            cells.append("-" if alone is None else f"{alone:.3f}/{drop:+.3f}" if drop is not None else f"{alone:.3f}/-")
        print(f"{name:34} {whole if whole is not None else float('nan'):6.3f}  " + "  ".join(f"{c:>13}" for c in cells))
        if args.extra is not None:
            column = extra_signal(args.extra, path.parent, run["ids"])
            open_ = ~checked
            figures["extra"] = {
                "alone": float(roc_auc_score(right[open_], column[open_])),
                "with": routing_auroc(np.column_stack([features, column]), checked, right),
            }
            extra = figures["extra"]
            print(f"{'':34} + {args.extra.name}: {extra['with']:.3f} (alone {extra['alone']:.3f})")
    print(json.dumps({"runs": by_run}))


if __name__ == "__main__":
    main()
