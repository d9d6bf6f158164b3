"""Frames the network probably gets wrong, and frames worth labeling next.

Outliers (DeepLabCut's ``extract_outlier_frames``): from an analysed video, a frame
is a candidate when, for any body part,

- ``likelihood``: the likelihood is below ``pcutoff``;
- ``jump``: the point moved more than ``jump_px`` pixels since the previous frame
  (both confident: a low likelihood is the first criterion's business);
- ``filter``: the point lies more than ``filter_px`` pixels from the median-filtered
  trajectory (:func:`kit.results.filters.filter_points`);
- ``swap`` (several individuals): an identity switch: pairing this frame's individuals
  with the previous frame's by least movement (Hungarian on the mean distance over their
  confident body parts) beats keeping each identity by more than ``swap_px`` pixels in
  total; the frame flagged is the first after the switch.

Jumps, distances and likelihoods are measured per individual along its own track, so a
multi-animal analysis (``..._el.h5``, four column levels) is handled as a single-animal one.

Among the candidates a diverse subset is chosen by k-means on their downsampled
frames (:func:`kit.project.frame_picking.pick_frames`, ``method="kmeans"``). The chosen frames are
saved as ``labeled-data/<video>/img<N>.png`` (existing files are never touched) and
the network's predictions for them go to ``machinelabels-iter<i>.h5`` beside them (in a
multi-animal project in its layout: the config's individuals and body parts, 4 levels):
machine-made labels that never train a network until a person confirms them
(see :mod:`kit.results.refine`).

Suggestions (beyond DeepLabCut): unlabeled frames ranked by the network's
uncertainty (1 - the lowest likelihood of the frame) and by how unlike the
training frames they look (distance of a 30-px-wide grayscale thumbnail to the
nearest training frame's), shown as a strip of thumbnails to pick from.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from kit.project import Project
from kit.project.analysis_file import (
    POSE_COORDS,
    load_poses,
    poses_from_table,
    predictions_frame,
    read_analysis,
    read_machine_labels,
    save_machine_labels,
    select_individuals,
)
from kit.project.config import DEFAULT_PCUTOFF, check_pcutoff
from kit.project.frame_picking import (
    KMEANS_MAX_READ,
    KMEANS_WIDTH,
    extracted_frame_indices,
    frame_image_name,
    pick_frames,
)
from kit.project.multianimal import SINGLE
from kit.project.video import load_image, read_frames, save_image, video_info
from kit.results.evaluate_ma import identity_swaps
from kit.results.filters import FilterConfig, filter_points

CRITERIA = {
    "likelihood": "a body part's likelihood is below pcutoff",
    "jump": "a confident body part moved more than jump_px since the previous frame",
    "filter": "a confident body part is more than filter_px from its median-filtered trajectory",
    "swap": "re-pairing the individuals with the previous frame's saves more than swap_px "
            "of movement (an identity switch)",
}


@dataclass(frozen=True)
class OutlierConfig:
    """Settings of :func:`extract_outliers`.

    Attributes:
        num_frames: how many outlier frames to extract (fewer if fewer are found).
        pcutoff: likelihood threshold (criterion ``likelihood``; also what "confident" means).
        jump_px: largest plausible move between consecutive frames, image pixels.
        filter_px: largest plausible distance to the filtered trajectory, image pixels.
        filter_window: frames in the median filter's window (odd, >= 3).
        swap_px: least movement (pixels, summed over individuals) that re-pairing the
            individuals must save for an identity switch (criterion ``swap``).
        criteria: which of ``CRITERIA`` make a frame a candidate.
        seed: seeds the k-means choice among candidates.
    """

    num_frames: int = 20
    pcutoff: float = DEFAULT_PCUTOFF
    jump_px: float = 20.0
    filter_px: float = 20.0
    filter_window: int = 5
    swap_px: float = 20.0
    criteria: tuple[str, ...] = tuple(CRITERIA)
    seed: int = 0

    def __post_init__(self):
        unknown = [c for c in self.criteria if c not in CRITERIA]
        if unknown or not self.criteria:
            raise ValueError(f"criteria must be a non-empty subset of {list(CRITERIA)}. "
                             f"Received: criteria={self.criteria!r}.")
        check_pcutoff(self.pcutoff)
        if self.num_frames < 1:
            raise ValueError(f"Need num_frames >= 1. Received: num_frames={self.num_frames}.")
        if self.jump_px <= 0 or self.filter_px <= 0 or self.swap_px <= 0:
            raise ValueError(f"jump_px, filter_px and swap_px must be positive. Received: "
                             f"jump_px={self.jump_px}, filter_px={self.filter_px}, "
                             f"swap_px={self.swap_px}.")


def outlier_scores(points: np.ndarray, config: OutlierConfig) -> pd.DataFrame:
    """Per frame, the measures behind each criterion and whether the frame is a candidate.

    Jumps and distances to the filtered trajectory are measured along each individual's own
    trajectory; a frame's measures are the extremes over its individuals and body parts.

    Args:
        points: (num_frames, num_individuals, num_bodyparts, 3) x, y (image pixels),
            likelihood.

    Returns:
        Indexed by frame: ``min_likelihood``, ``max_jump_px``, ``max_filter_px``,
        ``swap_px`` (:func:`identity_swaps`; NaN where nothing could be measured), one
        boolean column per criterion, and ``outlier`` (any criterion in ``config.criteria``).
    """
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 4 or points.shape[3] != 3:
        raise ValueError("points must have shape (num_frames, num_individuals, num_bodyparts, "
                         f"3). Received: {points.shape}.")
    confident = points[..., 2] >= config.pcutoff  # (N, I, K); NaN likelihood is not confident
    xy = np.where(confident[..., None], points[..., :2], np.nan)
    jump = np.full(points.shape[:3], np.nan)
    jump[1:] = np.linalg.norm(xy[1:] - xy[:-1], axis=-1)
    smooth = filter_points(points, FilterConfig(window=config.filter_window,
                                                pcutoff=config.pcutoff))
    off = np.linalg.norm(xy - smooth[..., :2], axis=-1)
    table = pd.DataFrame({
        "min_likelihood": _nan_reduce(np.min, points[..., 2]),
        "max_jump_px": _nan_reduce(np.max, jump),
        "max_filter_px": _nan_reduce(np.max, off),
        "swap_px": identity_swaps(xy),
    })
    table.index.name = "frame"
    table["likelihood"] = ~(table.min_likelihood >= config.pcutoff)  # NaN: nothing predicted
    table["jump"] = table.max_jump_px > config.jump_px
    table["filter"] = table.max_filter_px > config.filter_px
    table["swap"] = table.swap_px > config.swap_px
    table["outlier"] = table[list(config.criteria)].any(axis=1)
    return table


def _nan_reduce(function, values: np.ndarray) -> np.ndarray:
    """``function`` over individuals and body parts (values: (N, I, K)) ignoring NaN; NaN
    where a frame has no value."""
    values = values.reshape(len(values), -1)
    finite = np.isfinite(values)
    fill = np.inf if function is np.min else -np.inf
    out = function(np.where(finite, values, fill), axis=1)
    return np.where(finite.any(axis=1), out, np.nan)


def choose_diverse(video_path: str | os.PathLike, candidates: Sequence[int], num_frames: int,
                   seed: int = 0) -> list[int]:
    """``num_frames`` of ``candidates`` that look different (k-means on their thumbnails);
    all candidates when there are not more than ``num_frames``. Sorted frame indices."""
    candidates = sorted({int(c) for c in candidates})
    if len(candidates) <= num_frames:
        return candidates
    info = video_info(video_path)
    others = np.setdiff1d(np.arange(info.num_frames), candidates)
    return pick_frames(video_path, num_frames, "kmeans", seed=seed, exclude=others)


def extract_with_predictions(project: Project, video_path: str | os.PathLike,
                             analysis_h5: str | os.PathLike, frames: Sequence[int]) -> list[str]:
    """Save ``frames`` of a video as PNGs for labeling, with the analysis' predictions as
    machine labels (``project.machine_labels_file``); return the image names added.

    Frames already in ``labeled-data/<video>/`` are skipped: their files and labels stay.
    Body parts the analysis lacks are NaN. The machine labels keep the analysis' layout
    (single-animal, or its individuals); in a multi-animal project they take the
    project's (:func:`_project_individuals`), as the labeler and merging expect.
    """
    video_path = Path(video_path)
    video, info = video_path.stem, video_info(video_path)
    frames = sorted(set(map(int, frames)) - set(extracted_frame_indices(project, video)))
    table = read_analysis(analysis_h5)
    analysed, parts, individuals = poses_from_table(table, source=analysis_h5)
    unknown = [b for b in parts if b not in project.bodyparts]
    if unknown:
        raise ValueError(f"{analysis_h5} predicts body parts {unknown} that are not in "
                         f"{project.config_path}. Analyze with a model of this project.")
    if frames and frames[-1] >= len(analysed):
        raise ValueError(f"{analysis_h5} covers frames 0-{len(analysed) - 1}. Received frames "
                         f"{[f for f in frames if f >= len(analysed)][:5]}.")
    points = np.full((len(frames), analysed.shape[1], len(project.bodyparts), 3), np.nan)
    points[:, :, [project.bodyparts.index(b) for b in parts]] = analysed[frames]
    folder = project.labeled_data_dir(video)
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for index, image in read_frames(video_path, frames).items():
        path = save_image(folder / frame_image_name(index, info.num_frames), image)
        names.append(path.relative_to(project.root).as_posix())
    scorer = table.columns.get_level_values("scorer")[0]
    layout = project.layout
    if layout is None:
        new = predictions_frame(points, names, scorer, project.bodyparts, individuals)
    else:  # the project's (individual, body part) pairs only, four levels
        points = _project_individuals(points, individuals, layout.table_individuals)
        new = predictions_frame(points, names, scorer, project.bodyparts,
                                layout.table_individuals)[layout.columns(scorer, POSE_COORDS)]
    target = project.machine_labels_file(video)
    if target.is_file():  # keep the rows of earlier extractions (in their scorer's name)
        old = read_machine_labels(target)
        new = pd.concat([old.drop(index=new.index, errors="ignore"),
                         new.set_axis(old.columns, axis=1)])
    save_machine_labels(target, new.sort_index())
    return names


def _project_individuals(points: np.ndarray, individuals: Sequence[str] | None,
                         names: Sequence[str]) -> np.ndarray:
    """(F, len(names), K, 3): the analysis' individuals matched by name when it uses the
    project's names; else in order (tracks ``ind1, ind2, ...``, or one animal), with a
    ``single`` row kept for the project's ``single``. points: (F, I, K, 3)."""
    if individuals is not None and set(individuals) <= set(names):
        return select_individuals(points, individuals, names)
    tracks = [i for i, name in enumerate(individuals or [None]) if name != SINGLE]
    animals = [n for n in names if n != SINGLE]
    if len(tracks) > len(animals):
        raise ValueError(f"The analysis has {len(tracks)} individuals ({individuals}); the "
                         f"project has {len(animals)} ({animals}). Analyze with this project.")
    out = np.full((len(points), len(names), *points.shape[2:]), np.nan)
    out[:, [names.index(n) for n in animals[:len(tracks)]]] = points[:, tracks]
    if SINGLE in names and SINGLE in (individuals or []):
        out[:, names.index(SINGLE)] = points[:, individuals.index(SINGLE)]
    return out


@dataclass(frozen=True)
class OutlierResult:
    """What :func:`extract_outliers` found and wrote."""

    scores: pd.DataFrame  # outlier_scores of every analysed frame
    frames: list[int]  # the frames extracted
    images: list[str]  # their image names (labeled-data/<video>/img<N>.png)
    machine_labels: Path

    def summary(self) -> pd.Series:
        """Frames per criterion, candidates, and frames extracted."""
        counts = self.scores[[*CRITERIA, "outlier"]].sum().astype(int)
        return pd.concat([counts, pd.Series({"extracted": len(self.frames)})])


def extract_outliers(project: Project, video_path: str | os.PathLike,
                     analysis_h5: str | os.PathLike, config: OutlierConfig) -> OutlierResult:
    """Find the outlier frames of an analysed video, choose a diverse ``config.num_frames``
    of them not extracted before, and extract them with machine labels (see module docstring)."""
    video_path = Path(video_path)
    scores = outlier_scores(load_poses(analysis_h5)[0], config)
    done = set(extracted_frame_indices(project, video_path.stem))
    candidates = [int(f) for f in scores.index[scores.outlier] if f not in done]
    frames = choose_diverse(video_path, candidates, config.num_frames, config.seed)
    images = extract_with_predictions(project, video_path, analysis_h5, frames)
    return OutlierResult(scores, frames, images, project.machine_labels_file(video_path.stem))


# --- what to label next ---------------------------------------------------------------


@dataclass(frozen=True)
class SuggestConfig:
    """Settings of :func:`suggest_frames`.

    Attributes:
        num_frames: how many frames to suggest.
        novelty_weight: score = (1 - w) * uncertainty + w * novelty, both in [0, 1].
        min_gap: suggested frames are at least this many frames apart.
        pcutoff: points below it are drawn as crosses in the strip.
    """

    num_frames: int = 8
    novelty_weight: float = 0.5
    min_gap: int = 5
    pcutoff: float = DEFAULT_PCUTOFF

    def __post_init__(self):
        if self.num_frames < 1 or not 0 <= self.novelty_weight <= 1 or self.min_gap < 1:
            raise ValueError(
                "Need num_frames >= 1, novelty_weight in [0, 1] and min_gap >= 1. Received: "
                f"num_frames={self.num_frames}, novelty_weight={self.novelty_weight}, "
                f"min_gap={self.min_gap}.")
        check_pcutoff(self.pcutoff)


@dataclass(frozen=True)
class Suggestions:
    """Frames suggested for labeling next: indices best first, their scores, and a figure."""
    frames: list[int]  # suggested frame indices, best first
    table: pd.DataFrame  # every ranked frame: uncertainty, novelty, score; best first
    figure: plt.Figure


def _thumbnail(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    return cv2.resize(gray, size, interpolation=cv2.INTER_AREA).astype(np.float64).ravel() / 255


def rank_frames(uncertainty: np.ndarray, novelty: np.ndarray, frames: Sequence[int],
                config: SuggestConfig) -> pd.DataFrame:
    """Score frames and mark the suggested ones (greedy, best first, ``min_gap`` apart).

    Args:
        uncertainty: (N,) in [0, 1]; novelty: (N,) >= 0, scaled here by its maximum.
    """
    novelty = np.asarray(novelty, np.float64)
    novelty = novelty / novelty.max() if len(novelty) and novelty.max() > 0 else novelty * 0
    score = (1 - config.novelty_weight) * np.asarray(uncertainty) + config.novelty_weight * novelty
    table = pd.DataFrame({"frame": list(frames), "uncertainty": uncertainty, "novelty": novelty,
                          "score": score}).sort_values("score", ascending=False, kind="stable")
    chosen: list[int] = []
    for frame in table.frame:
        if len(chosen) < config.num_frames and all(abs(frame - c) >= config.min_gap
                                                   for c in chosen):
            chosen.append(int(frame))
    table["suggested"] = table.frame.isin(chosen)
    return table.reset_index(drop=True)


def suggest_frames(project: Project, video_path: str | os.PathLike, analysis_h5: str | os.PathLike,
                   training_images: Sequence[str], config: SuggestConfig) -> Suggestions:
    """Rank the video's frames not yet extracted by uncertainty and novelty; draw the best.

    Uncertainty is ``1 - min likelihood`` over individuals and body parts (from the
    analysis); novelty the
    distance of a frame's thumbnail to the nearest thumbnail of ``training_images`` (image
    names as in the label index). At most ``KMEANS_MAX_READ`` frames, evenly spread, are read.
    """
    points = load_poses(analysis_h5)[0]
    done = set(extracted_frame_indices(project, Path(video_path).stem))
    pool = np.array([f for f in range(len(points)) if f not in done])
    if len(pool) == 0 or not training_images:
        raise ValueError(f"Nothing to rank: {len(pool)} frames not extracted, "
                         f"{len(training_images)} training images. Pass both.")
    pool = pool[:: max(1, -(-len(pool) // KMEANS_MAX_READ))]
    info = video_info(video_path)
    size = (KMEANS_WIDTH, max(1, round(info.height * KMEANS_WIDTH / info.width)))
    train = np.stack([_thumbnail(load_image(project.image_path(n)), size) for n in training_images])
    frames = read_frames(video_path, pool)
    thumbs = np.stack([_thumbnail(frames[f], size) for f in pool])
    d2 = (thumbs**2).sum(1)[:, None] - 2 * thumbs @ train.T + (train**2).sum(1)[None]
    novelty = np.sqrt(np.maximum(d2.min(1), 0) / thumbs.shape[1])  # RMS gray-level difference
    uncertainty = 1 - np.nan_to_num(points[pool, ..., 2], nan=0.0).reshape(len(pool), -1).min(1)
    table = rank_frames(uncertainty, novelty, pool, config)
    chosen = table.frame[table.suggested].tolist()
    figure = plot_suggestions([frames[f] for f in chosen], points[chosen], table.set_index(
        "frame").loc[chosen, "score"].to_numpy(), chosen, config.pcutoff)
    return Suggestions(chosen, table, figure)


def plot_suggestions(images: Sequence[np.ndarray], points: np.ndarray, scores: Sequence[float],
                     frames: Sequence[int], pcutoff: float) -> plt.Figure:
    """A strip of thumbnails titled ``frame`` and ``score``, with the predictions drawn
    (dots at or above ``pcutoff``, crosses below; one colour per body part).

    Args:
        points: (N, num_individuals, num_bodyparts, 3) x, y (image pixels), likelihood.
    """
    fig, axes = plt.subplots(1, max(1, len(images)), figsize=(2.2 * max(1, len(images)), 2.6),
                             squeeze=False)
    colors = plt.get_cmap("rainbow")(np.linspace(0, 1, points.shape[2] if len(points) else 1))
    for ax, image, pose, score, frame in zip(axes[0], images, points, scores, frames):
        ax.imshow(image)
        for pts in pose:  # each individual
            sure = pts[:, 2] >= pcutoff
            ax.scatter(pts[sure, 0], pts[sure, 1], s=14, c=colors[sure])
            ax.scatter(pts[~sure, 0], pts[~sure, 1], s=24, c=colors[~sure], marker="x")
        ax.set_title(f"frame {frame}\nscore {score:.2f}", fontsize=9)
    for ax in axes[0]:
        ax.set_axis_off()
    fig.tight_layout()
    plt.close(fig)  # shown by the caller (a notebook displays the returned figure)
    return fig
