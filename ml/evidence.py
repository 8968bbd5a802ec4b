"""How much one view says about a viewer's taste (no Spark here: the live recommender and the
API use it without a JVM; `ml.interactions` builds the same formula as a Spark column).

    evidence = completion_ratio              how much of the title was watched (0..1)
             + 0.5 if completion_ratio >= 0.9   finishing it is a stronger signal than the share says
             - 1.0 if is_skipped             left within the first minutes: evidence *against*
"""

from __future__ import annotations

import numpy as np

COMPLETED_AT = 0.9  # a view at or above this share of the title finished it
COMPLETION_BONUS = 0.5
SKIP_PENALTY = 1.0


def view_evidence(completion_ratio: np.ndarray, is_skipped: np.ndarray) -> np.ndarray:
    completion = np.clip(np.asarray(completion_ratio, dtype=np.float64), 0.0, 1.0)
    return (completion + np.where(completion >= COMPLETED_AT, COMPLETION_BONUS, 0.0)
            - np.where(np.asarray(is_skipped, dtype=bool), SKIP_PENALTY, 0.0))


def views_evidence(views) -> np.ndarray:
    """Each row's evidence in a DataFrame of views: its `weight` column when it has one (an
    interactions file), else `view_evidence` of completion_ratio and is_skipped."""
    if "weight" in views.columns:
        return views.weight.to_numpy(dtype=np.float64)
    return view_evidence(views.completion_ratio.fillna(0.0).to_numpy(), views.is_skipped.to_numpy())
