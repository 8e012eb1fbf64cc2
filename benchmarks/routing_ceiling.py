"""How well could a student on frozen vectors rank a recorded LLM's errors, if it had every gold label? A ceiling
for the critic's routing AUROC on a replay.

    python benchmarks/routing_ceiling.py mr ../shared/datasets/mr/llm_annotations_freeal_chatgpt.jsonl
        [--models minilm,all-mpnet-base-v2]

Over the eval's pool (2,000 texts, ``labelgraph eval``'s sample): logistic regression trained on the pool's *gold*
labels, 10 folds out of fold (1,800 gold labels a fold, nine times a run's 200 answers, and none of them noisy),
scores each answered text by the probability it gives the LLM's label; the AUROC of that score for "the LLM is
right" is what agreement with the best student these vectors allow achieves. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from labelgraph.encoding.embedders import get_embedder
from labelgraph.evals.annotators import ReplayAnnotator
from labelgraph.evals.datasets import CachedEmbedder, load_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    parser.add_argument("recording", help="JSONL with text and llm_label, as labelgraph eval's replay annotator reads")
    parser.add_argument("--models", default="minilm,all-mpnet-base-v2")
    args = parser.parse_args()
    data = load_dataset(args.dataset)
    recorded = ReplayAnnotator(Path(args.recording), data.labels).recorded  # text -> label, None where it abstained
    texts = [item.text for item in data.train]
    gold = np.array([data.labels.index(item.label) for item in data.train])
    rows = [k for k, text in enumerate(texts) if recorded.get(text) in data.labels]
    llm = np.array([data.labels.index(recorded[texts[k]]) for k in rows])
    right = llm == gold[rows]
    out = {}
    for model in args.models.split(","):
        vectors = CachedEmbedder(get_embedder(model)).embed(texts)
        folds = StratifiedKFold(10, shuffle=True, random_state=0)
        student = LogisticRegression(C=1.0, max_iter=2000)
        probability = cross_val_predict(student, vectors, gold, cv=folds, method="predict_proba")
        auroc = float(roc_auc_score(right, probability[rows, llm]))
        accuracy = float((probability.argmax(axis=1) == gold).mean())
        out[model] = {"routing_auroc_ceiling": round(auroc, 4), "gold_student_accuracy": round(accuracy, 4)}
        print(
            f"{data.name} {model}: {len(rows)} answered, LLM {right.mean():.3f} right; a student on every gold "
            f"label {accuracy:.3f} right; its agreement ranks the LLM's errors at AUROC {auroc:.3f}",
            flush=True,
        )
    summary = {"benchmark": "routing_ceiling", "dataset": data.name, "llm_accuracy": round(float(right.mean()), 4)}
    print(json.dumps({**summary, **out}))


if __name__ == "__main__":
    main()
