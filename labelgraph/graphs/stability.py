"""A stopping rule: stop when more labels no longer change the student's predictions (Bloodgood & Vijay-Shanker,
"A Method for Stopping Active Learning Based on Stabilizing Predictions", CoNLL 2009)."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import cohen_kappa_score

from labelgraph.config import StabilitySettings
from labelgraph.graphs.context import RunContext
from labelgraph.graphs.state import LoopState
from labelgraph.models import make_student

__all__ = ["prediction_agreement", "stable_for"]


def stop_set(context: RunContext, size: int) -> list[str]:
    """A fixed sample of the pool (the same every round): the items whose predictions are compared."""
    pool = context.pool_ids
    rows = np.random.default_rng(context.config.random_seed).permutation(len(pool))[:size]
    return [pool[row] for row in sorted(rows)]


def prediction_agreement(state: LoopState, context: RunContext, size: int) -> float | None:
    """Cohen's kappa between the student before this round's labels and after, on the stop set (None: no change)."""
    labels = state["labels"]
    before = {item_id: record for item_id, record in labels.items() if record["round"] < state["round"]}
    if len(before) == len(labels) or not before:
        return None
    vectors = context.vectors(stop_set(context, size))
    earlier = make_student(context.student_spec, context.config.label_names, random_state=context.config.random_seed)
    earlier.fit(context.vectors(list(before)), [record["label"] for record in before.values()])
    old = earlier.predict_proba(vectors).argmax(axis=1)
    new = context.student(labels).predict_proba(vectors).argmax(axis=1)
    if (old == new).all():
        return 1.0
    kappa = cohen_kappa_score(old, new)
    return 0.0 if np.isnan(kappa) else round(float(kappa), 4)


def stable_for(history: list[dict[str, Any]], settings: StabilitySettings) -> bool:
    """True when each of the last ``settings.rounds`` rounds had agreement of at least ``settings.kappa``."""
    recent = [entry.get("stability") for entry in history[-settings.rounds :]]
    return len(recent) == settings.rounds and all(k is not None and k >= settings.kappa for k in recent)
