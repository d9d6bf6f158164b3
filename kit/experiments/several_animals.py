"""The paper's multi-mouse readout: a network trained on one animal, shown several.

DeepLabCut's paper (Mathis et al. 2018) shows a network trained on frames of single mice
applied to a frame with several: each body part's score map then has one peak per animal.
Here a network trained on a single-animal synthetic project is run on frames of a
synthetic group (:mod:`kit.experiments.synthetic_group`, same animal drawn at the same
size), every peak above a threshold is read out per body part
(:func:`kit.net.peaks.find_peaks_batch`: non-maximum suppression within a radius, location
refinement applied), and the peaks are scored against the group's exact truth.

No assembly: the peaks are body parts, not yet animals (that needs part-affinity fields,
:mod:`kit.net.assembly`, trained on multi-animal labels).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from kit.experiments.synthetic import load_ground_truth
from kit.experiments.synthetic_group import GroupConfig, GroupTruth, render_group_video
from kit.net.peaks import find_peaks_batch
from kit.project import Project
from kit.project.video import read_frames, video_info


@dataclass(frozen=True)
class ReadoutConfig:
    """How peaks are read out and scored.

    Attributes:
        threshold: lowest score-map value that counts as a peak (0-1).
        nms_radius_px: no two peaks of one body part closer than this (image pixels).
        tolerance_px: a true body part is found when a peak of that part lies within this
            distance (image pixels), each peak matched to at most one animal.
    """

    threshold: float = 0.3
    nms_radius_px: float = 12.0
    tolerance_px: float = 8.0

    def __post_init__(self) -> None:
        if not 0 < self.threshold < 1 or self.nms_radius_px < 0 or self.tolerance_px <= 0:
            raise ValueError("Need 0 < threshold < 1, nms_radius_px >= 0 and tolerance_px > 0. "
                             f"Received: {self}.")


def animal_length(project: Project) -> float:
    """Mean snout-to-tailbase distance (pixels) of a single-animal synthetic project's
    animals, over all frames of all its videos' ground truth."""
    lengths = []
    for video in project.labeled_videos():
        truth = load_ground_truth(project, video, include_occluded=True)  # (T, K, 3)
        snout, tail = project.bodyparts.index("snout"), project.bodyparts.index("tailbase")
        lengths.append(np.linalg.norm(truth[:, snout, :2] - truth[:, tail, :2], axis=-1))
    return float(np.mean(np.concatenate(lengths)))


def group_like(project: Project, config: GroupConfig, video: int = 0) -> GroupConfig:
    """``config`` with its animals drawn as the project's ``animal<video>`` looks, at the
    project's animals' mean size (the network saw no other). ``config.seed`` must be the
    project's (:class:`kit.experiments.synthetic.SyntheticConfig`'s) seed."""
    size = animal_length(project) / min(config.image_size)
    info = video_info(project.videos_dir / f"animal{video}.mp4")
    return replace(config, animal_size=float(np.clip(size, 0.05, 0.35)),
                   like_single=(video, info.width, info.height))


def group_frames(config: GroupConfig, num_frames: int,
                 folder: str | os.PathLike | None = None) -> tuple[np.ndarray, GroupTruth]:
    """``num_frames`` evenly spaced frames of the group video ``config`` describes.

    Returns:
        frames: (num_frames, H, W, 3) uint8 RGB, as read back from the video.
        truth: the group's truth at those frames (poses (num_frames, A, K, 2), visible).
    """
    if not 1 <= num_frames <= config.num_frames:
        raise ValueError(f"num_frames must be in [1, {config.num_frames}] (the video's "
                         f"length). Received: {num_frames}.")
    picks = np.linspace(0, config.num_frames - 1, num_frames).round().astype(int)
    with tempfile.TemporaryDirectory(prefix="kit-group-") as tmp:
        path = Path(folder or tmp) / f"{config.video_name}.mp4"
        truth = render_group_video(path, config)
        read = read_frames(path, picks.tolist())
    frames = np.stack([read[int(i)] for i in picks])
    return frames, replace(truth, poses=truth.poses[picks], visible=truth.visible[picks])


def predict_peaks(predictor, frames: np.ndarray, config: ReadoutConfig) -> list[list[np.ndarray]]:
    """Every score-map peak of each body part in each frame.

    Args:
        predictor (Predictor): a :class:`kit.net.predict.Predictor` (any network; a single-animal one
            for the paper's demonstration).
        frames: (N, H, W, 3) RGB, 0-255.

    Returns:
        N lists (frames) of K arrays (M, 3): x, y (image pixels), score; best first.
    """
    maps = predictor.predict_maps(frames)
    scale = predictor.global_scale
    peaks = find_peaks_batch(maps["part_pred"], maps["locref"], config.threshold,
                             config.nms_radius_px * scale, predictor.targets)
    for frame in peaks:
        for part in frame:
            part[:, :2] /= scale
    return peaks


def _match(peaks: np.ndarray, truth: np.ndarray, tolerance: float) -> np.ndarray:
    """Distances of the true points (A, 2) to the peaks (M, 3) matched one to one within
    ``tolerance``: (A,) float, NaN where no peak matched."""
    out = np.full(len(truth), np.nan)
    if not len(peaks) or not len(truth):
        return out
    dist = np.linalg.norm(truth[:, None, :] - peaks[None, :, :2], axis=-1)
    rows, cols = linear_sum_assignment(np.where(dist <= tolerance, dist, 1e6))
    keep = dist[rows, cols] <= tolerance
    out[rows[keep]] = dist[rows[keep], cols[keep]]
    return out


def score_peaks(peaks: list[list[np.ndarray]], truth: GroupTruth,
                config: ReadoutConfig) -> pd.DataFrame:
    """Per body part: how many visible true parts had a peak within ``tolerance_px``.

    Returns:
        One row per body part (index ``bodypart``): ``visible`` (true parts in view),
        ``found`` (fraction of them with a matched peak), ``error_px`` (mean distance of
        the matched peaks), ``extra_per_frame`` (peaks matched to no visible animal, per
        frame).
    """
    rows = []
    for k, part in enumerate(truth.bodyparts):
        found, errors, extra, visible = 0, [], 0, 0
        for f, frame in enumerate(peaks):
            seen = truth.visible[f, :, k]
            dist = _match(frame[k], truth.poses[f, seen, k], config.tolerance_px)
            visible += int(seen.sum())
            matched = np.isfinite(dist)
            found += int(matched.sum())
            errors.extend(dist[matched])
            extra += len(frame[k]) - int(matched.sum())
        rows.append({"bodypart": part, "visible": visible,
                     "found": found / visible if visible else np.nan,
                     "error_px": float(np.mean(errors)) if errors else np.nan,
                     "extra_per_frame": extra / max(len(peaks), 1)})
    return pd.DataFrame(rows).set_index("bodypart")
