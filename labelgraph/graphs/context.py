"""The run context: the resources nodes use (items, vectors, memory, agents), passed as ``runtime.context``.

It is rebuilt in every process from the run folder and is never checkpointed; all it caches (vectors,
the fitted student) is derived from the run folder and the checkpointed state.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from langchain_core.tools import BaseTool

from labelgraph.agents.annotator import Annotator
from labelgraph.agents.critic import Critic
from labelgraph.config import ProjectConfig
from labelgraph.data import Item
from labelgraph.llm import LLMClient
from labelgraph.memory import Memory
from labelgraph.models import StudentModel, make_student
from labelgraph.strategies import Strategy
from labelgraph.workspace import Workspace

__all__ = ["RunContext"]


@dataclass
class RunContext:
    """What every node may use; built by ``labelgraph.run.Run``."""

    workspace: Workspace
    memory: Memory
    strategy: Strategy
    annotator: Annotator
    critic: Critic
    llm: LLMClient | None = None
    voters: list[BaseTool] = field(default_factory=list)
    student_spec: str = "logreg"
    _rows: dict[str, int] = field(default_factory=dict, repr=False)
    _student: tuple[str, StudentModel] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self._rows = {item.id: row for row, item in enumerate(self.workspace.items)}
        self._public = [
            Item(
                id=item.id,
                text=item.text,
                meta={k: v for k, v in item.meta.items() if k not in {"seed", "in_pool"}},
            )
            for item in self.workspace.items
        ]

    @property
    def config(self) -> ProjectConfig:
        return self.workspace.config

    @property
    def pool_ids(self) -> list[str]:
        return [item.id for item in self.workspace.items if item.meta.get("in_pool")]

    def enter_round(self, round_number: int) -> None:
        """Tell the LLM ledger which round the coming calls belong to."""
        if self.llm is not None:
            self.llm.round_number = round_number

    def items(self, ids: list[str]) -> list[Item]:
        """Items as agents see them: text and metadata, never the gold label."""
        return [self._public[self._rows[item_id]] for item_id in ids]

    def vectors(self, ids: list[str]) -> np.ndarray:
        rows = [self._rows[item_id] for item_id in ids]
        return self.workspace.vectors[rows]

    def student(self, labels: dict[str, dict[str, Any]]) -> StudentModel:
        """The student model fitted on ``labels``; refitted only when the labels change."""
        ids = sorted(labels)
        key = hashlib.sha256("\n".join(f"{i}\t{labels[i]['label']}" for i in ids).encode()).hexdigest()
        if self._student is None or self._student[0] != key:
            model = make_student(self.student_spec, self.config.label_names, random_state=self.config.random_seed)
            if ids:
                model.fit(self.vectors(ids), [labels[i]["label"] for i in ids])
            self._student = (key, model)
        return self._student[1]
