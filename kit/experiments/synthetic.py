"""A synthetic DeepLabCut project with exact ground truth: kit's own test and demo data.

The animal, its video and its true positions come from :mod:`kit.experiments.synthetic_animal`;
this module makes the project on disk around them and reads the truth back.

Files written into the project (besides config.yaml):

- ``videos/animal<i>.mp4``: every frame (mp4v, so slightly lossy).
- ``labeled-data/animal<i>/img<N>.png``: ``SyntheticConfig.num_labeled`` frames spread evenly
  over the video, exactly the rendered frames (lossless, before mp4 compression),
  named as :func:`kit.frame_picking.extract_frames` names them.
- ``labeled-data/animal<i>/CollectedData_<scorer>.h5/.csv``: their labels.
- ``videos/animal<i>_groundtruth.h5``: the true positions in every frame, in
  DeepLabCut's analysis-output layout (see :func:`make_synthetic_project`).
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from kit.experiments.synthetic_animal import (
    BODYPARTS,
    SKELETON,
    RenderedVideo,
    VideoShape,
    render_video,
)
from kit.project import Project, create_project, load_project
from kit.project.analysis_file import load_poses
from kit.project.frame_picking import extracted_frame_indices, frame_image_name
from kit.project.hdf import H5_KEY, read_h5, write_h5
from kit.project.labels import COLUMN_NAMES, make_labels_frame, save_labels, write_labels_file
from kit.project.video import save_image

GROUND_TRUTH_SCORER = "groundtruth"


def _save_ground_truth(project: Project, video: RenderedVideo) -> Path:
    num_frames = len(video.points)
    values = np.concatenate([video.points, video.visible[..., None].astype(np.float64)], axis=2)
    columns = pd.MultiIndex.from_product(
        [[GROUND_TRUTH_SCORER], list(BODYPARTS), ["x", "y", "likelihood"]], names=COLUMN_NAMES
    )
    df = pd.DataFrame(
        values.reshape(num_frames, -1), index=pd.RangeIndex(num_frames), columns=columns
    )
    return write_h5(df, project.ground_truth_file(video.name))


def _save_labeled(
    project: Project, video: RenderedVideo, label_noise_px: float, rng: np.random.Generator
) -> None:
    folder = project.labeled_data_dir(video.name)
    folder.mkdir(parents=True, exist_ok=True)
    indices = sorted(video.labeled)
    names = []
    for index in indices:
        path = save_image(folder / frame_image_name(index, len(video.points)), video.labeled[index])
        names.append(path.relative_to(project.root).as_posix())
    points = np.where(video.visible[indices][..., None], video.points[indices], np.nan)
    if label_noise_px > 0:
        points = points + rng.normal(0, label_noise_px, points.shape)
    save_labels(
        project, video.name, make_labels_frame(points, names, project.scorer, project.bodyparts)
    )


def labeled_frame_indices(num_frames: int, num_labeled: int) -> set[int]:
    """Frames ``int((k + 0.5) * num_frames / num_labeled)``, k < num_labeled: spread evenly."""
    return {int((k + 0.5) * num_frames / num_labeled) for k in range(num_labeled)}


@dataclass(frozen=True)
class SyntheticConfig:
    """What a synthetic project holds (see :func:`make_synthetic_project`).

    Attributes:
        seed: the same seed gives the same videos, images and labels.
        num_videos: one animal per video, ``animal0``, ``animal1``...; each differs
            in size, colour, contrast, ear shape and background.
        num_frames: frames per video.
        num_labeled: labeled frames per video, spread evenly: frame
            ``int((k + 0.5) * num_frames / num_labeled)`` for k = 0..num_labeled-1.
        image_size: (width, height) in pixels.
        label_noise_px: standard deviation, in pixels, of Gaussian noise added to x
            and to y independently of the saved labels (not of the ground truth), a
            stand-in for human labeling error. The Euclidean error then follows a
            Rayleigh distribution with mean ``label_noise_px * sqrt(pi / 2)``
            (about 1.25 * label_noise_px).
        fps: frames per second of the videos.
        task, scorer: written to config.yaml.
    """

    seed: int = 0
    num_videos: int = 1
    num_frames: int = 200
    num_labeled: int = 60
    image_size: tuple[int, int] = (256, 256)
    label_noise_px: float = 0.0
    fps: float = 30
    task: str = "synthetic"
    scorer: str = "synthetic"

    def __post_init__(self) -> None:
        if self.num_videos < 1 or self.num_frames < 1 or not 0 <= self.num_labeled <= self.num_frames:
            raise ValueError(
                "Need num_videos >= 1, num_frames >= 1 and 0 <= num_labeled <= num_frames. "
                f"Received: num_videos={self.num_videos}, num_frames={self.num_frames}, "
                f"num_labeled={self.num_labeled}."
            )
        if min(self.image_size) < 32 or self.label_noise_px < 0 or self.fps <= 0:
            raise ValueError(
                "Need image_size of at least (32, 32), label_noise_px >= 0 and fps > 0. Received: "
                f"image_size={self.image_size}, label_noise_px={self.label_noise_px}, fps={self.fps}."
            )

    @property
    def labeled_frames(self) -> set[int]:
        """Indices of the labeled frames of each video."""
        return labeled_frame_indices(self.num_frames, self.num_labeled)


def make_synthetic_project(
    project_dir: str | os.PathLike,
    config: SyntheticConfig = SyntheticConfig(),
    exist_ok: bool = False,
) -> Project:
    """Create a complete synthetic project (see the module docstring); return it opened.

    Args:
        project_dir: a new folder (must not hold a config.yaml yet).
        config: what the project holds (:class:`SyntheticConfig`).
        exist_ok: if ``project_dir`` already holds a project, open and return it
            (made earlier with the same config, one hopes) instead of raising.

    The ground truth ``videos/<name>_groundtruth.h5`` (key ``df_with_missing``) is
    a DataFrame indexed by frame number with columns (scorer ``groundtruth``,
    bodyparts, coords ``x``, ``y``, ``likelihood``): x, y are the true position
    even when hidden; likelihood is 1.0 when visible and 0.0 when occluded. Read
    it with :func:`load_ground_truth`.
    """
    if not isinstance(config, SyntheticConfig):
        raise TypeError(
            f"config must be a SyntheticConfig. Received: {config!r}. "
            "Write make_synthetic_project(folder, SyntheticConfig(num_frames=...))."
        )
    if exist_ok and (Path(project_dir) / "config.yaml").is_file():
        return load_project(project_dir)
    with tempfile.TemporaryDirectory(prefix="kit-synthetic-") as tmp:
        videos = [
            render_video(Path(tmp) / f"animal{i}.mp4", np.random.default_rng([config.seed, i, 0]),
                         VideoShape(config.num_frames, tuple(config.image_size), config.fps),
                         config.labeled_frames)
            for i in range(config.num_videos)
        ]
        project = create_project(project_dir, config.task, config.scorer, BODYPARTS,
                                 videos=[v.path for v in videos], skeleton=SKELETON)
    for i, video in enumerate(videos):
        if config.num_labeled:
            _save_labeled(project, video, config.label_noise_px,
                          np.random.default_rng([config.seed, i, 1]))
        _save_ground_truth(project, video)
    return project


def load_ground_truth(project: Project, video: str, include_occluded: bool = False) -> np.ndarray:
    """True positions of every frame of a synthetic video.

    Returns:
        (num_frames, num_bodyparts, 2) float64, x then y, image pixels, body parts
        in config order; NaN where the part is occluded unless ``include_occluded``.
    """
    path = project.ground_truth_file(video)
    if not path.is_file():
        raise FileNotFoundError(
            f"No ground truth at {path}. Only projects made by kit.experiments.synthetic.make_synthetic_project "
            f"have one; check the video name (this project has {project.labeled_videos()})."
        )
    df = read_h5(path, key=H5_KEY)
    scorer = df.columns.get_level_values("scorer")[0]
    xy = pd.MultiIndex.from_product([[scorer], project.bodyparts, ["x", "y"]])
    likelihood = pd.MultiIndex.from_product([[scorer], project.bodyparts, ["likelihood"]])
    points = df.loc[:, xy].to_numpy(np.float64, copy=True).reshape(len(df), -1, 2)
    if not include_occluded:
        points[df.loc[:, likelihood].to_numpy() < 0.5] = np.nan
    return points


def expected_label_error(label_noise_px: float) -> float:
    """Mean Euclidean error, in pixels, that ``label_noise_px`` puts into the labels.

    Independent Gaussian noise of sd sigma on x and y gives a Rayleigh-distributed
    distance with mean ``sigma * sqrt(pi / 2)``: the "human error" of a synthetic project.
    """
    return float(label_noise_px * math.sqrt(math.pi / 2))


def error_against_ground_truth(
    project: Project, video: str | os.PathLike, h5: str | os.PathLike,
    frames: Sequence[int] | None = None,
) -> float:
    """Mean Euclidean distance in pixels between an analysis and a synthetic video's truth.

    Averaged over every (frame, body part) where the part is visible, over all
    analysed frames or only ``frames``. A synthetic video has one animal: the analysis must
    hold one individual.
    """
    points, parts, _ = load_poses(h5)  # (num_frames, 1, num_bodyparts, 3)
    if points.shape[1] != 1:
        raise ValueError(f"{h5} holds {points.shape[1]} individuals; a synthetic video has one "
                         "animal. Pass the analysis of a single-animal model.")
    truth = load_ground_truth(project, Path(video).stem)[:, None, [project.bodyparts.index(b)
                                                                   for b in parts]]
    if len(points) > len(truth):
        raise ValueError(f"{h5} has {len(points)} frames; the ground truth only {len(truth)}.")
    error = np.linalg.norm(points[..., :2] - truth[:len(points)], axis=-1)
    if frames is not None:
        error = error[[f for f in frames if f < len(points)]]
    return float(np.nanmean(error))


def ground_truth_errors(project: Project, results: Sequence) -> pd.DataFrame:
    """Per synthetic video: mean error over all frames and over the labeled frames only
    (compare the latter with the evaluation error). Videos without ground truth are left out,
    as are all of a multi-animal project (its animals must be matched first; see
    :func:`kit.experiments.synthetic_group.load_group_ground_truth`).

    Args:
        results: ``kit.results.analyze.AnalysisResult`` of the videos.
    """
    rows = []
    for r in results:
        if project.layout is None and project.ground_truth_file(r.video.stem).is_file():
            labeled = extracted_frame_indices(project, r.video.stem)
            rows.append({"video": r.video.name, "num_frames": r.metadata["num_frames_analyzed"],
                         "mean_error_px": error_against_ground_truth(project, r.video, r.h5),
                         "mean_error_px_labeled_frames": error_against_ground_truth(
                             project, r.video, r.h5, labeled) if labeled else np.nan})
    return pd.DataFrame(rows, columns=["video", "num_frames", "mean_error_px",
                                       "mean_error_px_labeled_frames"])


def save_ground_truth_corrections(project: Project, video: str, path: str | os.PathLike,
                                  frames: Sequence[int] | None = None) -> Path:
    """A corrections file holding a synthetic video's true positions (a perfect labeler).

    Rows are named as extracted frames are (``labeled-data/<video>/img<N>.png``), for
    ``frames`` or every frame; occluded parts are NaN. Written with ``.csv`` beside.
    """
    truth = load_ground_truth(project, video)
    frames = range(len(truth)) if frames is None else sorted(map(int, frames))
    names = [f"labeled-data/{video}/{frame_image_name(f, len(truth))}" for f in frames]
    df = make_labels_frame(truth[list(frames)], names, project.scorer, project.bodyparts)
    write_labels_file(df, path)
    return Path(path)
