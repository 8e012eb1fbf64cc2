"""Calibration: ``p_correct`` for every machine label, from the labels people checked (right or wrong)."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel

from labelgraph.config import CriticSettings

__all__ = ["Calibration", "calibrate"]


class Calibration(BaseModel):
    """How ``p_correct`` was made this round."""

    checks: int
    right: int
    prior: float
    fitted: bool


def calibrate(
    features: np.ndarray, checked: np.ndarray, right: np.ndarray, settings: CriticSettings, *, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, Calibration]:
    """``p_correct`` for every row of ``features``, and out of fold for the ``checked`` rows (in their order).

    ``checked``: row indices a person checked; ``right``: whether the machine label was right for each. Until
    there are ``settings.min_checks`` checks with at least two right and two wrong, every label gets the checks'
    smoothed accuracy (no ranking yet); after that a logistic regression on the standardised signals, its
    regularisation chosen by cross-validated log-loss (strong while wrong labels are few), decides.
    """
    right = np.asarray(right, dtype=int)
    n_checks, n_right = len(right), int(right.sum())
    prior = (n_right + 1) / (n_checks + 2)  # the checks' accuracy, Laplace-smoothed
    p = np.full(len(features), prior)
    oof = np.full(n_checks, prior)
    fitted = n_checks >= settings.min_checks and min(n_right, n_checks - n_right) >= 2
    if fitted:
        from sklearn.linear_model import LogisticRegression, LogisticRegressionCV  # loads where it fits
        from sklearn.model_selection import StratifiedKFold, cross_val_predict
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        splits = min(5, n_right, n_checks - n_right)
        cv = StratifiedKFold(splits, shuffle=True, random_state=seed)
        x = features[checked]
        search = LogisticRegressionCV(
            Cs=list(settings.cs),
            cv=cv,
            scoring="neg_log_loss",
            max_iter=1000,
            use_legacy_attributes=False,
            l1_ratios=(0.0,),
        )
        model = make_pipeline(StandardScaler(), search).fit(x, right)
        p = model.predict_proba(features)[:, 1]
        chosen = float(np.ravel(search.C_)[0])
        fixed = make_pipeline(StandardScaler(), LogisticRegression(C=chosen, max_iter=1000))
        oof = cross_val_predict(fixed, x, right, cv=cv, method="predict_proba")[:, 1]
    return p, oof, Calibration(checks=n_checks, right=n_right, prior=round(prior, 4), fitted=fitted)
