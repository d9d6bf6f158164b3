"""Figures of the 3D room: calibration errors, reprojection errors, 3D trajectories, and a
video of the 3D skeleton beside every camera's view with the 3D points reprojected."""

from __future__ import annotations

import itertools
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import cv2
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from kit.cameras.calibration_file import Calibration
from kit.cameras.triangulate import reprojection_errors
from kit.project.drawing import bodypart_colors
from kit.project.video import iter_frames, write_video


def plot_calibration_errors(errors: pd.DataFrame) -> plt.Figure:
    """Mean reprojection error of every view in every camera (the ``errors`` table of
    :func:`kit.cameras.calibrate.calibrate_cameras`); views not used marked with x."""
    cameras = list(dict.fromkeys(errors.camera))
    fig, ax = plt.subplots(figsize=(max(5.0, 0.25 * len(errors) / len(cameras) + 3), 3))
    width = 0.8 / len(cameras)
    for i, camera in enumerate(cameras):
        rows = errors[errors.camera == camera].reset_index(drop=True)
        ax.bar(rows.index + i * width, rows.error.fillna(0), width, label=camera)
        unused = rows.index[~rows.used]
        ax.plot(unused + i * width, np.zeros(len(unused)), "kx")
    ax.set_xlabel("view (x: board not found or rejected)")
    ax.set_ylabel("mean reprojection error (px)")
    ax.legend(fontsize=8)
    return fig


def point_names(bodyparts: Sequence[str], individuals: Sequence[str] | None = None) -> list[str]:
    """Names of the points of (..., num_individuals, num_bodyparts, .) flattened to
    (..., num_individuals * num_bodyparts, .): the body parts, or ``individual:bodypart``."""
    if individuals is None:
        return list(bodyparts)
    return [f"{i}:{b}" for i in individuals for b in bodyparts]


def reprojection_table(calibration: Calibration, points_3d: np.ndarray, points_2d: np.ndarray,
                       bodyparts: Sequence[str], pcutoff: float,
                       individuals: Sequence[str] | None = None) -> pd.DataFrame:
    """Median reprojection error (pixels) per camera (rows) and point (columns: body parts,
    or ``individual:bodypart`` given ``individuals``) over the frames where the camera's
    likelihood reaches ``pcutoff``.

    Args:
        points_3d: (N, I, K, >=3) world points; points_2d: (C, N, I, K, 3) x, y, likelihood
            (or both without the individuals axis I).
    """
    errors = reprojection_errors(calibration.cameras, points_3d[..., :3], points_2d[..., :2])
    errors[~(points_2d[..., 2] >= pcutoff)] = np.nan
    errors = errors.reshape(len(errors), errors.shape[1], -1)  # (C, N, I * K)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a point never seen by a camera
        table = np.nanmedian(errors, axis=1) if errors.size else errors[:, 0]
    return pd.DataFrame(table, index=calibration.names,
                        columns=point_names(bodyparts, individuals))


def plot_reprojection_table(table: pd.DataFrame) -> plt.Figure:
    """The table of :func:`reprojection_table` as a heat map with the values written in."""
    fig, ax = plt.subplots(figsize=(1 + 0.45 * table.shape[1], 1 + 0.45 * table.shape[0]))
    image = ax.imshow(table.to_numpy(), cmap="viridis")
    for (i, j), value in np.ndenumerate(table.to_numpy()):
        ax.text(j, i, f"{value:.1f}", ha="center", va="center", fontsize=7, color="w")
    ax.set_xticks(range(table.shape[1]), table.columns, rotation=90)
    ax.set_yticks(range(table.shape[0]), table.index)
    fig.colorbar(image, ax=ax, label="median reprojection error (px)")
    return fig


def plot_trajectories_3d(points_3d: np.ndarray, bodyparts: Sequence[str],
                         individuals: Sequence[str] | None = None) -> plt.Figure:
    """x, y, z of every body part over frames, and their paths in 3D; one colour per body
    part, one line style per individual.

    Args:
        points_3d: (N, I, K, >=3) world points (or (N, K, >=3)).
    """
    points = points_3d if points_3d.ndim == 4 else points_3d[:, None]
    names = individuals or [None] * points.shape[1]
    colors = bodypart_colors(len(bodyparts))
    styles = ["-", "--", ":", "-."]
    fig = plt.figure(figsize=(11, 6))
    for axis, name in enumerate("xyz"):
        ax = fig.add_subplot(3, 2, 2 * axis + 1)
        for (i, _), k in itertools.product(enumerate(names), range(len(bodyparts))):
            ax.plot(points[:, i, k, axis], styles[i % 4], color=colors[k], lw=0.8)
        ax.set_ylabel(name)
    ax.set_xlabel("frame")
    ax3d = fig.add_subplot(1, 2, 2, projection="3d")
    for (i, individual), (k, part) in itertools.product(enumerate(names), enumerate(bodyparts)):
        label = part if individual is None else f"{individual}:{part}"
        ax3d.plot(*points[:, i, k, :3].T, styles[i % 4], color=colors[k], lw=0.8, label=label)
    ax3d.legend(fontsize=6, loc="upper left", ncol=max(1, len(names) // 2))
    return fig


def _skeleton_image(ax, fig, points: np.ndarray, edges, colors, limits) -> np.ndarray:
    """RGB render of one frame's 3D skeleton (points (K, 3)) in the reused 3D axes."""
    ax.cla()
    for i, j in edges:
        ax.plot(*points[[i, j], :3].T, color="0.4")
    ax.scatter(*points[:, :3].T, c=colors, s=12)
    for setter, (low, high) in zip((ax.set_xlim, ax.set_ylim, ax.set_zlim), limits):
        setter(low, high)
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


def _view_image(frame: np.ndarray, observed: np.ndarray, projected: np.ndarray, colors
                ) -> np.ndarray:
    """A camera frame with observed points (rings) and reprojected 3D points (crosses)."""
    frame = frame.copy()
    for k, colour in enumerate((np.asarray(colors)[:, :3] * 255).astype(int).tolist()):
        for point, marker in ((observed[k], None), (projected[k], cv2.MARKER_CROSS)):
            if np.isfinite(point).all():
                centre = tuple(int(round(v)) for v in point)
                if marker is None:
                    cv2.circle(frame, centre, 5, colour, 1, cv2.LINE_AA)
                else:
                    cv2.drawMarker(frame, centre, colour, marker, 8, 1)
    return frame


def _fit_height(image: np.ndarray, height: int) -> np.ndarray:
    scale = height / image.shape[0]
    return cv2.resize(image, (max(1, round(image.shape[1] * scale)), height),
                      interpolation=cv2.INTER_AREA)


# One figure of the 3D table, every view's 2D table, the calibration, the names and the videos:
# size: 8 parameters, a config object would only rename them
def make_3d_video(path: str | os.PathLike, calibration: Calibration, points_3d: np.ndarray,
                  points_2d: np.ndarray, bodyparts: Sequence[str],
                  skeleton: Sequence[Sequence[str]] = (), videos: Sequence | None = None,
                  num_frames: int = 100) -> Path:
    """An mp4 of the first ``num_frames`` frames: the 3D skeleton (left) beside every camera's
    view (right: the video frame if ``videos`` gives one per camera, else grey), with the
    observed 2D points as rings and the 3D points reprojected as crosses.

    Args:
        points_3d: (N, I, K, >=3) world; points_2d: (C, N, I, K, 3) x, y, likelihood (or
            both without the individuals axis I); each individual drawn with the same
            body part colours and skeleton.
    """
    num_individuals = points_3d.shape[1] if points_3d.ndim == 4 else 1
    points_3d = points_3d.reshape(len(points_3d), -1, points_3d.shape[-1])  # (N, I * K, .)
    points_2d = points_2d.reshape(*points_2d.shape[:2], -1, points_2d.shape[-1])
    num_frames = min(num_frames, len(points_3d))
    num_parts = len(bodyparts)
    colors = np.tile(bodypart_colors(num_parts), (num_individuals, 1))
    edges = [(i * num_parts + list(bodyparts).index(a), i * num_parts + list(bodyparts).index(b))
             for i in range(num_individuals) for a, b in skeleton]
    finite = points_3d[:num_frames, :, :3][np.isfinite(points_3d[:num_frames, :, :3]).all(-1)]
    if not len(finite):
        raise ValueError("No frame has a triangulated point to draw. Check the 3D table.")
    limits = list(zip(finite.min(axis=0), finite.max(axis=0)))
    readers = [iter(iter_frames(v, stop=num_frames)) for v in videos] if videos else None
    projected = np.stack([c.project(points_3d[:num_frames, :, :3]) for c in calibration.cameras])
    fig = plt.figure(figsize=(4, 4), dpi=80)
    ax = fig.add_subplot(projection="3d")

    def frames():
        for t in range(num_frames):
            views = []
            for c, camera in enumerate(calibration.cameras):
                w, h = camera.size
                frame = next(readers[c])[1] if readers else np.full((h, w, 3), 60, np.uint8)
                views.append(_fit_height(_view_image(frame, points_2d[c, t, :, :2],
                                                     projected[c, t], colors), 320))
            skeleton_image = _fit_height(_skeleton_image(ax, fig, points_3d[t], edges, colors,
                                                         limits), 320)
            yield np.hstack([skeleton_image] + views)

    try:
        return write_video(path, frames(), fps=15)
    finally:
        plt.close(fig)
