"""The person's batch, drawn by design: every text asked has a known probability of being asked, so every answer
on a machine label is a check that estimates accuracy without bias (``labelgraph.critic.acceptance``).

Each draw picks a text of the pool from a mixture of four rules (Zrnic & Candes 2024, active inference: sample
where the answers teach most, keep every probability known and away from zero):

    audit    uniform over the unanswered machine labels of the set the next certification is about (``target``)
    floor    uniform over the whole pool, answered texts too: every label can be checked, so every estimate is
             unbiased whatever the other rules do (``quality.audit`` of the draws)
    fix      proposals in proportion to ``(1 - p_correct)**2 x (0.5 + 0.5 x uncertainty)``: likely wrong and
             informative for the student (shown with the machine's label)
    explore  uniform over the strategy's first picks (``quality.explore`` of the draws)

Draws are made with replacement until the batch holds ``room`` texts nobody answered: a draw that lands on an
answered text, or on one already in the batch, is a check that costs nothing. Every draw is recorded with its
probability (the mixture's, whichever rule made it), and the round's whole mixture is kept too: a set's estimate
weighs each draw by its probability *within the set* under its round's design (``critic.acceptance``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
from pydantic import BaseModel

__all__ = ["Draw", "Shares", "draw_batch", "shares_for"]

Rule = Literal["audit", "floor", "fix", "explore"]
MOST_DRAWS = 20
"""Draws a batch may take, per text it asks, before it stops short (every text left already drawn)."""


class Draw(BaseModel):
    """One draw of the design: the text, its probability under the round's mixture, and the rule that drew it."""

    id: str
    probability: float
    rule: Rule


class Shares(BaseModel):
    """The mixture's weights (they sum to 1)."""

    audit: float
    floor: float
    fix: float
    explore: float


FIX_SHARE = 0.1
"""The least share of a batch kept for fixes while a quality target is pursued (the student learns from them)."""


def shares_for(*, explore: float, floor: float, certify_draws: float, room: int, certifying: bool = True) -> Shares:
    """Split a batch: ``explore`` and ``floor`` as configured; of the rest, the audits the next certification needs
    this round (``certify_draws``), at least a quarter so certification keeps probing and at most all but
    ``FIX_SHARE`` of the batch; fixes take what is left. ``certifying`` False (no quality target): no audits."""
    explore = min(max(explore, 0.0), 1.0)
    floor = min(max(floor, 0.0), 1.0 - explore)
    rest = 1.0 - explore - floor
    audit = 0.0
    if certifying and rest > 0 and room > 0:
        audit = min(max(0.25 * rest, rest - FIX_SHARE), max(0.25 * rest, certify_draws / room))
    return Shares(audit=audit, floor=floor, fix=rest - audit, explore=explore)


def _mixture(
    pool: Sequence[str],
    answered: set[str],
    p_correct: dict[str, float],
    region: set[str],
    uncertainty: dict[str, float],
    picks: Sequence[str],
    shares: Shares,
) -> tuple[np.ndarray, dict[Rule, np.ndarray]]:
    """Each rule's distribution over the pool and their mixture. A rule with nothing to draw from passes its
    weight to the floor."""
    size = len(pool)
    open_machine = np.array([i not in answered and i in p_correct for i in pool])
    rules: dict[Rule, np.ndarray] = {"floor": np.full(size, 1.0 / size)}
    audit = np.array([i in region for i in pool], dtype=float) * open_machine
    fix = np.array([(1 - p_correct.get(i, 1.0)) ** 2 * (0.5 + 0.5 * uncertainty.get(i, 1.0)) for i in pool])
    fix *= open_machine & ~(audit > 0)
    wanted = {i for i in picks if i not in answered}
    explore = np.array([i in wanted for i in pool], dtype=float)
    weights = shares.model_dump()
    for rule, mass in (("audit", audit), ("fix", fix), ("explore", explore)):
        if mass.sum() > 0:
            rules[rule] = mass / mass.sum()  # type: ignore[index]
        else:
            weights["floor"] += weights[rule]
            weights[rule] = 0.0
    mixture = sum(weights[rule] * rules[rule] for rule in rules)
    return np.asarray(mixture) / np.sum(mixture), {rule: weights[rule] * rules[rule] for rule in rules}


def draw_batch(
    room: int,
    *,
    pool: Sequence[str],
    answered: set[str],
    p_correct: dict[str, float],
    region: set[str],
    uncertainty: dict[str, float],
    picks: Sequence[str],
    shares: Shares,
    rng: np.random.Generator,
) -> tuple[list[tuple[str, Rule]], list[Draw], np.ndarray]:
    """Draw texts until ``room`` unanswered ones are in the batch. Returns the batch (id, the rule that first drew
    it; ``floor`` draws are asked as audits), every draw with its probability, and the design: each pool text's
    probability per draw (aligned with ``pool``).

    ``p_correct``: the machine labels nobody answered yet; ``region``: the target set's ids; ``picks``: the
    strategy's picks, most wanted first; ``uncertainty``: the student's normalised entropy per id (default 1)."""
    if room <= 0 or not pool:
        return [], [], np.full(len(pool), 1.0 / max(len(pool), 1))
    mixture, parts = _mixture(pool, answered, p_correct, region, uncertainty, picks, shares)
    unanswered = sum(1 for i in pool if i not in answered)
    room = min(room, unanswered)
    rules: list[Rule] = [rule for rule in parts if parts[rule].sum() > 0]
    rule_cdf = np.cumsum([parts[rule].sum() for rule in rules])
    item_cdf = {rule: np.cumsum(parts[rule]) / parts[rule].sum() for rule in rules}
    batch: dict[str, Rule] = {}
    draws: list[Draw] = []
    while len(batch) < room and len(draws) < MOST_DRAWS * max(room, 1):
        rule = rules[min(int(np.searchsorted(rule_cdf, rng.random() * rule_cdf[-1], side="right")), len(rules) - 1)]
        row = min(int(np.searchsorted(item_cdf[rule], rng.random(), side="right")), len(pool) - 1)
        item_id = pool[row]
        draws.append(Draw(id=item_id, probability=float(mixture[row]), rule=rule))
        if item_id not in answered and item_id not in batch:
            batch[item_id] = "audit" if rule == "floor" else rule
    asked = list(batch.items())
    rank = {item_id: position for position, item_id in enumerate(picks)}
    slots = [position for position, (_, rule) in enumerate(asked) if rule == "explore"]
    ordered = sorted((asked[position] for position in slots), key=lambda pair: rank.get(pair[0], len(rank)))
    for position, pair in zip(slots, ordered, strict=True):  # the strategy's picks keep its order
        asked[position] = pair
    return asked, draws, mixture


def certify_draws_needed(needed: int, answers_left: int, room: int) -> float:
    """Audits a round should spend: the draws the target set still needs, spread over the rounds left."""
    rounds_left = max(1, math.ceil(answers_left / max(room, 1)))
    return needed / rounds_left
