"""Frames to label: picking them from a video and extracting them into ``labeled-data/``.

Two ways to pick (:data:`PICK_METHODS`): ``"uniform"``, evenly spread in time,
and ``"kmeans"``, one frame per cluster of appearance. Extracted frames are
named as DeepLabCut names them (:func:`frame_image_name`), and the names tell
which frames are already extracted (:func:`extracted_frame_indices`). Reading
and writing the videos and images themselves is :mod:`kit.project.video`'s job.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from kit.project import Project
from kit.project.video import VideoInfo, read_frames, save_image, video_info

KMEANS_WIDTH = 30  # frames are shrunk to this many pixels wide before clustering
KMEANS_MAX_READ = 1000  # at most this many frames are read to cluster
_IMAGE_NAME = re.compile(r"img(\d+)\.png")


def frame_image_name(frame_index: int, num_video_frames: int) -> str:
    """DeepLabCut's name for an extracted frame: ``img`` + index zero-padded + ``.png``.

    Padded to the number of digits of the video's frame count: frame 42 of a
    1000-frame video is ``img0042.png``.
    """
    return f"img{frame_index:0{len(str(num_video_frames))}d}.png"


def _frame_range(info: VideoInfo, span: tuple[float, float]) -> range:
    start, stop = span
    if not 0.0 <= start < stop <= 1.0:
        raise ValueError(
            f"start and stop are fractions of the video with 0 <= start < stop <= 1. "
            f"Received: start={start}, stop={stop}."
        )
    first = round(start * info.num_frames)
    return range(first, max(first + 1, round(stop * info.num_frames)))


def _uniform(candidates: np.ndarray, num_frames: int, path: Path, seed: int) -> list[int]:
    # The centre of each of num_frames equal slices: evenly spread, deterministic.
    positions = ((np.arange(num_frames) + 0.5) * len(candidates) / num_frames).astype(int)
    return sorted(int(i) for i in candidates[positions])


def _kmeans(
    points: np.ndarray, k: int, rng: np.random.Generator, num_iterations: int = 50
) -> tuple[np.ndarray, np.ndarray]:
    """Lloyd's k-means with k-means++ seeding. points (n, d) -> (centres (k, d), labels (n,))."""
    chosen = [int(rng.integers(len(points)))]
    d2 = ((points - points[chosen[0]]) ** 2).sum(1)
    for _ in range(1, k):
        if d2.sum() > 0:
            nxt = int(rng.choice(len(points), p=d2 / d2.sum()))
        else:  # fewer distinct points than clusters
            nxt = int(rng.choice(np.setdiff1d(np.arange(len(points)), chosen)))
        chosen.append(nxt)
        d2 = np.minimum(d2, ((points - points[nxt]) ** 2).sum(1))
    centres = points[chosen].copy()
    labels = np.zeros(len(points), dtype=int)
    for iteration in range(num_iterations):
        # |p - c|^2 = |p|^2 - 2 p.c + |c|^2, without an (n, k, d) array
        distances = (centres**2).sum(1)[None] - 2 * points @ centres.T
        new_labels = distances.argmin(1)
        if iteration > 0 and np.array_equal(new_labels, labels):
            break
        labels = new_labels
        for c in range(k):
            if np.any(labels == c):
                centres[c] = points[labels == c].mean(0)
    return centres, labels


def _kmeans_pick(candidates: np.ndarray, num_frames: int, path: Path, seed: int) -> list[int]:
    sample = candidates[:: max(1, -(-len(candidates) // KMEANS_MAX_READ))]
    if num_frames > len(sample):
        raise ValueError(
            f"kmeans picks among {len(sample)} sampled frames of {path}; cannot pick "
            f"{num_frames}. Ask for fewer frames or use method='uniform'."
        )
    small = []
    for frame in read_frames(path, sample).values():
        gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        height = max(1, round(gray.shape[0] * KMEANS_WIDTH / gray.shape[1]))
        small.append(cv2.resize(gray, (KMEANS_WIDTH, height), interpolation=cv2.INTER_AREA))
    points = np.stack(small).reshape(len(small), -1).astype(np.float64) / 255.0
    centres, labels = _kmeans(points, num_frames, np.random.default_rng(seed))
    picked: list[int] = []
    for c, centre in enumerate(centres):
        distances = ((points - centre) ** 2).sum(1)
        # The member nearest the centre; an emptied cluster takes the nearest unpicked frame.
        members = np.flatnonzero(labels == c)
        members = np.setdiff1d(members if len(members) else np.arange(len(points)), picked)
        if not len(members):
            members = np.setdiff1d(np.arange(len(points)), picked)
        picked.append(int(members[distances[members].argmin()]))
    return sorted(int(sample[i]) for i in picked)


PICK_METHODS: dict[str, Callable[[np.ndarray, int, Path, int], list[int]]] = {
    "uniform": _uniform,
    "kmeans": _kmeans_pick,
}


def pick_frames(
    path: str | os.PathLike,
    num_frames: int,
    method: str = "uniform",
    span: tuple[float, float] = (0.0, 1.0),
    seed: int = 0,
    exclude: Sequence[int] = (),
) -> list[int]:
    """Choose frames to label; return sorted, distinct frame indices.

    Args:
        path: the video.
        num_frames: how many frames to pick.
        method: ``"uniform"``, evenly spread in time; or ``"kmeans"``, one frame per
            cluster of appearance (frames shrunk to 30 px wide grayscale, at most
            1000 of them read evenly, clustered by k-means, the frame nearest each
            centre kept), so rare postures get picked too.
        span: ``(start, stop)``, the part of the video to pick from, as fractions of
            its length.
        seed: seeds k-means; the same seed gives the same picks.
        exclude: frame indices never picked (e.g. frames already extracted).
    """
    if method not in PICK_METHODS:
        raise ValueError(f"Unknown method={method!r}. Choose one of {sorted(PICK_METHODS)}.")
    info = video_info(path)
    frames = _frame_range(info, span)
    candidates = np.setdiff1d(np.arange(frames.start, frames.stop), np.asarray(exclude, dtype=int))
    if not 1 <= num_frames <= len(candidates):
        raise ValueError(
            f"Cannot pick num_frames={num_frames} from {len(candidates)} available frames of "
            f"{info.path} (frames {frames.start}-{frames.stop - 1}, {len(exclude)} excluded). "
            "Ask for fewer frames or widen span."
        )
    return PICK_METHODS[method](candidates, num_frames, info.path, seed)


def extracted_frame_indices(project: Project, video: str) -> list[int]:
    """Frame indices already extracted to ``labeled-data/<video>/`` (from ``img<N>.png`` names)."""
    folder = project.labeled_data_dir(video)
    if not folder.is_dir():
        return []
    return sorted(int(m.group(1)) for p in folder.iterdir() if (m := _IMAGE_NAME.fullmatch(p.name)))


@dataclass(frozen=True)
class ExtractConfig:
    """How frames are picked from each video (see :func:`kit.project.frame_picking.pick_frames`).

    Attributes:
        num_frames: frames picked per video on each run (DeepLabCut's ``numframes2pick``).
        method: ``"uniform"`` (evenly spread in time) or ``"kmeans"`` (varied appearance).
        start, stop: the part of each video to pick from, as fractions of its length.
        seed: seeds k-means.
    """

    num_frames: int = 20
    method: str = "uniform"
    start: float = 0.0
    stop: float = 1.0
    seed: int = 0

    @property
    def span(self) -> tuple[float, float]:
        """``(start, stop)``."""
        return (self.start, self.stop)

    def __post_init__(self) -> None:
        if self.method not in PICK_METHODS:
            raise ValueError(
                f"Unknown method={self.method!r}. Choose one of {sorted(PICK_METHODS)}."
            )
        if self.num_frames < 1:
            raise ValueError(f"num_frames must be at least 1. Received: {self.num_frames}.")
        if not 0.0 <= self.start < self.stop <= 1.0:
            raise ValueError(
                "start and stop are fractions of the video with 0 <= start < stop <= 1. "
                f"Received: start={self.start}, stop={self.stop}."
            )


def extract_frames(
    project: Project, video_path: str | os.PathLike, config: ExtractConfig = ExtractConfig()
) -> list[Path]:
    """Pick ``config.num_frames`` frames of a video (see :func:`pick_frames`) and save them
    for labeling.

    Writes ``labeled-data/<video stem>/img<N>.png`` as DeepLabCut names them (see
    :func:`frame_image_name`). Frames already extracted are never picked again
    and no existing file is overwritten, so running it again adds new frames and
    keeps labeled ones. Returns the paths written, in frame order.
    """
    video_path = Path(video_path)
    info = video_info(video_path)
    done = extracted_frame_indices(project, video_path.stem)
    indices = pick_frames(video_path, config.num_frames, config.method, config.span, config.seed,
                          exclude=done)
    folder = project.labeled_data_dir(video_path.stem)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for index, frame in read_frames(video_path, indices).items():
        target = folder / frame_image_name(index, info.num_frames)
        if not target.exists():
            written.append(save_image(target, frame))
    return written
