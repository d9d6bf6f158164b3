"""Figures: labels against predictions, training losses. Each returns the figure and saves it."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import matplotlib.ticker as ticker
import numpy as np
import pandas as pd

from kit.project.analysis_file import load_poses, poses_from_table
from kit.project.drawing import (
    PoseStyle,
    bodypart_colors,
    check_pcutoff,
    confident_mask,
    draw_pose,
    save_figure,
)
from kit.project.video import load_image


def plot_labels_vs_predictions(  # size: 7 parameters, the data then three drawing keywords
    images: Sequence[np.ndarray],
    labels: np.ndarray,
    predictions: np.ndarray,
    bodyparts: Sequence[str],
    pcutoff: float,
    titles: Sequence[str] = (),
    colormap: str = "rainbow",
) -> plt.Figure:
    """Frames in pairs of panels: human labels (left), network predictions (right).

    Args:
        images: N RGB frames.
        labels: (N, I, K, 2) x, y (image pixels), NaN = missing; I individuals, K body parts.
        predictions: (N, I, K, 3) x, y, likelihood; those below ``pcutoff`` drawn as crosses.
    """
    n = len(images)
    cols = 2 * min(n, 3)
    rows = max(1, int(np.ceil(n / 3)))
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 2.6 * rows), squeeze=False)
    colors = bodypart_colors(len(bodyparts), colormap)
    for ax in axes.flat:
        ax.axis("off")
    for i, image in enumerate(images):
        left, right = axes[i // 3, 2 * (i % 3)], axes[i // 3, 2 * (i % 3) + 1]
        for ax in (left, right):
            ax.imshow(image)
        for j, k in np.ndindex(*labels.shape[1:3]):  # individual, body part
            left.scatter(*labels[i, j, k], s=30, color=colors[k], marker="+", linewidths=1.5)
            x, y, p = predictions[i, j, k]
            marker = "o" if p >= pcutoff else "x"
            right.scatter(x, y, s=20, color=colors[k], marker=marker, edgecolors="white",
                          linewidths=0.5 if marker == "o" else 1.5)
        name = titles[i] if i < len(titles) else f"frame {i}"
        err = np.nanmean(np.linalg.norm(predictions[i, ..., :2] - labels[i], axis=-1))
        left.set_title(f"{name}\nlabels", fontsize=8)
        right.set_title(f"prediction, error {err:.1f} px", fontsize=8)
    handles = [plt.Line2D([], [], marker="o", color=colors[k], ls="", label=b)
               for k, b in enumerate(bodyparts)]
    fig.legend(handles=handles, loc="lower center", ncol=min(len(bodyparts), 6), fontsize=8,
               frameon=False, bbox_to_anchor=(0.5, -0.02))
    fig.suptitle(f"Test frames: labels (+) and predictions (o; x below pcutoff {pcutoff})",
                 fontsize=10)
    fig.tight_layout()
    return fig


def plain_log_scale(ax: plt.Axes) -> None:
    """A log y axis labelled in plain numbers (6, 7, 8 px), not matplotlib's 6x10^0."""
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(ticker.LogFormatter(labelOnlyBase=False))
    ax.yaxis.set_minor_formatter(ticker.LogFormatter(labelOnlyBase=False))


def plot_train_log(log: pd.DataFrame) -> plt.Figure:
    """Training losses against step (``log`` from :func:`kit.net.train.read_train_log`)."""
    fig, ax = plt.subplots(figsize=(5, 3))
    for column, label in (("loss", "total"), ("part_pred_loss", "score maps"),
                          ("locref_loss", "location refinement")):
        if column in log:
            ax.plot(log["step"], log[column], marker=".", label=label)
    ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel("loss")
    ax.legend(frameon=False)
    fig.tight_layout()
    return fig


def evaluation_figure(project, evaluation, num_frames: int = 6, split: str = "test") -> Path:
    """Draw up to ``num_frames`` frames of a split (labels vs predictions); return the PNG path.

    Args:
        project (Project): the :class:`kit.project.Project`.
        evaluation (Evaluation): a :class:`kit.results.evaluate.Evaluation`.
    """
    names = list(evaluation.test_images) if split == "test" else [
        i for i in evaluation.predictions.index if i not in set(evaluation.test_images)]
    names = names[:num_frames]
    if not names:
        raise ValueError(f"The {split} split has no frames to draw.")
    bodyparts = evaluation.bodyparts
    labels = poses_from_table(evaluation.labels.loc[names], bodyparts)[0]
    preds = poses_from_table(evaluation.predictions.loc[names], bodyparts)[0]
    fig = plot_labels_vs_predictions(
        [load_image(project.image_path(n)) for n in names], labels, preds, bodyparts,
        evaluation.pcutoff, titles=[n.split("/", 1)[-1] for n in names],
        colormap=project.config.get("colormap", "rainbow"),
    )
    return save_figure(fig, evaluation.folder / f"{split}_frames.png")


def plot_generalization(table: pd.DataFrame) -> plt.Figure:
    """Error against distance to the nearest training frame: mean, median and 90th
    percentile per row of ``table`` (:func:`kit.results.generalization.generalization_table`;
    with its ``mAP`` column, a second panel of OKS mAP)."""
    panels = 2 if "mAP" in table else 1
    fig, axes = plt.subplots(1, panels, figsize=(5.5 * panels, 3.2), squeeze=False)
    ax, x = axes[0, 0], np.arange(len(table))
    for column, label, marker in (("p90_px", "90th percentile", "^"), ("mean_px", "mean", "o"),
                                  ("median_px", "median", "s")):
        ax.plot(x, table[column], marker=marker, label=label)
    ax.set_ylabel("test error (px)")
    ax.legend(frameon=False, fontsize=8)
    if panels == 2:
        axes[0, 1].plot(x, table["mAP"], marker="o")
        axes[0, 1].set_ylabel("OKS mAP (%)")
    for ax in axes[0]:
        ax.set_xticks(x, [f"{row}\n({n} fr.)" for row, n in zip(table.index, table.num_frames)],
                      fontsize=7)
        ax.set_xlabel("frames to the nearest training frame of the same video")
    fig.tight_layout()
    return fig


# --- video analyses: trajectories, likelihood, jumps, labeled frames ------------------


def _panel_grid(num_panels: int, size: float = 3.0):
    cols = min(num_panels, 4)
    rows = -(-num_panels // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols, size * rows), squeeze=False)
    for ax in axes.flat[num_panels:]:
        ax.axis("off")
    return fig, list(axes.flat)


def plot_trajectories(points: np.ndarray, bodyparts: Sequence[str], pcutoff: float,
                      colormap: str = "viridis") -> plt.Figure:
    """One panel per body part: its positions in the frame (every individual's), coloured
    by time.

    Args:
        points: (N, I, K, 3) x, y (image pixels), likelihood of N frames, I individuals, K
            body parts; points below ``pcutoff`` left out.
    """
    fig, axes = _panel_grid(len(bodyparts))
    frames = np.broadcast_to(np.arange(len(points))[:, None], points.shape[:2])  # (N, I)
    confident = confident_mask(points, pcutoff)
    shown = points[confident][:, :2]  # one scale for every panel
    low, high = (shown.min(0), shown.max(0)) if len(shown) else (np.zeros(2), np.ones(2))
    pad = 0.05 * max(high - low) + 1
    for k, (ax, name) in enumerate(zip(axes, bodyparts, strict=False)):
        keep = confident[:, :, k]
        art = ax.scatter(points[:, :, k, 0][keep], points[:, :, k, 1][keep], c=frames[keep],
                         s=4, cmap=colormap, vmin=0, vmax=max(len(points) - 1, 1))
        ax.set_title(f"{name}\n{keep.sum()} of {keep.size} "
                     f"{'frames' if keep.shape[1] == 1 else 'points'}", fontsize=9)
        ax.set_xlim(low[0] - pad, high[0] + pad)
        ax.set_ylim(high[1] + pad, low[1] - pad)  # image coordinates: y down
        ax.set_aspect("equal")
    fig.colorbar(art, ax=axes[:len(bodyparts)], label="frame", shrink=0.8)
    fig.suptitle(f"Trajectories (likelihood >= {pcutoff})", fontsize=10)
    return fig


def plot_likelihood(points: np.ndarray, bodyparts: Sequence[str], pcutoff: float,
                    colormap: str = "rainbow") -> plt.Figure:
    """Likelihood of each individual's body parts against frame (one colour per body part),
    with the p-cutoff; points (N, I, K, 3)."""
    fig, ax = plt.subplots(figsize=(8, 3))
    colors = bodypart_colors(len(bodyparts), colormap)
    for i, k in np.ndindex(*points.shape[1:3]):
        ax.plot(points[:, i, k, 2], color=colors[k], lw=0.8,
                label=bodyparts[k] if i == 0 else None)
    ax.axhline(pcutoff, color="gray", ls="--", lw=1, label=f"pcutoff {pcutoff}")
    ax.set_xlabel("frame")
    ax.set_ylabel("likelihood")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1, 1))
    fig.tight_layout()
    return fig


def frame_jumps(points: np.ndarray, pcutoff: float) -> np.ndarray:
    """(N - 1, I, K) distance in pixels each individual's body parts moved between
    consecutive frames; NaN unless both frames reach ``pcutoff``. points: (N, I, K, 3)."""
    confident = confident_mask(points, pcutoff)
    jumps = np.linalg.norm(np.diff(points[..., :2], axis=0), axis=-1)
    return np.where(confident[1:] & confident[:-1], jumps, np.nan)


def frame_roughness(points: np.ndarray, pcutoff: float) -> np.ndarray:
    """(N - 2, I, K) distance in pixels of each body part from the midpoint of its places in
    the frames before and after: what is left of a move once steady motion is taken out
    (noise; 0 for a part moving at a steady speed, however fast); NaN unless all three
    frames reach ``pcutoff``. points: (N, I, K, 3)."""
    confident = confident_mask(points, pcutoff)
    middle = (points[:-2, ..., :2] + points[2:, ..., :2]) / 2
    rough = np.linalg.norm(points[1:-1, ..., :2] - middle, axis=-1)
    return np.where(confident[:-2] & confident[1:-1] & confident[2:], rough, np.nan)


def plot_jumps(points: np.ndarray, bodyparts: Sequence[str], pcutoff: float,
               colormap: str = "rainbow") -> plt.Figure:
    """Histogram per body part of the frame-to-frame jumps (see :func:`frame_jumps`); a long
    tail points at frames where the network jumped to something else."""
    fig, axes = _panel_grid(len(bodyparts), size=2.6)
    jumps = frame_jumps(points, pcutoff)
    colors = bodypart_colors(len(bodyparts), colormap)
    for k, (ax, name) in enumerate(zip(axes, bodyparts, strict=False)):
        values = jumps[..., k][np.isfinite(jumps[..., k])]
        if not len(values):
            ax.set_title(f"{name}: no two consecutive frames above pcutoff", fontsize=8)
            continue
        ax.hist(values, bins=40, color=colors[k], log=True)
        ax.set_title(f"{name}: median {np.median(values):.1f} px, max {values.max():.1f}",
                     fontsize=8)
        ax.set_xlabel("jump between frames (px)", fontsize=8)
    fig.tight_layout()
    return fig


def _load_analysis(h5: str | os.PathLike) -> tuple[Path, np.ndarray, list[str]]:
    """(path, points (N, I, K, 3), body part names) of an analysis file, either layout."""
    points, bodyparts, _ = load_poses(h5)
    return Path(h5), points, bodyparts


def save_analysis_figures(h5: str | os.PathLike, pcutoff: float,
                          colormap: str = "rainbow") -> list[Path]:
    """Trajectories, likelihood and jumps of one analysis file (see :mod:`kit.results.analyze`),
    saved as ``<name>_trajectories.png``, ``_likelihood.png``, ``_jumps.png`` beside it."""
    check_pcutoff(pcutoff)
    h5, points, bodyparts = _load_analysis(h5)
    figures = {"trajectories": plot_trajectories(points, bodyparts, pcutoff),
               "likelihood": plot_likelihood(points, bodyparts, pcutoff, colormap),
               "jumps": plot_jumps(points, bodyparts, pcutoff, colormap)}
    return [save_figure(fig, h5.with_name(f"{h5.stem}_{name}.png")) for name, fig in figures.items()]


def create_labeled_video(video: str | os.PathLike, h5: str | os.PathLike,
                         style: PoseStyle) -> Path:
    """Draw the analysis ``h5`` on every frame of ``video``; write ``<h5 name>_labeled.mp4``
    beside it (frames are streamed: memory stays flat)."""
    from kit.project.video import FrameReader, video_info, write_video

    h5, points, bodyparts = _load_analysis(h5)
    fps = video_info(video).fps
    with FrameReader(video, stop=len(points)) as reader:
        frames = (draw_pose(frame, points, t, style, bodyparts) for t, frame in reader)
        return write_video(h5.with_name(f"{h5.stem}_labeled.mp4"), frames, fps)


def save_stills(video: str | os.PathLike, h5: str | os.PathLike, style: PoseStyle,
                num_stills: int = 3) -> list[Path]:
    """``num_stills`` annotated frames spread over the video, ``<h5 name>_frame<index>.png``."""
    from kit.project.video import read_frames, save_image

    h5, points, bodyparts = _load_analysis(h5)
    indices = np.unique(np.linspace(0, len(points) - 1, max(1, num_stills)).round().astype(int))
    return [save_image(h5.with_name(f"{h5.stem}_frame{t:05d}.png"),
                       draw_pose(frame, points, t, style, bodyparts))
            for t, frame in read_frames(video, indices).items()]


def plot_peaks(frames: np.ndarray, peaks: Sequence[Sequence[np.ndarray]],
               bodyparts: Sequence[str], truth: np.ndarray | None = None) -> plt.Figure:
    """Frames with every score-map peak (the paper's several-animal readout).

    Args:
        frames: (N, H, W, 3) RGB images.
        peaks: N lists of K arrays (M, 3): x, y (image pixels), score.
        bodyparts: the K body-part names (legend).
        truth: optional (N, A, K, 2) true positions, drawn as small white crosses.
    """
    fig, axes = _panel_grid(len(frames), size=3.5)
    colors = bodypart_colors(len(bodyparts))
    for f, ax in enumerate(axes[:len(frames)]):
        ax.imshow(frames[f])
        for k, name in enumerate(bodyparts):
            found = np.asarray(peaks[f][k]).reshape(-1, 3)
            ax.scatter(found[:, 0], found[:, 1], s=18, color=colors[k], edgecolors="black",
                       linewidths=0.5, label=name if f == 0 else None)
            if truth is not None:
                ax.scatter(truth[f, :, k, 0], truth[f, :, k, 1], s=10, marker="x", color="white",
                           linewidths=0.8)
        ax.set_title(f"{sum(len(p) for p in peaks[f])} peaks", fontsize=9)
        ax.axis("off")
    fig.legend(loc="lower center", ncol=len(bodyparts), fontsize=8)
    fig.suptitle("Every peak of each body part's score map (x: true positions)", fontsize=10)
    return fig


# --- pretraining on the project's frames (kit.net.pretrain) -------------------------------


def plot_reconstructions(originals: np.ndarray, masked: np.ndarray, filled: np.ndarray,
                         log: pd.DataFrame) -> plt.Figure:
    """Masked reconstruction, column per crop: the crop, what the backbone saw (masked
    patches grey), the masked patches painted by it; and the loss against step.

    Args:
        originals: (N, S, S, 3) uint8 crops, from :func:`kit.net.pretrain.reconstruct`.
        masked: (N, S, S, 3) uint8, the crops as the backbone saw them.
        filled: (N, S, S, 3) uint8, the masked patches painted by the backbone.
        log: the run's log (``step``, ``loss``).
    """
    num = len(originals)
    fig, axes = plt.subplots(3, num + 1, figsize=(2.2 * (num + 1), 6.6), squeeze=False)
    for row, (images, title) in enumerate(((originals, "frame"), (masked, "masked"),
                                           (filled, "reconstructed"))):
        axes[row, 0].text(0.5, 0.5, title, ha="center", va="center", fontsize=12)
        axes[row, 0].axis("off")
        for col, image in enumerate(images, start=1):
            axes[row, col].imshow(image)
            axes[row, col].axis("off")
    fig.tight_layout()
    inset = fig.add_axes([0.02, 0.05, 0.12, 0.18])
    inset.plot(log["step"], log["loss"], marker=".")
    inset.set_xlabel("step", fontsize=8)
    inset.set_ylabel("masked loss", fontsize=8)
    inset.tick_params(labelsize=7)
    return fig


def plot_beyond_labels(table: pd.DataFrame) -> plt.Figure:
    """:func:`kit.experiments.beyond_labels.compare_methods`'s table: the blocks split's
    median test error against labeled frames and against training time (``train_s``; tables
    of before that column: ``wall_s``), one line per method (supervised on the random split
    dashed), and each method's jitter on the video, share of its points there below
    pcutoff and roughness (tables of before those columns: the jitter alone)."""
    video = ["jitter_px"] + [c for c in ("below_pcutoff", "roughness_px") if c in table]
    fig, (by_size, by_time, *bars) = plt.subplots(1, 2 + len(video),
                                                  figsize=(5 * (2 + len(video)), 4))
    blocks = table[table.split == "blocks"]
    for method, rows in blocks.groupby("method", sort=False):
        line, = by_size.plot(rows.train_size, rows.median_px, marker="o", label=method)
        seconds = rows.train_s if "train_s" in rows else rows.wall_s
        by_time.plot(seconds, rows.median_px, marker="o", color=line.get_color())
    random = table[table.split == "random"]
    if len(random):
        by_size.plot(random.train_size, random.median_px, "k--", marker=".",
                     label="supervised, random split")
    for ax, xlabel in ((by_size, "labeled training frames"), (by_time, "training time (s)")):
        ax.set_xlabel(xlabel)
        ax.set_ylabel("median test error, blocks split (px)")
        plain_log_scale(ax)  # a failed method is 10-100 times off the others
    by_size.legend(frameon=False, fontsize=8)
    labels = {"jitter_px": "median frame-to-frame move (px)",
              "below_pcutoff": "share of the video's points below pcutoff",
              "roughness_px": "median roughness (px, steady motion taken out)"}
    for ax, column in zip(bars, video, strict=True):
        values = blocks.groupby("method", sort=False)[column].mean()
        ax.bar(range(len(values)), values.to_numpy())
        ax.set_xticks(range(len(values)), values.index, rotation=30, ha="right")
        ax.set_ylabel(labels[column])
    fig.tight_layout()
    return fig
