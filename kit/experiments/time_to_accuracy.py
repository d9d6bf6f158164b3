"""Test error against wall-clock time while a network trains (time to accuracy).

A run of :func:`kit.net.train.train` keeps only its newest checkpoint; a
:class:`CheckpointKeeper`, polled while it trains (from another process or thread), keeps
each one as it appears (a hard link: no copy, no time taken from the training) with the
time it was written. Afterwards each kept checkpoint is evaluated on the test frames
(:func:`predict_checkpoint`, :func:`true_positions`, :func:`mean_error_px`), giving rows of
(wall-clock seconds, test error px), and :func:`time_to_reach` reads off when the error
first fell to a target. ``benchmarks/time_to_accuracy.py`` runs kit's backbones and
DeepLabCut 3 this way side by side.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from kit.experiments.synthetic import load_ground_truth
from kit.net.backbones import get_backbone
from kit.net.heads import HEADS
from kit.net.model import recalibrate_batchnorm
from kit.net.model_folder import ModelFolder, PoseConfig
from kit.net.predict import Predictor
from kit.net.train import TrainConfig
from kit.net.unlabeled_losses import pose_outputs_only
from kit.project import Project
from kit.project.labels import labels_to_array, load_labels
from kit.project.video import load_image

_CHECKPOINT = re.compile(r"ckpt-(\d+)\.keras")
_IMAGE = re.compile(r"labeled-data/([^/]+)/img(\d+)\.png")


class CheckpointKeeper:
    """Keeps every checkpoint a training run writes to ``checkpoints_dir`` (which deletes
    all but the newest) as ``keep_dir/ckpt-<step>.keras``, a hard link, with the time
    (``os.stat().st_mtime``, seconds since the epoch) the checkpoint was written.

    Call :meth:`poll` more often than checkpoints are written (each poll is a directory
    listing). ``kept`` maps step -> (path, mtime).
    """

    def __init__(self, checkpoints_dir: str | os.PathLike, keep_dir: str | os.PathLike):
        self.checkpoints_dir, self.keep_dir = Path(checkpoints_dir), Path(keep_dir)
        self.keep_dir.mkdir(parents=True, exist_ok=True)
        self.kept: dict[int, tuple[Path, float]] = {}

    def poll(self) -> None:
        """Copy checkpoints that appeared since the last call into the keep folder."""
        if not self.checkpoints_dir.is_dir():
            return
        for path in self.checkpoints_dir.iterdir():
            found = _CHECKPOINT.fullmatch(path.name)
            if not found or int(found[1]) in self.kept:
                continue
            target = self.keep_dir / path.name
            try:
                mtime = path.stat().st_mtime
                if not target.exists():
                    os.link(path, target)
            except FileNotFoundError:  # deleted by the run between listing and linking
                continue
            self.kept[int(found[1])] = (target, mtime)


def predict_checkpoint(checkpoint: str | os.PathLike, config: TrainConfig,  # size: 7, a run and its inputs
                       bodyparts: Sequence[str], images: Sequence[np.ndarray],
                       step: int = 0, calibration: Sequence[np.ndarray] = ()) -> np.ndarray:
    """Predictions of a training checkpoint of ``config``'s run, as its final model would
    make them (:class:`kit.net.predict.Predictor`).

    Args:
        images: (H, W, 3) RGB 0-255 each.
        calibration: the run's BatchNorm recalibration batches
            (:func:`kit.net.train.calibration_batches`), as :func:`kit.net.train.train`
            applies them to its final model; empty: the checkpoint's moving averages, which
            lag far behind the weights of a run from scratch (errors rise as it trains).

    Returns:
        (N, 1, K, 3) float64: x, y (image pixels), likelihood per image and body part.
    """
    with tempfile.TemporaryDirectory(prefix="kit-ckpt-") as tmp:
        folder = ModelFolder(tmp)
        if len(calibration) or config.unlabeled_pairs:  # those losses' outputs: not saved
            model = keras.saving.load_model(checkpoint)
            if len(calibration):
                recalibrate_batchnorm(model, calibration)
            pose_outputs_only(model).save(folder.model_file)
        else:
            os.symlink(Path(checkpoint).resolve(), folder.model_file)
        folder.save_pose_config(PoseConfig(
            bodyparts=tuple(bodyparts), net_type=config.net_type,
            backbone_stride=get_backbone(config.net_type).output_stride,
            stride=config.targets.stride, heads=tuple(HEADS),
            locref_stdev=config.targets.locref_stdev,
            global_scale=config.augment.global_scale, train_steps=step))
        return Predictor(folder.path).predict_images(list(images))


def true_positions(project: Project, images: Sequence[str]) -> np.ndarray:
    """What test predictions are compared with: a synthetic project's true positions
    (noise-free, NaN where occluded) where it has them, else the labels.

    Args:
        images: image names relative to the project (``labeled-data/<video>/img<N>.png``).

    Returns:
        (N, K, 2) float64 x, y in image pixels, body parts in config order.
    """
    labels = load_labels(project)
    truth = labels_to_array(labels.loc[list(images)], project.bodyparts).astype(np.float64)
    for i, name in enumerate(images):
        found = _IMAGE.fullmatch(name)
        if found and project.ground_truth_file(found[1]).is_file():
            truth[i] = load_ground_truth(project, found[1])[int(found[2])]
    return truth


def mean_error_px(points: np.ndarray, truth: np.ndarray) -> float:
    """Mean Euclidean distance (px) over the (image, body part) pairs the truth has
    (DeepLabCut's "RMSE"). ``points``: (N, K, >=2) or (N, 1, K, >=2); ``truth`` (N, K, 2)."""
    points = np.asarray(points, dtype=np.float64)
    if points.ndim == 4:  # (N, 1, K, 3): the individuals axis of a single-animal prediction
        points = points[:, 0]
    if points.shape[:2] != truth.shape[:2]:
        raise ValueError(f"points {points.shape} and truth {truth.shape} differ in images or "
                         "body parts. Pass predictions of the same images, parts in config order.")
    return float(np.nanmean(np.linalg.norm(points[..., :2] - truth, axis=-1)))


def load_test_images(project: Project, images: Sequence[str]) -> list[np.ndarray]:
    """The project's ``images`` (paths relative to the project), as RGB arrays."""
    return [load_image(project.image_path(name)) for name in images]


X_LABELS = {"wall_s": "wall-clock time since the training call (s)",
            "cpu_s": "CPU time of the training process since the training call (s)"}


def time_to_reach(table: pd.DataFrame, target_px: float, x: str = "wall_s") -> float:
    """Seconds (column ``x``: ``wall_s`` or ``cpu_s``) at the first row in time order whose
    ``error_px`` is at most ``target_px``; NaN if none is."""
    rows = table.sort_values(x)
    reached = rows[rows["error_px"] <= target_px]
    return float(reached[x].iloc[0]) if len(reached) else math.nan


def plot_error_against_time(table: pd.DataFrame, target_px: float | None = None,
                            title: str = "", x: str = "wall_s"):
    """Test error (px, log scale) against seconds (column ``x``, a key of ``X_LABELS``), one
    line per ``config`` (columns ``config``, ``x``, ``error_px``), the target dashed."""
    if x not in X_LABELS:
        raise ValueError(f"x must be one of {sorted(X_LABELS)}. Received: {x!r}.")
    import matplotlib.pyplot as plt

    from kit.plots import plain_log_scale

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for config, rows in table.groupby("config", sort=False):
        rows = rows.sort_values(x)
        ax.plot(rows[x], rows["error_px"], marker="o", ms=3, lw=1.2, label=config)
    if target_px:
        ax.axhline(target_px, color="gray", ls="--", lw=1)
        ax.text(0.99, target_px, "2x label noise", transform=ax.get_yaxis_transform(),
                ha="right", va="bottom", fontsize=8, color="gray")
    plain_log_scale(ax)
    ax.set_xlabel(X_LABELS[x])
    ax.set_ylabel("test error (px, mean distance)")
    if title:
        ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
