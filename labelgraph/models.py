"""Student models: the fast classifier the loop retrains every round (logistic regression on embeddings)."""

from __future__ import annotations

import inspect
from typing import Any, Protocol, runtime_checkable

import numpy as np

from labelgraph.errors import PluginError
from labelgraph.plugins import load_object

__all__ = ["LogisticRegressionStudent", "StudentModel", "evaluate", "fit_student", "make_student"]


@runtime_checkable
class StudentModel(Protocol):
    """A classifier over embedding vectors whose probability columns follow ``labels``."""

    labels: list[str]

    @property
    def is_informative(self) -> bool:
        """True once its probabilities can rank uncertainty (it has seen two classes)."""
        ...

    def fit(self, vectors: np.ndarray, targets: list[str], weights: list[float] | None = None) -> StudentModel:
        """Fit on labelled vectors; ``weights`` (one per target, default 1) say how much each label is trusted."""
        ...

    def predict_proba(self, vectors: np.ndarray) -> np.ndarray: ...


class LogisticRegressionStudent:
    """Multinomial logistic regression; before two classes are labelled it predicts what it has seen.

    With no labels it is uniform, with one class it gives that class probability 1.
    """

    def __init__(self, labels: list[str], *, c: float = 10.0, random_state: int = 0):
        self.labels = list(labels)
        self.c = c
        self.random_state = random_state
        self._model: Any = None  # a fitted sklearn LogisticRegression (sklearn loads at the first fit)
        self._only: int | None = None
        self.n_fitted = 0

    def fit(
        self, vectors: np.ndarray, targets: list[str], weights: list[float] | None = None
    ) -> LogisticRegressionStudent:
        self.n_fitted = len(targets)
        self._model, self._only = None, None
        classes = sorted(set(targets))
        if len(classes) == 1:
            self._only = self.labels.index(classes[0])
        elif len(classes) > 1:
            from sklearn.linear_model import LogisticRegression

            self._model = LogisticRegression(C=self.c, max_iter=2000, random_state=self.random_state)
            self._model.fit(np.asarray(vectors), [self.labels.index(t) for t in targets], sample_weight=weights)
        return self

    def predict_proba(self, vectors: np.ndarray) -> np.ndarray:
        vectors = np.atleast_2d(np.asarray(vectors))
        probs = np.zeros((len(vectors), len(self.labels)), dtype=np.float64)
        if self._model is not None:
            probs[:, self._model.classes_] = self._model.predict_proba(vectors)
        elif self._only is not None:
            probs[:, self._only] = 1.0
        else:
            probs[:] = 1.0 / len(self.labels)
        return probs

    @property
    def is_informative(self) -> bool:
        """True once it has seen two classes, so its probabilities can rank uncertainty."""
        return self._model is not None


def make_student(spec: str, labels: list[str], *, random_state: int = 0) -> StudentModel:
    """``logreg`` (default) or a ``module:Class`` taking ``(labels)``."""
    if spec in {"logreg", "logistic_regression"}:
        return LogisticRegressionStudent(labels, random_state=random_state)
    factory = load_object(spec, kind="student model")
    student = factory(labels)
    if not isinstance(student, StudentModel):
        raise PluginError(f"student model {spec!r} lacks labels, fit() and predict_proba()")
    return student


def fit_student(
    student: StudentModel, vectors: np.ndarray, targets: list[str], weights: list[float] | None = None
) -> StudentModel:
    """Fit a student, passing ``weights`` only to models whose ``fit`` takes them (plug-ins may not)."""
    if weights is not None and "weights" in inspect.signature(student.fit).parameters:
        return student.fit(vectors, targets, weights=weights)
    return student.fit(vectors, targets)


def evaluate(student: StudentModel, vectors: np.ndarray, gold: list[str]) -> dict[str, float]:
    """Accuracy and macro-F1 of the student on a held-out set."""
    from sklearn.metrics import accuracy_score, f1_score

    predicted = [student.labels[i] for i in student.predict_proba(vectors).argmax(axis=1)]
    present = sorted(set(gold) | set(predicted))  # a label absent from both says nothing: not a zero
    return {
        "accuracy": round(float(accuracy_score(gold, predicted)), 4),
        "macro_f1": round(float(f1_score(gold, predicted, labels=present, average="macro", zero_division=0)), 4),
    }
