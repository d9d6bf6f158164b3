"""Two predictions of the same test points compared: how much one changes the error, and how
sure that is (a paired bootstrap over the test frames).

A change measured on a few dozen test frames is uncertain even with the network fixed: other
frames from the same stretch of video would give another figure. Resampling the test frames
with replacement (all points of a drawn frame together, since a frame's points are not
independent) and recomputing both figures on the same draw gives an interval for the
change (Efron and Tibshirani 1993, the percentile interval). It says nothing of how the
figures move with another training run (another seed): that needs more runs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

STATISTICS = {"mean": np.mean, "median": np.median, "p90": lambda e: np.percentile(e, 90)}


def paired_change(before: np.ndarray, after: np.ndarray, frames: np.ndarray,
                  num_resamples: int = 2000, seed: int = 0) -> pd.DataFrame:
    """The relative change ``after / before - 1`` of each of :data:`STATISTICS` of the
    errors, with its 95% interval over resampled frames.

    Args:
        before: (P,) the errors (pixels) of P points under the first prediction; a point
            NaN in either is left out of both.
        after: (P,) the errors of the same points under the second.
        frames: (P,) each point's frame (points of a frame are drawn together).
        num_resamples: bootstrap draws of the frames.
        seed: seeds the draws.

    Returns:
        One row per statistic (index ``mean``, ``median``, ``p90``): ``before``, ``after``,
        ``change`` (relative), ``low``, ``high`` (its 2.5th and 97.5th percentiles).
    """
    before, after = np.asarray(before, float), np.asarray(after, float)
    keep = np.isfinite(before) & np.isfinite(after)
    codes, _ = pd.factorize(np.asarray(frames)[keep])
    before, after = before[keep], after[keep]
    if not len(codes):
        raise ValueError("paired_change needs at least one point with both errors finite.")
    members = [np.flatnonzero(codes == frame) for frame in range(codes.max() + 1)]
    rng = np.random.default_rng(seed)
    draws = [np.concatenate([members[f] for f in rng.integers(0, len(members), len(members))])
             for _ in range(num_resamples)]
    rows = {}
    for name, statistic in STATISTICS.items():
        first, second = statistic(before), statistic(after)
        changes = [statistic(after[d]) / max(statistic(before[d]), 1e-12) - 1 for d in draws]
        low, high = np.percentile(changes, [2.5, 97.5])
        rows[name] = {"before": first, "after": second,
                      "change": second / max(first, 1e-12) - 1, "low": low, "high": high}
    return pd.DataFrame.from_dict(rows, orient="index")
