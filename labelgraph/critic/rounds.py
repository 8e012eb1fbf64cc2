"""The critic's three steps in a round, over the run's stores (the graph's nodes call one each):

    draw   (select)    the person's batch, drawn by design from the last look's target (``critic.batch``)
    score  (critique)  signals of every machine label and their calibration into ``p_correct``: the verdicts
    look   (train)     with the round's answers, which machine labels are certified (``critic.acceptance``)

The signals, the costly part, are computed once a round (``score``); ``look`` reads the verdicts back as arrays.
What one look leaves for the next (answers counted, the target set) is kept in the label store's meta.
"""

from __future__ import annotations

import base64
import hashlib
import zlib
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel

from labelgraph.critic.acceptance import Design, Estimate, decide
from labelgraph.critic.batch import Rule, certify_draws_needed, draw_batch, shares_for
from labelgraph.critic.signals import SIGNALS, signal_reasons
from labelgraph.stores.labels import HumanLabel, LabelStore, MachineLabel, OpenLabel, StoredVerdict

if TYPE_CHECKING:
    from labelgraph.graphs.context import RunContext
    from labelgraph.student.models import StudentModel

__all__ = ["Certification", "draw", "look", "score"]

DESIGN = "design:{round}"
"""The label store's meta key of a round's design: each pool text's probability per draw (``_encode``)."""
CERTIFICATION = "certification"
"""The label store's meta key of the last look's ``Certification``."""
FOLDS = 5
"""Checked machine labels get their signals afresh in this many folds, each from people's labels outside it."""


class Certification(BaseModel):
    """What a look leaves for the next round: the answers it counted and the set the next audits serve."""

    answers: int = 0
    spent: float = 0.0
    """The error level every look so far has spent (at most ``1 - confidence``)."""
    target: float | None = None
    """p_correct threshold of the target set (None: every machine label)."""
    audits_needed: int = 0


def certification(context: RunContext) -> Certification:
    raw = context.store.meta(CERTIFICATION)
    return Certification.model_validate_json(raw) if raw else Certification()


def certifying(context: RunContext) -> bool:
    """Whether machine labels are certified at all (a machine lane and a quality target)."""
    return context.annotator is not None and context.config.quality.enabled


# -- draw -------------------------------------------------------------------------------------------------
def draw(
    context: RunContext, round_number: int, room: int, picks: list[str], student: StudentModel, answers_left: int
) -> list[tuple[str, Rule]]:
    """The round's batch (id, the rule that drew it), its draws stored with their probabilities. ``picks``: the
    strategy's, most wanted first; ``answers_left``: the budget's answers still to come, this round's included.
    Without a machine lane, the strategy's first picks, as in classic active learning."""
    if context.annotator is None or room <= 0:
        return [(item_id, "explore") for item_id in picks[:room]]
    config, store = context.config, context.store
    answered = set(store.human())
    pool = context.pool_ids
    in_pool = set(pool)
    open_p = {
        item_id: p
        for item_id, (_, p) in store.verdict_labels(("accepted", "proposed")).items()
        if item_id in in_pool and item_id not in answered
    }
    last = certification(context)
    region = set(open_p) if last.target is None else {i for i, p in open_p.items() if p >= last.target}
    proposals = [i for i in open_p if i not in region]
    uncertainty: dict[str, float] = {}
    if proposals and student.is_informative:
        probs = context.predict(student, proposals)
        entropy = -(probs * np.log(np.clip(probs, 1e-12, 1))).sum(axis=1) / np.log(len(config.label_names))
        uncertainty = dict(zip(proposals, entropy.tolist(), strict=True))
    shares = shares_for(
        explore=config.quality.explore,
        floor=config.quality.audit,
        certify_draws=certify_draws_needed(last.audits_needed, answers_left, room),
        room=room,
        certifying=certifying(context),
    )
    batch, draws, design = draw_batch(
        room,
        pool=pool,
        answered=answered,
        p_correct=open_p,
        region=region,
        uncertainty=uncertainty,
        picks=picks,
        shares=shares,
        rng=np.random.default_rng([config.random_seed, round_number, 11]),
    )
    store.put_meta(DESIGN.format(round=round_number), _encode(design))  # before the draws: a round drawn has both
    store.put_draws(round_number, ((d.id, d.probability, d.rule) for d in draws))
    return batch


def _encode(design: np.ndarray) -> str:
    """A round's design over the pool (pool order) as text for the label store's meta: float32, zlib, base64."""
    return base64.b64encode(zlib.compress(np.asarray(design, dtype="<f4").tobytes())).decode("ascii")


def designs(store: LabelStore, pool: list[str], rows: dict[str, int], rounds: list[int]) -> Design | None:
    """The rounds' designs over the machine labels (``rows``: id -> row) for draws made in ``rounds``, or None
    if a round's design was not kept (a run folder from before it was) or does not fit the pool."""
    kept = sorted(set(rounds))
    position = {item_id: at for at, item_id in enumerate(pool)}
    columns = np.full(len(rows), -1, dtype=int)
    for item_id, row in rows.items():
        columns[row] = position.get(item_id, -1)
    if (columns < 0).any():
        return None
    probability = np.zeros((len(kept), len(rows)))
    for index, round_number in enumerate(kept):
        raw = store.meta(DESIGN.format(round=round_number))
        if raw is None:
            return None
        try:
            over_pool = np.frombuffer(zlib.decompress(base64.b64decode(raw)), dtype="<f4")
        except (ValueError, zlib.error):
            return None
        if len(over_pool) != len(pool):
            return None
        probability[index] = over_pool[columns]
    index_of = {round_number: index for index, round_number in enumerate(kept)}
    return Design(probability=probability, round_of_draw=np.array([index_of[r] for r in rounds], dtype=int))


# -- score ------------------------------------------------------------------------------------------------
def score(context: RunContext, round_number: int) -> None:
    """Signals and ``p_correct`` for every machine label of rounds up to ``round_number``, calibrated on the
    answers of earlier rounds; written as verdicts. Unchecked labels keep the status the last look gave them
    (a new one is proposed); checked ones get ``checked`` and their out-of-fold ``p_correct``."""
    store, critic = context.store, context.critic
    human = store.human(before_round=round_number)
    open_labels = store.open_labels(before_round=round_number + 1, skip=set(human))
    labelled = {h.id: h.label for h in human.values() if h.label is not None}
    human_ids = sorted(labelled)
    human_vectors = context.vectors(human_ids)
    human_labels = [labelled[i] for i in human_ids]
    open_vectors = context.vectors([m.id for m in open_labels])
    open_features = critic.signals(open_labels, open_vectors, human_vectors, human_labels)  # type: ignore[arg-type]
    machine = store.machine_for([h.id for h in human.values() if h.label is not None and h.machine_label])
    checked = [h for h in human.values() if h.id in machine and machine[h.id].label == h.machine_label]
    checked_features = _checked_signals(context, [machine[h.id] for h in checked], human, open_labels, open_vectors)
    off_target = {m.id for m in open_labels if m.intended is not None and m.label != m.intended}
    rows = [row for row, m in enumerate(open_labels) if m.id not in off_target]
    everything = np.vstack([open_features[rows].reshape(len(rows), len(SIGNALS)), checked_features])
    right = np.array([h.label == h.machine_label for h in checked], dtype=bool)
    p, oof, _ = critic.calibrate(everything, np.arange(len(rows), len(everything)), right)
    accepted = store.verdict_labels(("accepted",))
    verdicts: list[StoredVerdict] = []
    for at, row in enumerate(rows):
        m = open_labels[row]
        status = "accepted" if accepted.get(m.id, (None,))[0] == m.label and m.label is not None else "proposed"
        verdicts.append(_verdict(m.id, round_number, m.label, float(p[at]), status, open_features[row]))
    for at, h in enumerate(checked):
        verdicts.append(_verdict(h.id, round_number, h.machine_label, float(oof[at]), "checked", checked_features[at]))
    for m in (open_labels[row] for row in range(len(open_labels)) if open_labels[row].id in off_target):
        reason = f"synthetic text written as {m.intended!r}, but the annotator labels it {m.label!r}"
        verdicts.append(
            StoredVerdict(
                id=m.id, round=round_number, label=m.label, p_correct=0.0, status="rejected", reasons=[reason]
            )
        )
    store.put_verdicts(verdicts)


def _verdict(
    item_id: str, round_number: int, label: str | None, p: float, status: str, row: np.ndarray
) -> StoredVerdict:
    return StoredVerdict(
        id=item_id,
        round=round_number,
        label=label,
        p_correct=round(p, 4),
        status=status,  # type: ignore[arg-type]
        reasons=signal_reasons(row, label or "", p, status),
        signals={name: round(float(v), 4) for name, v in zip(SIGNALS, row, strict=True)},
    )


def _checked_signals(
    context: RunContext,
    checked: list[MachineLabel],
    human: dict[str, HumanLabel],
    open_labels: list[OpenLabel],
    open_vectors: np.ndarray,
) -> np.ndarray:
    """Signals of the machine labels people checked, as the critic would compute them now had nobody checked
    them: for each fold, from people's labels outside it, beside this round's open labels (one consensus fit a
    fold). So a checked label falls in the same top set as an unchecked one the critic rates alike."""
    out = np.zeros((len(checked), len(SIGNALS)))
    if not checked:
        return out
    fold_of = {m.id: int(hashlib.sha256(m.id.encode()).hexdigest(), 16) % FOLDS for m in checked}
    for fold in range(FOLDS):
        rows = [row for row, m in enumerate(checked) if fold_of[m.id] == fold]
        if not rows:
            continue
        labelled = {h.id: h.label for h in human.values() if h.label is not None and fold_of.get(h.id) != fold}
        ids = sorted(labelled)
        labels = [checked[row] for row in rows]
        out[rows] = context.critic.signals(
            labels,
            context.vectors([m.id for m in labels]),
            context.vectors(ids),
            [labelled[i] for i in ids],  # type: ignore[misc]
            others=(open_labels, open_vectors),
        )
    return out


# -- look -------------------------------------------------------------------------------------------------
def look(context: RunContext, round_number: int, answers: int) -> Estimate:
    """Certify with every answer so far (``answers``: people's labels, the error level's clock): settle which
    machine labels are accepted, store the estimate and what the next round's batch should serve."""
    config, store = context.config, context.store
    quality = config.quality
    human = store.human()
    pool = context.pool_ids
    in_pool = set(pool)
    rows: dict[str, int] = {}
    p, labels, checked, right, status = [], [], [], [], []
    for wanted in ("accepted", "proposed", "checked"):
        for item_id, (label, score_) in store.verdict_labels((wanted,)).items():
            answer = human.get(item_id)
            if item_id not in in_pool or (answer is not None and answer.label is None):
                continue  # synthetic texts, and texts set aside, are not certified
            rows[item_id] = len(p)
            p.append(score_)
            labels.append(label)
            checked.append(answer is not None)
            right.append(answer is not None and answer.label == label)
            status.append(wanted)
    draws = store.draws()
    draw_rows = np.array([rows.get(item_id, -1) if item_id in human else -1 for _, item_id, _, _ in draws], dtype=int)
    p_arr, checked_arr = np.array(p, dtype=float), np.array(checked, dtype=bool)
    last = certification(context)
    checked_before = np.array(
        [item_id in human and human[item_id].round < round_number for item_id in rows], dtype=bool
    )
    covered = sum(1 for h in human.values() if h.label is not None and h.id in in_pool)
    decision = decide(
        p_arr,
        checked_arr,
        np.array(right, dtype=bool),
        labels,
        draw_rows,
        np.array([d[2] for d in draws], dtype=float),
        np.array([d[3] in {"audit", "floor"} for d in draws], dtype=bool),
        target=quality.target_accuracy,
        confidence=quality.confidence,
        answers=answers,
        previous_answers=min(last.answers, answers),
        spent_before=last.spent,
        budget=config.budget,
        batch=config.batch_size,
        least_checks=quality.min_checks,
        pool_size=len(pool),
        covered=covered,
        accept_all=not quality.enabled,
        design=designs(store, pool, rows, [d[0] for d in draws]),
        earlier=np.array([d[0] < round_number for d in draws], dtype=bool),
        checked_before=checked_before,
    )
    estimate = decision.estimate
    accepted = decision.accepted
    if quality.enabled and not estimate.level:  # nothing tested: the last look's accepted labels and bound stand
        accepted = np.array([s == "accepted" for s in status], dtype=bool) & ~checked_arr
        kept = store.meta("estimate")
        if kept:
            held = Estimate.model_validate_json(kept)
            settled = ("accepted", "accuracy", "lower", "upper", "threshold", "level")
            estimate = estimate.model_copy(update={key: getattr(held, key) for key in settled})
            estimate.accepted = int(accepted.sum())
    changes = {}
    for item_id, row in rows.items():
        new = "checked" if checked_arr[row] else ("accepted" if accepted[row] else "proposed")
        if new != status[row]:
            changes[item_id] = new
    store.set_statuses(changes)
    store.put_meta("estimate", estimate.model_dump_json())
    spent = last.spent + (decision.estimate.level or 0.0) if quality.enabled else last.spent
    kept = Certification(answers=answers, spent=spent, target=decision.target, audits_needed=decision.audits_needed)
    store.put_meta(CERTIFICATION, kept.model_dump_json())
    return estimate
