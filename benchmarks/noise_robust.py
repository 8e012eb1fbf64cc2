"""A critic signal from a student that learns from noisy machine labels: confident learning (Northcutt et al., 2021).

The machine labels are noisy; a student trained on them as they are learns their mistakes too. Here a logistic
regression on the texts' vectors is trained in three steps, with people's labels in every training set:

1. out-of-fold probabilities for every machine-labelled text (``folds`` folds), trained on the other folds'
   machine labels and people's labels;
2. cleanlab's ``find_label_issues`` on those probabilities flags the machine labels the data calls wrong (the
   confident joint: per-class thresholds, pruned by the estimated noise rates);
3. out-of-fold probabilities again, each fold's model trained only on the other folds' machine labels that were
   not flagged, and on people's labels.

The signal is step 3's probability of each machine label: a label the cleaned data supports scores high, one it
does not, low. Step 1's probability is the critic's ``consensus`` signal; step 3 differs in what it learns from.
``benchmarks/noise_robust_signal.py`` measures what the signal adds to routing AUROC.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["noise_robust_agreement"]

FOLDS = 5
C = 1.0
"""The regularisation of every fit: the critic's consensus model's."""


def noise_robust_agreement(
    machine_vectors: np.ndarray,
    machine_labels: Sequence[str],
    human_vectors: np.ndarray,
    human_labels: Sequence[str],
    labels: Sequence[str],
    *,
    seed: int = 0,
    folds: int = FOLDS,
) -> np.ndarray:
    """For each machine label, the out-of-fold probability that a student trained on the cleaned machine labels and
    people's labels gives it (0 to 1; see the module's docstring). ``machine_vectors`` and ``human_vectors`` are
    rows of one embedding space; every label is one of ``labels``. Deterministic for ``seed``."""
    names = list(labels)
    index = {name: n for n, name in enumerate(names)}
    unknown = sorted({str(x) for x in [*machine_labels, *human_labels]} - set(index))
    if unknown:
        raise ValueError(f"labels {unknown[:3]} are not among {names}")
    x = np.asarray(machine_vectors, dtype=np.float32)
    y = np.array([index[label] for label in machine_labels], dtype=int)
    hx = np.asarray(human_vectors, dtype=np.float32).reshape(-1, x.shape[1] if x.ndim == 2 else 0)
    hy = np.array([index[label] for label in human_labels], dtype=int)
    if len(y) != len(x) or len(hy) != len(hx):
        raise ValueError("each vector needs one label: machine and human vectors and labels differ in length")
    if len(y) == 0:
        return np.zeros(0)
    fold_of = np.random.default_rng(seed).permutation(len(y)) % max(2, min(folds, len(y)))
    first = _out_of_fold(x, y, hx, hy, fold_of, np.ones(len(y), dtype=bool), len(names), seed)
    keep = ~_issues(y, first)
    second = _out_of_fold(x, y, hx, hy, fold_of, keep, len(names), seed)
    return second[np.arange(len(y)), y]


def _issues(y: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """cleanlab's label issues among the machine labels (none where it cannot tell: a class with too few rows)."""
    present = np.unique(y)
    if len(present) < 2 or np.bincount(y).min(initial=len(y)) < 2:
        return np.zeros(len(y), dtype=bool)
    from cleanlab.filter import find_label_issues  # cleanlab loads where it is used

    remap = {int(c): n for n, c in enumerate(present)}  # cleanlab wants every class in 0..K-1 to occur
    sub = probs[:, present]
    sub = sub / np.clip(sub.sum(axis=1, keepdims=True), 1e-12, None)
    return np.asarray(find_label_issues(np.array([remap[int(c)] for c in y]), sub, n_jobs=1), dtype=bool)


def _out_of_fold(
    x: np.ndarray,
    y: np.ndarray,
    hx: np.ndarray,
    hy: np.ndarray,
    fold_of: np.ndarray,
    usable: np.ndarray,
    n_labels: int,
    seed: int,
) -> np.ndarray:
    """Each fold's class probabilities from a model on the other folds' usable machine labels and people's."""
    from sklearn.linear_model import LogisticRegression  # scikit-learn loads where a model is fitted

    probs = np.full((len(y), n_labels), 1.0 / n_labels)
    for fold in np.unique(fold_of):
        test = fold_of == fold
        train = ~test & usable
        tx, ty = np.concatenate([x[train], hx]), np.concatenate([y[train], hy])
        classes = np.unique(ty)
        if len(classes) < 2:
            if len(classes) == 1:
                probs[test] = np.eye(n_labels)[classes[0]]
            continue
        model = LogisticRegression(C=C, max_iter=500, random_state=seed).fit(tx, ty)
        probs[test] = 0.0
        probs[np.ix_(test, model.classes_)] = model.predict_proba(x[test])
    return probs
