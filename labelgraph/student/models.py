"""Student models: the classifier the loop retrains every round.

``logistic`` regression on the frozen embeddings (the default: a second a round), ``finetune`` (the encoder trained
end to end, ``labelgraph.student.finetune``), or a plug-in. A student reads the texts' vectors, or, if it says
``input = "text"``, the texts themselves.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from labelgraph.config import StudentSettings
from labelgraph.errors import ConfigError, PluginError
from labelgraph.plugins import load_object

__all__ = [
    "LogisticRegressionStudent",
    "StudentModel",
    "evaluate",
    "fit_student",
    "make_student",
    "reads_text",
    "save_student",
]


@runtime_checkable
class StudentModel(Protocol):
    """A classifier whose probability columns follow ``labels``; its inputs are embedding vectors, or texts when
    it has ``input = "text"``."""

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


def make_student(
    settings: StudentSettings | str, labels: list[str], *, random_state: int = 0, folder: Path | None = None
) -> StudentModel:
    """The student ``settings`` name: ``logistic``, ``finetune`` (kept in ``folder`` between processes), or a
    ``module:Class`` taking ``(labels)``."""
    settings = StudentSettings.model_validate(settings)
    if settings.kind == "logistic":
        return LogisticRegressionStudent(labels, random_state=random_state)
    if settings.kind == "finetune":
        from labelgraph.student.finetune import FinetunedStudent

        return FinetunedStudent(labels, settings, random_state=random_state, folder=folder)  # type: ignore[return-value]
    factory = load_object(settings.kind, kind="student model")
    student = factory(labels)
    if not isinstance(student, StudentModel):
        raise PluginError(f"student model {settings.kind!r} lacks labels, fit() and predict_proba()")
    return student


def reads_text(student: Any) -> bool:
    """Whether the student takes texts (``input = "text"``) rather than vectors."""
    return getattr(student, "input", "vector") == "text"


def save_student(student: StudentModel, folder: Path, embedding_model: str, readme: str) -> Path:
    """Write a fitted student as a folder users take away (``labelgraph.student.folder``): the fine-tuned one as
    it is, the logistic one as the frozen embedding model plus its head."""
    from labelgraph.student.folder import Head, load_encoder, save_model

    if reads_text(student) and hasattr(student, "save"):
        return student.save(folder, readme)
    if not isinstance(student, LogisticRegressionStudent):
        raise ConfigError("a plug-in student is saved by its own code: export --model writes built-in students")
    if student._model is None:
        raise ConfigError("the student has not seen two labels yet: nothing to export")
    if ":" in embedding_model and not embedding_model.startswith(("/", ".")):
        raise ConfigError(f"embedding model {embedding_model!r} is a plug-in: only a sentence-transformers one exports")
    head = Head.from_sklearn(student._model, len(student.labels))
    encoder = load_encoder(embedding_model)
    return save_model(folder, encoder, head, student.labels, readme, base_model=embedding_model)


def fit_student(
    student: StudentModel, vectors: np.ndarray, targets: list[str], weights: list[float] | None = None
) -> StudentModel:
    """Fit a student, passing ``weights`` only to models whose ``fit`` takes them (plug-ins may not)."""
    if weights is not None and "weights" in inspect.signature(student.fit).parameters:
        return student.fit(vectors, targets, weights=weights)
    return student.fit(vectors, targets)


def evaluate(student: StudentModel, inputs: Any, gold: list[str]) -> dict[str, float]:
    """Accuracy and macro-F1 of the student on a held-out set (its vectors, or texts for a text student)."""
    from sklearn.metrics import accuracy_score, f1_score

    predicted = [student.labels[i] for i in student.predict_proba(inputs).argmax(axis=1)]
    present = sorted(set(gold) | set(predicted))  # a label absent from both says nothing: not a zero
    return {
        "accuracy": round(float(accuracy_score(gold, predicted)), 4),
        "macro_f1": round(float(f1_score(gold, predicted, labels=present, average="macro", zero_division=0)), 4),
    }
