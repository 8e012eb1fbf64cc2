"""The fine-tuned student: a sentence-transformers encoder trained end to end on the run's labels.

A fit first fits a linear head (logistic regression) on the encoder's vectors: that is the whole student below
``min_labels``. With enough labels it then tunes the encoder with that head on top (the head's start keeps the
first steps from wrecking the pretrained features: "linear probe, then fine-tune") for ``epochs``; later tunes,
once the labels grew by ``retune_growth``, continue from the last weights for ``warm_epochs``. Rounds between
tunes keep the last tuned student. The probabilities are temperature-scaled on a held-out tenth of people's
labels, since selection and the critic read them. The tuned student is kept in the run folder (``student/``), so
a resumed run does not tune again, and so are its vectors of the texts it read (``student_vectors/``, by encoder
version, memory-mapped), so a resumed run does not embed its pool again: a student's probabilities for a text are
then its head over a kept vector. A new tune is a new version, and the old vectors go.

The student is saved as a plain folder (a sentence-transformers model plus ``head.json``, see
``labelgraph.student.folder``): ``labelgraph export --model`` writes it, ``labelgraph predict`` reads it.
"""

from __future__ import annotations

import hashlib
import logging
import random
import shutil
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from labelgraph.config import StudentSettings
from labelgraph.encoding.cache import EmbeddingCache, embed_texts
from labelgraph.errors import ConfigError
from labelgraph.progress import task
from labelgraph.student.folder import Head, best_device, fit_head, fit_temperature, load_encoder, load_model, save_model

__all__ = ["FinetunedStudent"]

log = logging.getLogger(__name__)

HEAD_LR_FACTOR = 10
"""The head learns this much faster than the encoder: it starts from a fit, but on features about to move."""
HELD_OUT_SHARE = 0.1
HELD_OUT_MAX = 200
"""The slice kept out of tuning, for the temperature: a tenth of people's labels, at most 200."""
VECTORS_FOLDER = "student_vectors"
"""Beside ``student/`` in the run folder: the encoder's vectors of the texts it has read, by encoder version."""
VERSION_FILE = "version"
"""In ``student/``: the tuned encoder's version (a new one each tune), which names its kept vectors."""


class FinetunedStudent:
    """``student: finetune``; takes texts, not vectors (``input = "text"``)."""

    input = "text"

    def __init__(
        self, labels: list[str], settings: StudentSettings, *, random_state: int = 0, folder: Path | None = None
    ):
        self.labels = list(labels)
        self.settings = settings
        self.random_state = random_state
        self.folder = folder
        """Where the tuned encoder is kept between processes (the run folder's ``student/``); None: nowhere."""
        self.tuned_on = 0
        """How many labels the encoder was last tuned on (0: the pretrained encoder)."""
        self.head: Head | None = None
        self._only: int | None = None
        self.n_fitted = 0
        self._encoder: Any = None
        self._vectors: dict[str, np.ndarray] = {}
        self.version = ""
        """Names the tuned encoder's weights (a new one each tune, kept in ``folder``); empty: the pretrained."""

    @property
    def is_informative(self) -> bool:
        return self.head is not None

    @property
    def encoder(self) -> Any:
        """The sentence-transformers model: the last tuned one kept in ``folder``, or the pretrained one."""
        if self._encoder is None:
            self._restore()
        if self._encoder is None:
            self._encoder = load_encoder(self.settings.model, device=best_device())
            self._encoder.max_seq_length = self.settings.max_length
        return self._encoder

    def embed(self, texts: list[str]) -> np.ndarray:
        """The encoder's vectors for ``texts``, each text embedded once per encoder version."""
        missing = list(dict.fromkeys(t for t in texts if _key(t) not in self._vectors))
        if missing:
            found = embed_texts(_Texts(self.encoder), missing, self._kept_vectors())
            self._vectors.update(zip(map(_key, missing), found, strict=True))
        if not texts:
            return np.zeros((0, self.encoder.get_embedding_dimension()), dtype=np.float32)
        return np.stack([self._vectors[_key(t)] for t in texts])

    def fit(self, texts: list[str], targets: list[str], weights: list[float] | None = None) -> FinetunedStudent:
        """Below ``min_labels`` (and before any tune): logistic regression on the pretrained encoder's vectors.
        Then: tune when due (first time, or the labels grew by ``retune_growth``); in between keep the last
        tuned student, since a head refitted on the tuned encoder's (over-fitted) vectors of its own training
        texts lost about 2 points of macro-F1 on sst2."""
        self.encoder  # noqa: B018  (loads the kept student, if any)
        self.n_fitted = len(targets)
        weight = np.ones(len(targets)) if weights is None else np.asarray(weights, dtype=np.float64)
        y = np.array([self.labels.index(t) for t in targets], dtype=np.int64)
        if len(set(y.tolist())) < 2:
            self.head, self._only = None, int(y[0]) if len(y) else None
            return self
        settings = self.settings
        tune = len(y) >= settings.min_labels and len(y) >= self.tuned_on * (1 + settings.retune_growth)
        if self.tuned_on and not tune:
            return self
        train, held = _split(y, weight, self.random_state)
        head = fit_head(self.embed([texts[i] for i in train]), y[train], weight[train], len(self.labels))
        if tune:
            head = self._tune([texts[i] for i in train], y[train], weight[train], head)
        if len(held):
            head.temperature = fit_temperature(head, self.embed([texts[i] for i in held]), y[held])
        self.head, self._only = head, None
        if tune:
            self.tuned_on = len(y)
            self._save()
        return self

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        if self.head is None:
            probs = np.full((len(texts), len(self.labels)), 0.0 if self._only is not None else 1 / len(self.labels))
            if self._only is not None:
                probs[:, self._only] = 1.0
            return probs
        return self.head.proba(self.embed(list(texts)))

    def save(self, folder: Path, readme: str) -> Path:
        """Write the student as a plain folder (see ``labelgraph.student.folder``)."""
        if self.head is None:
            raise ConfigError("the student has not seen two labels yet: nothing to export")
        return save_model(
            folder,
            self.encoder,
            self.head,
            self.labels,
            readme,
            trained_on=self.tuned_on,
            base_model=self.settings.model,
        )

    def _kept_vectors(self) -> EmbeddingCache | None:
        """Where this encoder's vectors are kept in the run folder (so a resumed run reads them instead of
        embedding its pool again), the other versions' removed; None without a folder."""
        if self.folder is None:
            return None
        root = self.folder.with_name(VECTORS_FOLDER)
        base = f"{self.settings.model}|{self.settings.max_length}"
        cache = EmbeddingCache(root, f"student|{base}|{self.version or 'pretrained'}")
        if root.is_dir():
            for old in root.iterdir():
                if old != cache.folder:
                    shutil.rmtree(old, ignore_errors=True)
        return cache

    def _restore(self) -> None:
        """Take the student kept in ``folder`` (a damaged one only costs a tune)."""
        if self.folder is None or not (self.folder / "head.json").is_file():
            return
        try:
            kept = load_model(self.folder)
        except ConfigError as error:
            log.warning("student: %s; it is trained again", error)
            return
        if kept.labels == self.labels and kept.base_model == self.settings.model:  # else: tuned from another one
            self._encoder, self.head, self.tuned_on = kept.encoder, kept.head, kept.trained_on
            version = self.folder / VERSION_FILE
            # a student kept without a version (an older run folder) gets a new one: its vectors are made again
            self.version = version.read_text(encoding="utf-8").strip() if version.is_file() else ""
            self.version = self.version or uuid.uuid4().hex

    def _save(self) -> None:
        """Keep the tuned student in ``folder``: written beside it, then swapped in, so a kill never leaves a
        half-written one in its place (at worst the next process finds none and tunes again)."""
        if self.folder is None:
            return
        fresh, old = self.folder.with_name(self.folder.name + ".new"), self.folder.with_name(self.folder.name + ".old")
        shutil.rmtree(fresh, ignore_errors=True)
        self.save(fresh, f"The run's student, tuned on {self.tuned_on} labels.\n")
        (fresh / VERSION_FILE).write_text(self.version, encoding="utf-8")
        shutil.rmtree(old, ignore_errors=True)
        if self.folder.exists():
            self.folder.rename(old)
        fresh.rename(self.folder)
        shutil.rmtree(old, ignore_errors=True)

    def _tune(
        self,
        texts: list[str],
        y: np.ndarray,
        weight: np.ndarray,
        start: Head,
    ) -> Head:
        """Train encoder and head together from ``start`` (cross-entropy weighted by trust, a linear decay after a
        short warm-up; a fixed number of epochs, since keeping the epoch of lowest held-out loss gave 0.821-0.828
        macro-F1 on sst2 against 0.848). Returns the trained head."""
        import torch

        settings = self.settings
        torch.manual_seed(self.random_state)
        rng = random.Random(self.random_state)
        encoder = self.encoder
        device = encoder.device
        head = torch.nn.Linear(start.weight.shape[1], start.weight.shape[0]).to(device)
        with torch.no_grad():
            head.weight.copy_(torch.from_numpy(start.weight.astype(np.float32)))
            head.bias.copy_(torch.from_numpy(start.bias.astype(np.float32)))
        trainable = [p for p in encoder.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(
            [{"params": trainable}, {"params": head.parameters(), "lr": settings.learning_rate * HEAD_LR_FACTOR}],
            lr=settings.learning_rate,
            weight_decay=0.01,
        )
        epochs = settings.epochs if self.tuned_on == 0 else settings.warm_epochs
        batches_per_epoch = -(-len(texts) // settings.batch_size)
        steps = epochs * batches_per_epoch
        warmup = max(1, steps // 10)
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: min(1.0, (step + 1) / warmup) * max(0.0, (steps - step) / steps)
        )
        target = torch.from_numpy(y).to(device)
        trust = torch.from_numpy(weight.astype(np.float32)).to(device)

        def loss_of(batch: list[int]) -> Any:
            features = encoder.preprocess([texts[i] for i in batch])
            features = {k: v.to(device) if hasattr(v, "to") else v for k, v in features.items()}
            logits = head(encoder(features)["sentence_embedding"])
            losses = torch.nn.functional.cross_entropy(logits, target[batch], reduction="none")
            return (losses * trust[batch]).sum() / trust[batch].sum().clamp_min(1e-8)

        with task(f"fine-tuning the student on {len(texts)} labels", total=steps) as advance:
            encoder.train()
            for _ in range(epochs):
                for batch in _batches(texts, settings.batch_size, rng):
                    loss = loss_of(batch)
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                    schedule.step()
                    advance(1)
        encoder.eval()
        self._vectors.clear()
        self.version = uuid.uuid4().hex
        return Head(weight=head.weight.detach().cpu().double().numpy(), bias=head.bias.detach().cpu().double().numpy())


class _Texts:
    """The encoder as ``embed_texts`` calls an embedder."""

    batch_size = 64

    def __init__(self, encoder: Any):
        self.encoder = encoder

    def embed(self, texts: list[str]) -> np.ndarray:
        found = self.encoder.encode(texts, batch_size=self.batch_size, convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(found, dtype=np.float32)


def _key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _split(y: np.ndarray, weight: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows to train on and rows held out: a stratified tenth (at most 200) of the fully trusted labels (people's),
    none while some label has fewer than five of them."""
    trusted = np.flatnonzero(weight >= 1.0)
    counts = Counter(y[trusted].tolist())
    share = min(HELD_OUT_SHARE, HELD_OUT_MAX / max(len(trusted), 1))
    if len(counts) < len(set(y.tolist())) or min(counts.values()) < 5:
        return np.arange(len(y)), np.zeros(0, dtype=np.int64)
    rng = np.random.default_rng(seed)
    held = [
        rows[: max(1, round(share * len(rows)))]
        for label in sorted(counts)
        for rows in [rng.permutation(trusted[y[trusted] == label])]
    ]
    held_rows = np.sort(np.concatenate(held))
    return np.setdiff1d(np.arange(len(y)), held_rows), held_rows


def _batches(texts: list[str], size: int, rng: random.Random) -> list[list[int]]:
    """Shuffled batches of similar length (less padding), in shuffled order."""
    order = list(range(len(texts)))
    rng.shuffle(order)
    windows = [sorted(order[k : k + size * 8], key=lambda i: len(texts[i])) for k in range(0, len(order), size * 8)]
    batches = [window[j : j + size] for window in windows for j in range(0, len(window), size)]
    rng.shuffle(batches)
    return batches
