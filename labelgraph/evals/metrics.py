"""Learning-curve figures: normalised AULC, labels needed to reach a share of full supervision, mean and std."""

from __future__ import annotations

import numpy as np

__all__ = ["aulc", "labels_to_reach", "mean_std"]


def aulc(x: list[float], y: list[float]) -> float:
    """Area under the curve ``y(x)`` (trapezoids) divided by the width of ``x``: 1.0 is perfect from the start."""
    if len(x) < 2 or x[-1] == x[0]:
        return float(y[-1]) if y else 0.0
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    return float(np.sum((xs[1:] - xs[:-1]) * (ys[1:] + ys[:-1]) / 2) / (xs[-1] - xs[0]))


def labels_to_reach(x: list[float], y: list[float], target: float) -> float | None:
    """The first ``x`` where ``y`` reaches ``target``, or None if it never does."""
    return next((float(a) for a, b in zip(x, y, strict=True) if b >= target), None)


def mean_std(values: list[float | None]) -> dict[str, float | int | None]:
    """Mean and (population) standard deviation of the values that exist, and how many there were."""
    present = [float(v) for v in values if v is not None]
    if not present:
        return {"mean": None, "std": None, "n": 0}
    return {"mean": round(float(np.mean(present)), 4), "std": round(float(np.std(present)), 4), "n": len(present)}
