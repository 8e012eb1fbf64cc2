"""Could a fine-tuned student rank a recorded LLM's errors at issue 23's AUROC 0.80? Out of fold, on the LLM's own
(noisy) labels as the product would have them, and on the gold labels as a ceiling.

    python benchmarks/routing_finetuned.py mr ../shared/datasets/mr/llm_annotations_freeal_chatgpt.jsonl
        [--model all-mpnet-base-v2] [--folds 2] [--train-on llm,gold] [--epochs 3]

Over the eval's pool (2,000 texts, ``labelgraph eval``'s sample, the texts the recording answered): the student
``labelgraph.student.finetune`` makes (``student: {kind: finetune, model: MODEL}``: the encoder tuned end to end,
a tenth held out for the temperature) is fitted on all folds but one and scores each text of that fold by the
probability it gives the LLM's label; the AUROC of that score for "the LLM is right" is the routing a signal from
such a student could give. ``--train-on llm`` fits on the LLM's labels (what a run has: the machine lane's labels,
about 93% right on MR), ``gold`` on the gold labels (no run has them: a ceiling). The frozen encoder's logistic
regression on the same folds is printed beside it, and the mean of the two. ``--save FILE`` keeps every text's
out-of-fold probabilities (NPZ), to combine with a run's other signals. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from labelgraph.config import StudentSettings
from labelgraph.encoding.embedders import get_embedder
from labelgraph.evals.annotators import ReplayAnnotator
from labelgraph.evals.datasets import CachedEmbedder, load_dataset
from labelgraph.student.finetune import FinetunedStudent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    parser.add_argument("recording", help="JSONL with text and llm_label, as labelgraph eval's replay annotator reads")
    parser.add_argument("--model", default="all-mpnet-base-v2")
    parser.add_argument("--folds", type=int, default=2)
    parser.add_argument("--train-on", default="llm,gold")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--save", type=Path, default=None, help="NPZ of every text's scores, to combine with others")
    args = parser.parse_args()
    data = load_dataset(args.dataset)
    recorded = ReplayAnnotator(Path(args.recording), data.labels).recorded  # text -> label, None where it abstained
    texts = [item.text for item in data.train if recorded.get(item.text) in data.labels]
    gold = np.array([data.labels.index(item.label) for item in data.train if recorded.get(item.text) in data.labels])
    llm = np.array([data.labels.index(recorded[text]) for text in texts])
    right = llm == gold
    print(f"{data.name}: {len(texts)} answered texts, the LLM {right.mean():.3f} right", flush=True)
    vectors = CachedEmbedder(get_embedder(args.model)).embed(texts)
    folds = list(StratifiedKFold(args.folds, shuffle=True, random_state=0).split(texts, llm))
    settings = StudentSettings(kind="finetune", model=args.model, epochs=args.epochs)
    out: dict[str, dict[str, float]] = {}
    saved: dict[str, np.ndarray] = {"texts": np.array(texts), "llm": llm, "gold": gold}
    for source in args.train_on.split(","):
        targets = llm if source == "llm" else gold
        tuned = np.zeros((len(texts), len(data.labels)))
        frozen = np.zeros_like(tuned)
        started = time.perf_counter()
        for number, (train, held) in enumerate(folds, start=1):
            student = FinetunedStudent(data.labels, settings, random_state=number)
            student.fit([texts[k] for k in train], [data.labels[t] for t in targets[train]])
            tuned[held] = student.predict_proba([texts[k] for k in held])
            logistic = LogisticRegression(C=1.0, max_iter=2000).fit(vectors[train], targets[train])
            frozen[held] = logistic.predict_proba(vectors[held])
            print(f"  {source} fold {number}: {time.perf_counter() - started:.0f} s", flush=True)
        rows = np.arange(len(texts))
        both = (tuned[rows, llm] + frozen[rows, llm]) / 2
        saved[f"{source}_tuned"], saved[f"{source}_frozen"] = tuned, frozen
        figures = {
            "finetuned_auroc": round(float(roc_auc_score(right, tuned[rows, llm])), 4),
            "frozen_auroc": round(float(roc_auc_score(right, frozen[rows, llm])), 4),
            "mean_of_both_auroc": round(float(roc_auc_score(right, both)), 4),
            "finetuned_accuracy": round(float((tuned.argmax(axis=1) == gold).mean()), 4),
            "frozen_accuracy": round(float((frozen.argmax(axis=1) == gold).mean()), 4),
            "seconds": round(time.perf_counter() - started),
        }
        out[source] = figures
        print(
            f"{data.name} trained on {source} labels, {args.folds} folds: the fine-tuned student ranks the LLM's "
            f"errors at AUROC {figures['finetuned_auroc']:.3f} (frozen logistic {figures['frozen_auroc']:.3f}); "
            f"accuracy {figures['finetuned_accuracy']:.3f} ({figures['frozen_accuracy']:.3f})",
            flush=True,
        )
    if args.save:
        np.savez_compressed(args.save, **saved)
    summary = {"benchmark": "routing_finetuned", "dataset": data.name, "model": args.model, "folds": args.folds}
    print(json.dumps({**summary, "llm_accuracy": round(float(right.mean()), 4), **out}))


if __name__ == "__main__":
    main()
