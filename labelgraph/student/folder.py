"""A trained student as a plain folder users take away: a sentence-transformers encoder plus a linear head.

    DIR/encoder/     the sentence-transformers model (any tool that reads one reads it)
    DIR/head.json    labels, weight, bias and temperature: p = softmax((W v + b) / T) over the encoder's vectors v
    DIR/README.md    how it was trained and on what

``load_model(DIR).predict(texts)`` gives a label and its probability per text; ``labelgraph predict DIR FILE`` does
the same from the command line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from labelgraph.errors import ConfigError

__all__ = [
    "Head",
    "StudentBundle",
    "best_device",
    "check_folder",
    "fit_head",
    "fit_temperature",
    "load_encoder",
    "load_model",
    "save_model",
]

HEAD_FILE = "head.json"


class Head(BaseModel):
    """A linear softmax head with a temperature: ``softmax((vectors @ weight.T + bias) / temperature)``."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    weight: np.ndarray
    bias: np.ndarray
    temperature: float = 1.0

    def logits(self, vectors: np.ndarray) -> np.ndarray:
        return (np.asarray(vectors, dtype=np.float64) @ self.weight.T + self.bias) / self.temperature

    def proba(self, vectors: np.ndarray) -> np.ndarray:
        z = self.logits(vectors)
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    @classmethod
    def from_sklearn(cls, model: Any, n_classes: int) -> Head:
        """The head of a fitted scikit-learn ``LogisticRegression`` whose classes are label indices: same
        probabilities (a binary model's one row w becomes (-w/2, w/2)), absent classes at -inf odds."""
        coef, intercept = np.asarray(model.coef_, dtype=np.float64), np.asarray(model.intercept_, dtype=np.float64)
        if coef.shape[0] == 1:
            coef, intercept = np.vstack([-coef / 2, coef / 2]), np.array([-intercept[0] / 2, intercept[0] / 2])
        weight = np.zeros((n_classes, coef.shape[1]))
        bias = np.full(n_classes, -1e4)  # a class the model never saw: never predicted
        weight[model.classes_], bias[model.classes_] = coef, intercept
        return cls(weight=weight, bias=bias)


def fit_head(vectors: np.ndarray, y: np.ndarray, weights: np.ndarray | None, n_classes: int, c: float = 10.0) -> Head:
    """Logistic regression (the logistic student's settings) on the encoder's vectors, as a ``Head``."""
    from sklearn.linear_model import LogisticRegression  # scikit-learn loads where a model is fitted

    model = LogisticRegression(C=c, max_iter=2000, random_state=0)
    model.fit(vectors, y, sample_weight=weights)
    return Head.from_sklearn(model, n_classes)


def fit_temperature(head: Head, vectors: np.ndarray, y: np.ndarray) -> float:
    """The temperature that minimises the log loss on a held-out slice (Guo et al., 2017), within [0.05, 20]."""
    from scipy.optimize import minimize_scalar

    logits = head.logits(vectors) * head.temperature

    def nll(log_t: float) -> float:
        z = logits / np.exp(log_t)
        z = z - z.max(axis=1, keepdims=True)
        return float(-(z[np.arange(len(y)), y] - np.log(np.exp(z).sum(axis=1))).mean())

    return float(np.exp(minimize_scalar(nll, bounds=(np.log(0.05), np.log(20.0)), method="bounded").x))


def load_encoder(name: str, *, device: str = "cpu") -> Any:
    """A sentence-transformers model: ``minilm``, ``all-mpnet-base-v2``, a folder or a hub id
    (``labelgraph.encoding.encoders``)."""
    from labelgraph.encoding.encoders import load

    return load(name, device=device)


def best_device() -> str:
    """``cuda`` when torch sees a GPU, else ``cpu``."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class HeadFile(BaseModel):
    """``head.json``: what turns the encoder's vectors into label probabilities."""

    model_config = ConfigDict(extra="forbid")

    format: str = Field("labelgraph-student/1", pattern=r"^labelgraph-student/1$")
    labels: list[str] = Field(min_length=2)
    weight: list[list[float]]
    bias: list[float]
    temperature: float = Field(gt=0)
    max_length: int = Field(ge=1)
    trained_on: int = Field(0, ge=0, description="labels the encoder was tuned on (0: not tuned)")
    base_model: str = Field("", description="the encoder it started from (minilm, a name or a folder)")

    @model_validator(mode="after")
    def _shapes(self) -> HeadFile:
        k = len(self.labels)
        if len(self.weight) != k or len(self.bias) != k or len({len(row) for row in self.weight}) != 1:
            raise ValueError(f"weight must be {k} rows of equal length and bias {k} numbers, one per label")
        return self


class StudentBundle:
    """A loaded student folder: ``predict_proba(texts)`` and ``predict(texts)``."""

    def __init__(self, encoder: Any, head: Head, labels: list[str], trained_on: int = 0, base_model: str = ""):
        self.encoder, self.head, self.labels = encoder, head, labels
        self.trained_on, self.base_model = trained_on, base_model

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        vectors = self.encoder.encode(list(texts), batch_size=64, convert_to_numpy=True, show_progress_bar=False)
        return self.head.proba(np.asarray(vectors, dtype=np.float32))

    def predict(self, texts: list[str]) -> list[tuple[str, float]]:
        """The most probable label of each text and its probability."""
        if not texts:
            return []
        probs = self.predict_proba(texts)
        return [(self.labels[int(row.argmax())], float(row.max())) for row in probs]


def save_model(
    folder: Path, encoder: Any, head: Head, labels: list[str], readme: str, *, trained_on: int = 0, base_model: str = ""
) -> Path:
    """Write a student folder (``encoder/``, ``head.json``, ``README.md``); refuses a non-empty folder."""
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ConfigError(f"{folder} exists and is not an empty folder; choose a new one")
    folder.mkdir(parents=True, exist_ok=True)
    encoder.save(str(folder / "encoder"))
    head_file = HeadFile(
        labels=labels,
        weight=head.weight.tolist(),
        bias=head.bias.tolist(),
        temperature=head.temperature,
        max_length=int(encoder.max_seq_length),
        trained_on=trained_on,
        base_model=base_model,
    )
    (folder / HEAD_FILE).write_text(head_file.model_dump_json(indent=1), encoding="utf-8")
    (folder / "README.md").write_text(readme, encoding="utf-8")
    return folder


def check_folder(folder: str | Path) -> HeadFile:
    """The head of a student folder (``head.json`` beside ``encoder/``), read without loading the model;
    ConfigError if the folder is not one, or its head is damaged."""
    folder = Path(folder)
    head_path = folder / HEAD_FILE
    if not head_path.is_file() or not (folder / "encoder").is_dir():
        raise ConfigError(f"{folder} is not a labelgraph student folder (needs {HEAD_FILE} and encoder/)")
    try:
        return HeadFile.model_validate_json(head_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        first = str(error).splitlines()[0]
        raise ConfigError(f"{head_path} is damaged: {first}") from None


def load_model(folder: str | Path) -> StudentBundle:
    """Load a student folder written by ``labelgraph export --model``; a clear error if it is not one."""
    folder = Path(folder)
    head_path = folder / HEAD_FILE
    head_file = check_folder(folder)
    try:
        encoder = load_encoder(str(folder / "encoder"))
    except Exception as error:
        raise ConfigError(f"{folder / 'encoder'} does not load as a sentence-transformers model: {error}") from None
    encoder.max_seq_length = head_file.max_length
    dim = encoder.get_embedding_dimension()
    if dim is not None and len(head_file.weight[0]) != dim:
        raise ConfigError(f"{head_path} expects {len(head_file.weight[0])}-dim vectors, the encoder gives {dim}")
    head = Head(weight=np.asarray(head_file.weight), bias=np.asarray(head_file.bias), temperature=head_file.temperature)
    return StudentBundle(encoder, head, head_file.labels, head_file.trained_on, head_file.base_model)
