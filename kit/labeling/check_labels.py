"""Check labels: draw every labeled frame with its points, so mistakes stand out.

Like DeepLabCut's ``check_labels``: one PNG per labeled frame, at the frame's
own resolution, in ``labeled-data/<video>_labeled/`` (same file names as the
frames), with body parts in their colours (in a multi-animal project: every
individual, in its colour), named, and joined by the config's skeleton; plus a
grid of them to look at in the notebook.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from kit.project import Project
from kit.project.drawing import bodypart_colors, save_figure
from kit.project.labels import labels_to_array, load_labels
from kit.project.video import load_image

DPI = 100


def draw_labeled_frame(
    image: np.ndarray,
    points: np.ndarray,
    bodyparts: Sequence[str],
    skeleton: Sequence[tuple[str, str]] = (),
    colormap: str = "rainbow",
    dotsize: float = 8,
) -> Figure:
    """One frame with its labels, one figure pixel per image pixel.

    Args:
        image: RGB uint8 (height, width, 3).
        points: (num_bodyparts, 2), x then y, image pixels, NaN = not visible (not drawn),
            coloured by body part; or (num_individuals, num_bodyparts, 2) for several
            animals, coloured by individual (each joined by the skeleton on its own).
    """
    h, w = image.shape[:2]
    fig = Figure(figsize=(w / DPI, h / DPI), dpi=DPI)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    ax.imshow(image, interpolation="nearest")
    points = np.asarray(points, dtype=np.float64)
    several = points.ndim == 3
    rows = points if several else points[None]
    by_individual = bodypart_colors(len(rows), colormap)
    by_part = bodypart_colors(len(bodyparts), colormap)
    index = {b: k for k, b in enumerate(bodyparts)}
    for row in rows:
        for a, b in skeleton:
            xy = row[[index[a], index[b]]] if a in index and b in index else np.full((2, 2), np.nan)
            if np.isfinite(xy).all():  # both ends placed (``single`` has no skeleton parts)
                ax.plot(xy[:, 0], xy[:, 1], color="white", lw=1, alpha=0.7)
    for i, row in enumerate(rows):
        for k, (x, y) in enumerate(row):
            if np.isfinite(x):
                color = by_individual[i] if several else by_part[k]
                ax.plot(x, y, "o", color=color, ms=dotsize, mec="black", mew=0.5)
                ax.text(x + dotsize / 2, y - dotsize / 2, bodyparts[k], color=color, fontsize=7)
    return fig


def draw_labeled_frames(project: Project, videos: Sequence[str] | None = None) -> list[Path]:
    """Draw each labeled frame (one with at least one placed point) into ``<video>_labeled/``,
    every individual in a multi-animal project.

    Returns the PNG paths written, in label order. Drawings of frames no longer
    labeled are not removed.
    """
    videos = [v for v in (videos or project.labeled_videos()) if not v.endswith("_labeled")]
    labels = load_labels(project, videos)
    points = labels_to_array(labels, project.bodyparts, project.layout)
    written = []
    for name, frame_points in zip(labels.index, points):
        if not np.isfinite(frame_points).any():
            continue
        fig = draw_labeled_frame(
            load_image(project.image_path(name)),
            frame_points,
            project.bodyparts,
            project.skeleton,
            project.config.get("colormap", "rainbow"),
            project.config.get("dotsize", 8),
        )
        _, video, image = name.split("/")[-3:]
        written.append(save_figure(fig, project.check_labels_dir(video) / image, dpi=DPI))
    return written


def labeled_frames_grid(paths: Sequence[Path], max_frames: int = 12, columns: int = 4):
    """A pyplot figure showing up to ``max_frames`` drawings from :func:`draw_labeled_frames`."""
    paths = list(paths)[:max_frames]
    rows = max(1, -(-len(paths) // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(3 * columns, 3 * rows), squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for ax, path in zip(axes.flat, paths):
        ax.imshow(plt.imread(path))
        ax.set_title(f"{path.parent.name}/{path.name}", fontsize=8)
    if not paths:
        axes[0, 0].text(0.5, 0.5, "no labeled frames yet", ha="center", va="center")
    fig.tight_layout()
    return fig
