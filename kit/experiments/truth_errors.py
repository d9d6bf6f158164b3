"""Analyses of synthetic videos against their exact truth, one animal or several.

One animal: :func:`kit.experiments.synthetic.ground_truth_errors` (mean error over all
frames and over the labeled ones). Several animals (projects made by
:func:`kit.experiments.synthetic_group.make_synthetic_group_project`): the tracked
analysis (``_el.h5``) against every frame's truth: MOTA, IDF1 and identity switches
(:func:`kit.results.evaluate_ma.tracking_metrics`) and the error of each track matched to
one animal for the whole video (:func:`tracked_rmse`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from kit.experiments.synthetic import ground_truth_errors as single_animal_errors
from kit.experiments.synthetic_group import load_group_ground_truth
from kit.project import Project
from kit.project.analysis_file import load_poses, select_individuals
from kit.results.evaluate_ma import tracking_metrics
from kit.results.tracklets import quiet_nan

TRACKING_COLUMNS = ["video", "num_frames", "mota", "idf1", "num_switches", "num_misses",
                    "num_false_positives", "tracked_rmse_px"]


def tracked_rmse(pred: np.ndarray, truth: np.ndarray) -> float:
    """Mean distance (pixels) of tracked animals to the truth, each track matched to one
    true animal for the whole video (Hungarian on the mean distance over all frames), so
    frames after an identity switch count as errors.

    Args:
        pred: (T, I, K, >=2) tracks; truth: (T, J, K, 2), NaN where not visible.
    """
    dist = np.linalg.norm(pred[:, :, None, :, :2] - truth[:, None], axis=-1)  # (T, I, J, K)
    with quiet_nan():  # a track never near an animal: all-NaN, fine
        cost = np.nan_to_num(np.nanmean(dist, axis=(0, 3)), nan=1e9)
        rows, cols = linear_sum_assignment(cost)
        return float(np.nanmean(dist[:, rows, cols]))


def group_tracking_errors(project: Project, results: Sequence) -> pd.DataFrame:
    """Per synthetic group video analysed (``results``: ``AnalysisResult``), its tracking
    against every frame's truth (visible body parts only); videos without truth left out."""
    layout, rows = project.layout, []
    for r in results:
        if not project.ground_truth_file(r.video.stem).is_file():
            continue
        truth, visible = load_group_ground_truth(project, r.video.stem)
        poses, _, individuals = load_poses(r.h5, layout.multianimal_bodyparts)
        poses = select_individuals(poses, individuals, layout.individuals)
        truth = np.where(visible[..., None], truth, np.nan)[:len(poses)]
        scores = tracking_metrics(poses, truth)
        rows.append({"video": r.video.name, "num_frames": len(poses), **{
            k: scores[k] for k in TRACKING_COLUMNS[2:-1]},
            "tracked_rmse_px": tracked_rmse(poses, truth)})
    return pd.DataFrame(rows, columns=TRACKING_COLUMNS)


def ground_truth_errors(project: Project, results: Sequence) -> pd.DataFrame:
    """The analyses of a synthetic project's videos against their truth: per video, the
    mean errors (one animal) or the tracking scores (several); see the module docstring."""
    if project.layout is None:
        return single_animal_errors(project, results)
    return group_tracking_errors(project, results)
