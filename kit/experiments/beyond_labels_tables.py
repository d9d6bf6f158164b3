"""Reading :func:`kit.experiments.beyond_labels.compare_methods`'s results: each run's
figures, each method against supervised training point by point, and the method a
validation block chooses (``15_beyond_labels``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from kit.results.paired import STATISTICS, paired_change

POINTS_FILE = "beyond_labels_points.csv"  # every scored point's error, each run's


def figures(errors, prefix: str = "") -> dict[str, float]:
    """Each of :data:`kit.results.paired.STATISTICS` (mean, median, 90th percentile) of
    ``errors`` (pixels; NaN: not predicted), named ``<prefix>mean_px`` and so on; NaN where
    none is finite."""
    errors = np.asarray(errors, float)
    errors = errors[np.isfinite(errors)]
    return {f"{prefix}{name}_px": float(statistic(errors)) if errors.size else np.nan
            for name, statistic in STATISTICS.items()}


def chosen_methods(table: pd.DataFrame, statistic: str | None = None,
                   rotation_by_video: bool = False) -> pd.DataFrame:
    """For each training size, the blocks-split method whose validation block's
    ``statistic`` (``val_<statistic>``; "mAP": the highest) is best, chosen without looking
    at the test block, with its test figures and supervised training's beside them.
    ``table``: :func:`compare_methods`'s, run with a ``validation_fraction``. ``statistic``
    None: "mAP" where the table has one (several animals: the OKS mAP sees animals found head
    to tail, which the median of the points' errors can hide), else "median_px".

    ``rotation_by_video``: the rotation range is chosen first, on the project's unlabeled
    video (:func:`video_rotation`), and the method among those of that range: a validation
    block just before the test block holds the poses of the labeled stretch, not the turns
    an animal makes later (``benchmarks/RESULTS.md``, "What the unlabeled video says")."""
    if statistic is None:
        has_map = "val_mAP" in table and table.val_mAP.notna().any()
        statistic = "mAP" if has_map else "median_px"
    blocks = table[(table.split == "blocks") & table[f"val_{statistic}"].notna()]
    rows = []
    for size, runs in blocks.groupby("train_size"):
        rotation = video_rotation(runs) if rotation_by_video else None
        if rotation is not None:  # the methods trained with the chosen run's range
            chosen_range = runs.loc[runs.method == rotation, "rotation_deg"].iloc[0]
            runs = runs[runs.rotation_deg == chosen_range]
        values = runs[f"val_{statistic}"]
        best = runs.loc[values.idxmax() if statistic == "mAP" else values.idxmin()]
        base = blocks[(blocks.train_size == size) & (blocks.method == "supervised")]
        rows.append({"train_size": size, "chosen": best.method,
                     **({"rotation_by_video": rotation} if rotation_by_video else {}),
                     f"val_{statistic}": best[f"val_{statistic}"],
                     **{f"test_{c}": best[c] for c in ("mean_px", "median_px", "p90_px")},
                     **{f"supervised_{c}": base[c].iloc[0] if len(base) else np.nan
                        for c in ("mean_px", "median_px", "p90_px")}})
    return pd.DataFrame(rows)


def video_rotation(runs: pd.DataFrame) -> str | None:
    """Of ``runs`` (one training size's blocks-split rows), "supervised" (DeepLabCut's 25
    degrees) or "full_rotation" (the project's range), whichever leaves fewer of the
    unlabeled video's predicted points below pcutoff (``below_pcutoff``): the same network,
    steps and scale, trained on the same frames, so the one surer on frames no one labeled.
    None where either row, its figure or its ``rotation_deg`` is missing. (Across scales the
    share misleads: a coarser scale is surer and less exact, so compare trainings at one
    scale only.)"""
    if not {"below_pcutoff", "rotation_deg"} <= set(runs):
        return None
    pair = runs.set_index("method").reindex(["supervised", "full_rotation"])
    if pair[["below_pcutoff", "rotation_deg"]].isna().any(axis=None):
        return None
    return str(pair["below_pcutoff"].astype(float).idxmin())


def read_points(out: str | Path) -> pd.DataFrame:
    """The test points' errors :func:`compare_methods` wrote in ``out`` (:data:`POINTS_FILE`):
    method, split, train_size, image, individual, bodypart, error_px, frames ("test" or
    "validation"; files of before the validation block: "test")."""
    points = pd.read_csv(Path(out) / POINTS_FILE)
    return points if "frames" in points else points.assign(frames="test")


def against_supervised(points: pd.DataFrame, num_resamples: int = 2000) -> pd.DataFrame:
    """Each method's test error against supervised training's on the same split and
    training size, point by point: the relative change of the mean, median and 90th
    percentile with its 95% interval over resampled test frames
    (:func:`kit.results.paired.paired_change`; it covers which frames were tested, not
    another training run; points either did not predict, a missed animal's, are left out).
    ``points``: :func:`read_points`'s (its test frames are compared)."""
    keys, rows = ["image", "individual", "bodypart"], []
    points = points[points.frames == "test"] if "frames" in points else points
    for (method, split, size), own in points.groupby(["method", "split", "train_size"]):
        base = points[(points.method == "supervised") & (points.split == split)
                      & (points.train_size == size)]
        if method == "supervised" or base.empty:
            continue
        both = base.merge(own, on=keys, suffixes=("_supervised", ""))
        change = paired_change(both["error_px_supervised"], both["error_px"], both["image"],
                               num_resamples)
        rows += [{"method": method, "split": split, "train_size": size, "statistic": stat,
                  "supervised_px": row["before"], "method_px": row["after"],
                  "change": row["change"], "low": row["low"], "high": row["high"]}
                 for stat, row in change.iterrows()]
    return pd.DataFrame(rows)
