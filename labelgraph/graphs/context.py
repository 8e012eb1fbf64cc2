"""The run context: the resources nodes use (items, vectors, memory, agents), passed as ``runtime.context``.

It is rebuilt in every process from the run folder and is never checkpointed; all it caches (vectors,
the fitted student) is derived from the run folder and the checkpointed state.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from langchain_core.tools import BaseTool

from labelgraph.agents.annotator import Annotator
from labelgraph.config import ProjectConfig, StudentSettings
from labelgraph.critic.signals import CalibratedCritic
from labelgraph.data import Item, LabelRecord
from labelgraph.encoding.embedders import Embedder
from labelgraph.llm.client import LLMClient
from labelgraph.memory import Memory
from labelgraph.session.workspace import Workspace
from labelgraph.stores.labels import HumanLabel, LabelStore
from labelgraph.stores.synthetic import SyntheticStore
from labelgraph.strategies import Strategy
from labelgraph.student.models import StudentModel, fit_student, make_student, reads_text

if TYPE_CHECKING:  # built by wiring where a project asks for them
    from labelgraph.agents.generator import LLMGenerator
    from labelgraph.agents.llm_critic import LLMJudge
    from labelgraph.agents.llm_selector import LLMSelector

__all__ = ["RunContext"]


@dataclass
class RunContext:
    """What every node may use; built by ``labelgraph.session.run.Run``."""

    workspace: Workspace
    memory: Memory
    store: LabelStore
    strategy: Strategy
    annotator: Annotator | None
    """None: no machine lane (classic active learning)."""
    critic: CalibratedCritic
    llm: LLMClient | None = None
    judge: LLMJudge | None = None
    voters: list[BaseTool] = field(default_factory=list)
    embedder: Embedder | None = None
    synthetic: SyntheticStore | None = None
    generator: LLMGenerator | None = None
    selector_llm: LLMSelector | None = None
    _student: tuple[str, StudentModel] | None = field(default=None, repr=False)
    _student_settings: StudentSettings | None = field(default=None, repr=False)

    @property
    def config(self) -> ProjectConfig:
        return self.workspace.config

    @property
    def pool_ids(self) -> list[str]:
        """The pool's ids in pool order (the workspace's list, computed once: do not change it)."""
        return self.workspace.pool_ids

    def enter_round(self, round_number: int) -> None:
        """Tell the LLM ledger which round the coming calls belong to."""
        if self.llm is not None:
            self.llm.round_number = round_number

    def items(self, ids: list[str]) -> list[Item]:
        """Items as agents see them (pool, seed or synthetic): text and metadata, never the gold label (read from
        the run's item store by row)."""
        rows = self.workspace.row_of
        made = self._synthetic([i for i in ids if i not in rows])
        stored = iter(self.workspace.item_store.public([rows[i] for i in ids if i in rows]))
        return [next(stored) if i in rows else made[i][0] for i in ids]

    def remember(self, labels: Iterable[HumanLabel]) -> None:
        """Upsert people's labels (seeds included; a set-aside is none) into the memory, the annotator's source of
        examples: the one place the memory is written (``prepare``, ``commit``, and ``Run`` mending it)."""
        labels = [h for h in labels if h.label is not None]
        ids = [h.id for h in labels]
        items = {item.id: item for item in self.items(ids)}
        records = [
            LabelRecord(
                id=h.id,
                text=items[h.id].text,
                label=h.label or "",
                source="seed" if h.kind == "seed" else "human",
                status="seed" if h.kind == "seed" else "human",
                round=h.round,
                synthetic=bool(items[h.id].meta.get("synthetic")),
            )
            for h in labels
        ]
        self.memory.add(records, self.vectors(ids))

    def vectors(self, ids: list[str]) -> np.ndarray:
        rows = self.workspace.row_of
        made = self._synthetic([i for i in ids if i not in rows])
        if not made:  # float32 whatever the run folder stores (float16 with scale.vectors)
            return self.workspace.vectors[[rows[i] for i in ids]].astype(np.float32, copy=False)
        dim = self.workspace.vectors.shape[1]
        vectors = [self.workspace.vectors[rows[i]] if i in rows else made[i][1] for i in ids]
        return np.asarray(vectors, dtype=np.float32).reshape(len(ids), dim)

    def _synthetic(self, ids: list[str]) -> dict[str, tuple[Item, np.ndarray]]:
        if not ids:
            return {}
        if self.synthetic is None:
            raise KeyError(f"unknown item ids: {ids[:3]}")
        return dict(zip(ids, self.synthetic.get(ids), strict=True))

    def training_set(self) -> dict[str, tuple[str, float]]:
        """What the student learns from, by id: (label, weight). People's labels weigh 1, accepted machine
        labels their ``p_correct``; proposals too with ``student_learns_from: all``, or with ``auto`` once the
        last round found the machine more often right than the student (``graphs.learning.machine_beats_student``)."""
        mode = self.config.student_learns_from
        proposals = mode == "all" or (mode == "auto" and self.store.meta("student_uses_proposals") == "yes")
        taken = {"accepted", "proposed"} if proposals else {"accepted"}
        out = {item_id: (label, p) for item_id, (label, p) in self.store.verdict_labels(taken).items() if p > 0}
        for answer in self.store.human().values():
            out.pop(answer.id, None)
            if answer.label is not None:
                out[answer.id] = (answer.label, 1.0)
        return out

    def student(self, training: dict[str, tuple[str, float]] | None = None) -> StudentModel:
        """The student model fitted on ``training`` (default: ``training_set()``); refitted only when it changes,
        and the same object each time, so a fine-tuned student continues from its last weights."""
        training = self.training_set() if training is None else training
        ids = sorted(training)
        text = "\n".join(f"{i}\t{training[i][0]}\t{training[i][1]:.6f}" for i in ids)
        key = hashlib.sha256(f"{self.config.student.model_dump_json()}\n{text}".encode()).hexdigest()
        if self._student is None or self._student[0] != key:
            reuse = self._student is not None and ids and self._student_settings == self.config.student
            model = self._student[1] if reuse else None  # type: ignore[index]
            if model is None:
                model = make_student(
                    self.config.student,
                    self.config.label_names,
                    random_state=self.config.random_seed,
                    folder=self.workspace.path / "student",
                )
                self._student_settings = self.config.student
            if ids:
                inputs = self.student_inputs(model, ids)
                fit_student(model, inputs, [training[i][0] for i in ids], [training[i][1] for i in ids])
            self._student = (key, model)
        return self._student[1]

    def close(self) -> None:
        """Release the run's connections: the label store's and the LLM cache's (the workspace is its opener's)."""
        try:
            self.store.close()
        finally:
            if self.llm is not None:
                self.llm.close()

    def student_inputs(self, student: StudentModel, ids: list[str]) -> list[str] | np.ndarray:
        """What ``student`` reads for ``ids``: their texts for a text student, else their vectors."""
        return [item.text for item in self.items(ids)] if reads_text(student) else self.vectors(ids)

    def predict(self, student: StudentModel, ids: list[str]) -> np.ndarray:
        """The student's label probabilities for ``ids`` (columns follow the label names)."""
        return student.predict_proba(self.student_inputs(student, ids))
