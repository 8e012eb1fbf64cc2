"""A stopping rule: stop when more labels no longer change the student's predictions (Bloodgood & Vijay-Shanker,
"A Method for Stopping Active Learning Based on Stabilizing Predictions", CoNLL 2009)."""

from __future__ import annotations

import json

import numpy as np

from labelgraph.config import StabilitySettings
from labelgraph.graphs.context import RunContext
from labelgraph.graphs.state import RoundSummary
from labelgraph.student.models import StudentModel

__all__ = ["prediction_agreement", "stable_for"]


def stop_set(context: RunContext, size: int) -> list[str]:
    """A fixed sample of the pool (the same every round): the items whose predictions are compared."""
    pool = context.pool_ids
    rows = np.random.default_rng(context.config.random_seed).permutation(len(pool))[:size]
    return [pool[row] for row in sorted(rows)]


def prediction_agreement(context: RunContext, student: StudentModel, round_number: int, size: int) -> float | None:
    """Cohen's kappa between last round's student and this one on the stop set (None in the first round).

    Each round's predictions are kept in the label store, so a re-run round compares the same two."""
    new = context.predict(student, stop_set(context, size)).argmax(axis=1)
    context.store.put_meta(f"predictions:{round_number}", json.dumps(new.tolist()))
    before = context.store.meta(f"predictions:{round_number - 1}")
    if before is None:
        return None
    old = np.asarray(json.loads(before))
    if len(old) != len(new):
        return None
    if (old == new).all():
        return 1.0
    from sklearn.metrics import cohen_kappa_score  # scikit-learn loads where it is needed

    kappa = cohen_kappa_score(old, new)
    return 0.0 if np.isnan(kappa) else round(float(kappa), 4)


def stable_for(history: list[RoundSummary], settings: StabilitySettings) -> bool:
    """True when each of the last ``settings.rounds`` rounds had agreement of at least ``settings.kappa``."""
    recent = [entry.stability for entry in history[-settings.rounds :]]
    return len(recent) == settings.rounds and all(k is not None and k >= settings.kappa for k in recent)
