"""The critic: a calibrated ``p_correct`` for every machine label, learnt from the labels people checked.

Signals of one machine label (each a number a person can read back in the reasons):
  confidence     the annotator's own confidence (1.0 for annotators that state none)
  vote_share     share of the annotator's samples that agree (its confidence when it sampled once)
  consensus      out-of-fold probability of the label from a model trained on every other label
                 (confident learning: a label the rest of the data does not support is suspect)
  consensus_top  1 if that model's top label is the machine's label
  machine_knn    similarity-weighted share of the nearest other machine-labelled texts that carry the label
  human_knn      similarity-weighted share of the nearest human-labelled texts that carry the label
  human_model    probability of the label from a model trained on human labels alone
  tools          votes for minus votes against from labelling-function tools
  judge          the LLM judge's verdict (1 accept, 0.5 dispute or none, 0 reject)
A logistic regression over these, fitted on machine labels a person checked (right or wrong), gives
``p_correct`` (``labelgraph.critic.calibration``).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from labelgraph.config import CriticSettings
from labelgraph.critic.calibration import Calibration, calibrate
from labelgraph.stores.labels import MachineLabel, OpenLabel

JudgedLabel = MachineLabel | OpenLabel
"""A machine label as the critic reads it: the stored one, or its light view."""

__all__ = ["SIGNALS", "CalibratedCritic", "Calibration", "signal_reasons"]

SIGNALS = (
    "confidence",
    "vote_share",
    "consensus",
    "consensus_top",
    "machine_knn",
    "human_knn",
    "human_model",
    "tools",
    "judge",
)
_JUDGE = {"accept": 1.0, "dispute": 0.5, "reject": 0.0}


def _fit_predict(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, n_labels: int, seed: int) -> np.ndarray:
    """Class probabilities (columns = label indices) of a logistic regression; uniform with under two classes."""
    from sklearn.linear_model import LogisticRegression  # scikit-learn loads where a model is fitted

    out = np.full((len(test_x), n_labels), 1.0 / n_labels)
    classes = np.unique(train_y)
    if len(classes) < 2 or len(test_x) == 0:
        if len(classes) == 1:
            out[:] = 0.0
            out[:, classes[0]] = 1.0
        return out
    model = LogisticRegression(C=1.0, max_iter=300, random_state=seed)
    model.fit(train_x, train_y)
    out[:] = 0.0
    out[:, model.classes_] = model.predict_proba(test_x)
    return out


def _knn_agreement(
    vectors: np.ndarray, given: np.ndarray, ref_vectors: np.ndarray, ref_y: np.ndarray, k: int, skip_self: bool
) -> np.ndarray:
    """Similarity-weighted share of each text's ``k`` nearest reference texts whose label is its own.

    ``skip_self``: the references include the texts themselves (an exact match is left out)."""
    k = min(k, len(ref_y) - int(skip_self))
    if k <= 0:
        return np.full(len(given), 0.5)
    out = np.zeros(len(given))
    for start in range(0, len(given), 2048):
        sims = vectors[start : start + 2048] @ ref_vectors.T
        if skip_self:
            sims[sims > 0.9999] = -1.0
        sims = np.clip(sims, 0.0, None)
        near = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        weights = np.take_along_axis(sims, near, axis=1)
        agree = ((ref_y[near] == given[start : start + 2048, None]) * weights).sum(axis=1)
        total = weights.sum(axis=1)
        out[start : start + 2048] = np.where(total > 0, agree / np.maximum(total, 1e-12), 0.5)
    return out


class CalibratedCritic:
    """Signals for machine labels, and the calibration that turns them into ``p_correct``."""

    name = "calibrated"

    def __init__(self, labels: list[str], settings: CriticSettings | None = None, *, seed: int = 0):
        self.labels = list(labels)
        self.settings = settings or CriticSettings()
        self.seed = seed

    # -- signals ------------------------------------------------------------------------------------
    def signals(
        self,
        machine: Sequence[JudgedLabel],
        vectors: np.ndarray,
        human_vectors: np.ndarray,
        human_labels: list[str],
        others: tuple[Sequence[JudgedLabel], np.ndarray] | None = None,
    ) -> np.ndarray:
        """One row of SIGNALS per machine label (every one must have a label). ``others`` (labels, vectors):
        score ``machine`` against these machine labels instead of among themselves: the consensus model and the
        machine neighbours are then built from ``others`` alone, as one fold of the out-of-fold consensus would be
        (one model fit instead of ``folds``)."""
        n, index = len(machine), {name: i for i, name in enumerate(self.labels)}
        out = np.zeros((n, len(SIGNALS)))
        if n == 0:
            return out
        given = np.array([index[m.label] for m in machine])  # type: ignore[index]
        human_y = np.array([index[label] for label in human_labels], dtype=int)
        if others is None:
            ref_vectors, ref_given = vectors, given
        else:
            ref_vectors, ref_given = others[1], np.array([index[m.label] for m in others[0]], dtype=int)  # type: ignore[index]
        reference = np.random.default_rng(self.seed).permutation(len(ref_given))[: self.settings.consensus_rows]
        with ThreadPoolExecutor(1, thread_name_prefix="critic-knn") as beside:
            # the machine neighbours (a matrix product and a partition: numpy lets go of the GIL) in a thread
            # while the consensus model fits (BLAS busy on both cores, Python between its steps)
            machine_knn = beside.submit(
                _knn_agreement,
                vectors,
                given,
                ref_vectors[reference],
                ref_given[reference],
                self.settings.neighbours,
                True,
            )
            if others is None:
                consensus = self._consensus(vectors, given, human_vectors, human_y)
            else:
                size = min(
                    len(ref_given) * (self.settings.folds - 1) // self.settings.folds, self.settings.consensus_rows
                )
                train = np.random.default_rng(self.seed).choice(len(ref_given), size, replace=False)
                consensus = _fit_predict(
                    np.concatenate([ref_vectors[train], human_vectors]),
                    np.concatenate([ref_given[train], human_y]),
                    vectors,
                    len(self.labels),
                    self.seed,
                )
            out[:, 4] = machine_knn.result()
        out[:, 0] = [m.confidence for m in machine]
        out[:, 1] = [
            m.votes.get(m.label, 0) / sum(m.votes.values()) if sum(m.votes.values()) > 1 else m.confidence  # type: ignore[arg-type]
            for m in machine
        ]
        out[:, 2] = consensus[np.arange(n), given]
        out[:, 3] = consensus.argmax(axis=1) == given
        out[:, 5] = _knn_agreement(vectors, given, human_vectors, human_y, self.settings.neighbours, False)
        out[:, 6] = _fit_predict(human_vectors, human_y, vectors, len(self.labels), self.seed)[np.arange(n), given]
        out[:, 7] = [
            sum(v == m.label for v in m.tool_votes.values()) - sum(v != m.label for v in m.tool_votes.values())
            for m in machine
        ]
        out[:, 8] = [_JUDGE.get(m.judge or "", 0.5) for m in machine]
        return out

    def _consensus(
        self, vectors: np.ndarray, given: np.ndarray, human_vectors: np.ndarray, human_y: np.ndarray
    ) -> np.ndarray:
        """Out-of-fold probabilities from models trained on human labels plus the other folds' machine labels."""
        folds = self.settings.folds
        rng = np.random.default_rng(self.seed)
        fold_of = rng.permutation(len(given)) % folds
        probs = np.zeros((len(given), len(self.labels)))
        cap = self.settings.consensus_rows
        for fold in range(folds):
            test = fold_of == fold
            train = np.flatnonzero(~test)
            if len(train) > cap:
                train = rng.choice(train, cap, replace=False)
            x = np.concatenate([vectors[train], human_vectors])
            y = np.concatenate([given[train], human_y])
            probs[test] = _fit_predict(x, y, vectors[test], len(self.labels), self.seed)
        return probs

    def calibrate(
        self, features: np.ndarray, checked: np.ndarray, right: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, Calibration]:
        """``p_correct`` for every row and out of fold for the ``checked`` rows (``calibration.calibrate``)."""
        return calibrate(features, checked, right, self.settings, seed=self.seed)


def signal_reasons(row: np.ndarray, label: str, p_correct: float, status: str) -> list[str]:
    """The reasons a person reads: p_correct and the signals behind it, strongest doubts first."""
    s = dict(zip(SIGNALS, row, strict=True))
    reasons = [f"p_correct {p_correct:.2f} ({status})"]
    doubts = []
    if s["consensus"] < 0.5:
        doubts.append((s["consensus"], f"the other labels support {label!r} only {s['consensus']:.2f} (consensus)"))
    if s["machine_knn"] < 0.5:
        doubts.append((s["machine_knn"], f"similar machine-labelled texts agree {s['machine_knn']:.2f}"))
    if s["human_knn"] < 0.5:
        doubts.append((s["human_knn"], f"human-labelled neighbours agree {s['human_knn']:.2f}"))
    if s["vote_share"] < 0.8:
        doubts.append((s["vote_share"], f"annotator samples agree {s['vote_share']:.2f}"))
    if s["tools"] < 0:
        doubts.append((0.0, f"labelling functions vote against ({int(-s['tools'])})"))
    if s["judge"] == 0.0:
        doubts.append((0.0, "the LLM judge rejects it"))
    reasons += [text for _, text in sorted(doubts)]
    if len(reasons) == 1:
        reasons.append(
            f"consensus {s['consensus']:.2f}, human-labelled neighbours {s['human_knn']:.2f}, "
            f"annotator confidence {s['confidence']:.2f}"
        )
    return reasons
