"""Figures: labels against predictions, training losses. Each returns the figure and saves it."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from kit.project import atomic_path


def bodypart_colors(num_bodyparts: int, colormap: str = "rainbow") -> np.ndarray:
    """(K, 4) RGBA colours, one per body part, spread over ``colormap``."""
    cmap = matplotlib.colormaps[colormap]
    return cmap(np.linspace(0, 1, max(num_bodyparts, 2)))[:num_bodyparts]


def save_figure(fig: plt.Figure, path: str | os.PathLike, dpi: int = 100) -> Path:
    """Save ``fig`` atomically (the format follows the file's suffix)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=path.suffix.lstrip("."))
    return path


def plot_labels_vs_predictions(
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
        labels: (N, K, 2) x, y, NaN = missing.
        predictions: (N, K, 3) x, y, likelihood; those below ``pcutoff`` drawn as crosses.
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
        for k in range(len(bodyparts)):
            left.scatter(*labels[i, k], s=30, color=colors[k], marker="+", linewidths=1.5)
            x, y, p = predictions[i, k]
            marker = "o" if p >= pcutoff else "x"
            right.scatter(x, y, s=20, color=colors[k], marker=marker, edgecolors="white",
                          linewidths=0.5 if marker == "o" else 1.5)
        name = titles[i] if i < len(titles) else f"frame {i}"
        err = np.nanmean(np.linalg.norm(predictions[i, :, :2] - labels[i], axis=-1))
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


def plot_train_log(log: pd.DataFrame) -> plt.Figure:
    """Training losses against step (``log`` from :func:`kit.train.read_train_log`)."""
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
        project: the :class:`kit.project.Project`.
        evaluation: a :class:`kit.evaluate.Evaluation`.
    """
    from kit.data import load_image  # local: plots is imported by modules data does not need

    names = list(evaluation.test_images) if split == "test" else [
        i for i in evaluation.predictions.index if i not in set(evaluation.test_images)]
    names = names[:num_frames]
    if not names:
        raise ValueError(f"The {split} split has no frames to draw.")
    bodyparts = project.bodyparts
    labels = evaluation.labels.loc[names].to_numpy().reshape(len(names), len(bodyparts), 2)
    preds = evaluation.predictions.loc[names].to_numpy().reshape(len(names), len(bodyparts), 3)
    fig = plot_labels_vs_predictions(
        [load_image(project.image_path(n)) for n in names], labels, preds, bodyparts,
        evaluation.pcutoff, titles=[n.split("/", 1)[-1] for n in names],
        colormap=project.config.get("colormap", "rainbow"),
    )
    return save_figure(fig, evaluation.folder / f"{split}_frames.png")
