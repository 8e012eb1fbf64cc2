"""The critique node and the assessment it shares with ``train``: p_correct for every machine label, the accepted
set under the quality target, and the person's batch."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from langgraph.runtime import Runtime

from labelgraph.agents.critic import SIGNALS, Calibration, signal_reasons
from labelgraph.agents.human import Candidate, ReviewItem, ShownNeighbour, plan_batch
from labelgraph.data import Item
from labelgraph.graphs.context import RunContext
from labelgraph.graphs.resolve import run_context
from labelgraph.graphs.state import LoopState
from labelgraph.labelstore import MachineLabel, OpenLabel, StoredVerdict
from labelgraph.memory import Neighbour
from labelgraph.quality import Estimate, decide

__all__ = ["Assessment", "assess", "critique"]


@dataclass
class Assessment:
    """The machine labels nobody checked, with p_correct, signals, and which are accepted."""

    candidates: list[OpenLabel]
    features: np.ndarray
    p_correct: np.ndarray
    accepted: np.ndarray
    audit_region: np.ndarray
    audits_needed: int
    rejected: list[OpenLabel]
    estimate: Estimate
    calibration: Calibration

    def verdicts(self, round_number: int, only: set[str] | None = None) -> Iterator[StoredVerdict]:
        """The verdicts to store, one at a time (a million of them are not all built at once); ``only``: of
        these ids alone."""
        for row, machine in enumerate(self.candidates):
            if only is not None and machine.id not in only:
                continue
            status = "accepted" if self.accepted[row] else "proposed"
            p = float(self.p_correct[row])
            yield StoredVerdict(
                id=machine.id,
                round=round_number,
                label=machine.label,
                p_correct=round(p, 4),
                status=status,
                reasons=signal_reasons(self.features[row], machine.label or "", p, status),
                signals={name: round(float(v), 4) for name, v in zip(SIGNALS, self.features[row], strict=True)},
            )
        for m in self.rejected:
            if only is None or m.id in only:
                yield StoredVerdict(
                    id=m.id,
                    round=round_number,
                    label=m.label,
                    p_correct=0.0,
                    status="rejected",
                    reasons=[f"synthetic text written as {m.intended!r}, but the annotator labels it {m.label!r}"],
                )


def _round_signals(context: RunContext, round_number: int) -> tuple[list[OpenLabel], np.ndarray]:
    """The machine labels open when the round's critique began, and their signals from people's labels of
    earlier rounds. Computed once a round (critique and train share them) and the same after a crash."""
    human = context.store.human(before_round=round_number)
    open_labels = context.store.open_labels(before_round=round_number + 1, skip=set(human))
    key = (round_number, hash(tuple(m.id for m in open_labels)))
    if context.signal_cache is not None and context.signal_cache[0] == key:
        return open_labels, context.signal_cache[1]
    labelled = {h.id: h.label for h in human.values() if h.label is not None}
    human_ids = sorted(labelled)
    features = context.critic.signals(
        open_labels,
        context.vectors([m.id for m in open_labels]),
        context.vectors(human_ids),
        [labelled[i] for i in human_ids],  # type: ignore[misc]
    )
    context.signal_cache = (key, features)
    return open_labels, features


FOLDS = 5
"""Checked machine labels get their signals afresh in this many folds, each from people's labels outside it."""


def _checked_signals(context: RunContext, round_number: int, checked: list[tuple[Any, StoredVerdict]]) -> np.ndarray:
    """Signals of the machine labels people checked, as the critic would compute them now had nobody checked
    them: for each fold, from people's labels of earlier rounds outside the fold, beside this round's open labels.
    So a checked label falls in the same top set as an unchecked one the critic rates alike (the estimate's
    checks are then a fair sample of each set), not by the weaker signals of the round it was checked in.
    Each fold's labels are scored against the open ones (one consensus fit a fold, sized as one of theirs)."""
    ids = [h.id for h, _ in checked]
    key = (round_number, hash(tuple(ids)))
    if context.checked_cache is not None and context.checked_cache[0] == key:
        return context.checked_cache[1]
    out = np.array([[v.signals.get(name, 0.0) for name in SIGNALS] for _, v in checked]).reshape(len(ids), len(SIGNALS))
    checked_ids = set(ids)
    others = [m for m in _round_signals(context, round_number)[0] if m.id not in checked_ids]
    other_vectors = context.vectors([m.id for m in others])
    human = context.store.human(before_round=round_number)
    stored = context.store.machine_for(ids)
    fold_of = {item_id: int(hashlib.sha256(item_id.encode()).hexdigest(), 16) % FOLDS for item_id in ids}
    for fold in range(FOLDS):
        rows = [
            row
            for row, (h, _) in enumerate(checked)
            if fold_of[h.id] == fold and h.id in stored and stored[h.id].label == h.machine_label
        ]
        if not rows:
            continue
        labelled = {h.id: h.label for h in human.values() if h.label is not None and fold_of.get(h.id) != fold}
        human_ids = sorted(labelled)
        machine = [stored[checked[row][0].id] for row in rows]
        out[rows] = context.critic.signals(
            machine,
            context.vectors([m.id for m in machine]),
            context.vectors(human_ids),
            [labelled[i] for i in human_ids],  # type: ignore[misc]
            others=(others, other_vectors),
        )
    context.checked_cache = (key, out)
    return out


def explores_are_uniform(context: RunContext) -> bool:
    """Whether the strategy's picks are a uniform sample of the pool (and no LLM shortlists them), so that a
    person's answers to them are unbiased checks of the machine's labels."""
    return context.selector_llm is None and bool(getattr(context.strategy, "picks_uniformly", False))


def assess(context: RunContext, round_number: int, *, answers_before: int) -> Assessment:
    """Score every unchecked machine label of rounds up to ``round_number``, calibrated on people's answers of
    rounds before ``answers_before``. Checked labels are learnt from with signals computed afresh without their
    own answers (``_checked_signals``); signals use people's labels of earlier rounds."""
    config = context.config
    store = context.store
    human = store.human(before_round=answers_before)
    stored = store.verdicts_for(h.id for h in human.values() if h.machine_label is not None)
    labelled = {h.id: h.label for h in human.values() if h.label is not None}
    checked = [
        (h, stored[h.id])
        for h in human.values()
        if h.label is not None and h.machine_label is not None and h.id in stored and stored[h.id].signals
    ]
    open_labels, open_features = _round_signals(context, round_number)
    keep = [row for row, m in enumerate(open_labels) if m.id not in human]
    off_target = {m.id for m in open_labels if m.intended is not None and m.label != m.intended}
    rejected = [open_labels[row] for row in keep if open_labels[row].id in off_target]
    rows = [row for row in keep if open_labels[row].id not in off_target]
    candidates = [open_labels[row] for row in rows]
    features = open_features[rows].reshape(len(rows), len(SIGNALS))
    checked_features = _checked_signals(context, round_number, checked)
    right = np.array([h.label == h.machine_label for h, _ in checked], dtype=bool)
    everything = np.vstack([features, checked_features])
    p_all, oof, calibration = context.critic.calibrate(everything, np.arange(len(candidates), len(everything)), right)
    audits = [(h.machine_label, h.label == h.machine_label) for h, _ in checked if h.kind == "audit"]
    unbiased = {"audit", "explore"} if explores_are_uniform(context) else {"audit"}
    blind = np.array([h.kind in unbiased for h, _ in checked], dtype=bool)
    pool = set(context.pool_ids)
    decision = decide(
        p_all[: len(candidates)],
        [m.label or "" for m in candidates],
        # only uniform blind checks estimate a set's accuracy: fixes were picked as likely wrong, and the
        # picks of a strategy other than random as hard for the student
        checked_p=oof[blind],
        checked_right=right[blind],
        checked_labels=[h.machine_label or "" for (h, _), keep in zip(checked, blind, strict=True) if keep],
        audited_labels=[label for label, _ in audits],
        audited_right=np.array([ok for _, ok in audits], dtype=bool),
        pool_size=len(pool),
        covered=sum(i in pool for i in labelled),
        target=config.quality.target_accuracy,
        confidence=config.quality.confidence,
        min_checks=config.quality.min_checks,
        accept_all=not config.quality.enabled,
    )
    accepted, estimate = decision.accepted, decision.estimate
    return Assessment(
        candidates,
        features,
        p_all[: len(candidates)],
        accepted,
        decision.audit_region,
        decision.audits_needed,
        rejected,
        estimate,
        calibration,
    )


def _review_item(
    context: RunContext,
    item: Item,
    near: list[Neighbour],
    machine: MachineLabel | None,
    kind: str,
    p: float | None,
    reasons: list[str],
) -> ReviewItem:
    item_id = item.id
    shown = kind == "fix" and machine is not None
    if shown:
        candidates = sorted(
            (Candidate(label=label, probability=q) for label, q in machine.distribution.items()),  # type: ignore[union-attr]
            key=lambda c: -(c.probability or 0.0),
        )
    else:
        candidates = [Candidate(label=label) for label in context.config.label_names]
    why = {
        "audit": "audit: a random check of labels the machine would accept (its label is hidden)",
        "explore": "explore: the strategy's pick, where a person's label teaches the student most",
    }
    return ReviewItem(
        id=item_id,
        text=item.text,
        round=0,
        kind=kind,  # type: ignore[arg-type]
        p_correct=p if shown else None,
        candidates=candidates,
        annotator_label=machine.label if shown else None,  # type: ignore[union-attr]
        annotator_confidence=machine.confidence if shown else None,  # type: ignore[union-attr]
        rationale=machine.rationale if shown else "",  # type: ignore[union-attr]
        reasons=reasons if shown else [why[kind]],
        neighbours=[ShownNeighbour(text=n.text, label=n.label, similarity=n.similarity) for n in near],
        synthetic=bool(item.meta.get("synthetic")),
    )


def critique(state: LoopState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Score the machine labels, record the verdicts, and choose the person's batch (fixes, audits, explores)."""
    context = run_context(runtime)
    config = context.config
    context.enter_round(state.round)
    assessment = assess(context, state.round, answers_before=state.round)
    context.store.put_verdicts(assessment.verdicts(state.round))
    context.store.put_meta("estimate", assessment.estimate.model_dump_json())
    room = min(config.batch_size, config.budget - state.human_labels)
    ids = [m.id for m in assessment.candidates]
    student = context.student()
    if student.is_informative and ids:
        probs = context.predict(student, ids)
        uncertainty = -(probs * np.log(np.clip(probs, 1e-12, 1))).sum(axis=1) / np.log(len(config.label_names))
    else:
        uncertainty = np.ones(len(ids))
    audits_done = sum(h.kind == "audit" for h in context.store.human().values())
    plan = plan_batch(
        room,
        explore=state.explore,
        candidates=ids,
        p_correct=assessment.p_correct,
        accepted=assessment.accepted,
        audit_region=assessment.audit_region if assessment.audit_region.any() else assessment.accepted,
        audits_needed=assessment.audits_needed,
        uncertainty=uncertainty,
        audits_done=audits_done,
        audit_rate=config.quality.audit,
        explore_share=config.quality.explore if ids else 1.0,
        rng=np.random.default_rng([config.random_seed, state.round, 7]),
    )
    asked = [item_id for item_id, _ in plan]
    by_id = {v.id: v for v in assessment.verdicts(state.round, only=set(asked))}
    machine = context.store.machine_for(asked)
    items = context.items(asked)
    nearest = context.memory.neighbours(context.vectors(asked), 5)  # one query for the whole batch
    pending = []
    for (item_id, kind), item, near in zip(plan, items, nearest, strict=True):
        verdict = by_id.get(item_id)
        review = _review_item(
            context,
            item,
            near,
            machine.get(item_id),
            kind,
            verdict.p_correct if verdict else None,
            verdict.reasons if verdict else [],
        )
        if kind == "explore" and item_id in state.why:  # the LLM selector says why it picked the text
            review.reasons.append(f"picked by the LLM: {state.why[item_id]}")
        pending.append(review.model_copy(update={"round": state.round}).model_dump(mode="json"))
    return {"pending": pending}
