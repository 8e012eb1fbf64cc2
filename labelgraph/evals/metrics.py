"""Learning-curve figures: normalised AULC, labels needed to reach a share of full supervision, mean and std."""

from __future__ import annotations

import numpy as np

__all__ = ["aulc", "labels_to_reach", "mean_std"]


def aulc(x: list[float], y: list[float], until: float | None = None) -> float:
    """Area under the curve ``y(x)`` (trapezoids) from ``x[0]`` to ``until`` (the budget), divided by that width.

    A curve that stops early (a round limit, an exhausted pool, no human labels at all) is carried flat at its
    last value to ``until``, so runs that end at different points are compared on the same range; 1.0 is
    perfect from the start. Without ``until`` the range is the curve's own.
    """
    if not y:
        return 0.0
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    end = xs[-1] if until is None else float(until)
    if end <= xs[0]:
        return float(ys[0])
    if xs[-1] < end:
        xs, ys = np.append(xs, end), np.append(ys, ys[-1])
    elif xs[-1] > end:  # past the range: cut at ``end``
        cut = np.interp(end, xs, ys)
        keep = xs < end
        xs, ys = np.append(xs[keep], end), np.append(ys[keep], cut)
    return float(np.sum((xs[1:] - xs[:-1]) * (ys[1:] + ys[:-1]) / 2) / (end - xs[0]))


def labels_to_reach(x: list[float], y: list[float], target: float) -> float | None:
    """The first ``x`` where ``y`` reaches ``target``, or None if it never does."""
    return next((float(a) for a, b in zip(x, y, strict=True) if b >= target), None)


def mean_std(values: list[float | None]) -> dict[str, float | int | None]:
    """Mean and (population) standard deviation of the values that exist, and how many there were."""
    present = [float(v) for v in values if v is not None]
    if not present:
        return {"mean": None, "std": None, "n": 0}
    return {"mean": round(float(np.mean(present)), 4), "std": round(float(np.std(present)), 4), "n": len(present)}
