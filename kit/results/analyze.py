"""Video analysis: a trained network over every frame of videos, saved as DeepLabCut saves it.

Frames are decoded on a reader thread (:class:`kit.results.frame_batches.FrameBatches`), cropped,
downscaled and resized for the network there, and handed over in batches through
a bounded queue while the main thread runs the network, so decoding overlaps
inference and memory stays flat however long the video.

Files per video, named by :meth:`kit.project.Project.analysis_file`, beside the
video or in ``output_dir`` (``<name>`` = ``<video stem>DLC_resnet50_<Task><date>shuffle<k>_<steps>``):

- ``<name>.h5`` (key ``df_with_missing``): DeepLabCut's table, index = frame number
  0..N-1, columns (scorer, bodyparts, coords) with coords x, y (full-frame pixels)
  and likelihood; ``<name>.csv`` too if asked. In memory the poses are
  ``(num_frames, 1, num_bodyparts, 3)`` (one individual; see :mod:`kit.project.analysis_file`).
- ``<name>_meta.json``: video size, fps, frame count, model, crop, speed, and
  ``truncated`` (the video ended before the frame count its header declares).
- ``<name>.partial.h5`` while running: the frames done so far, saved every
  ``save_every`` frames and when interrupted; a new run resumes from it.

Multi-animal projects (``project.layout``) write DeepLabCut's tracked analysis
``<name>_el.h5`` (+ ``_el.csv``, ``_el_meta.json``, ``_el.partial.h5``): columns (scorer,
individuals, bodyparts, coords), the assemblies of each batch tracked online and stitched
into the individuals at the end (:mod:`kit.results.analysis_poses`,
:mod:`kit.results.tracking`).

Every file is written atomically. A video already analysed by the same model is
skipped unless ``overwrite``.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd
from tqdm import tqdm

from kit.net.model_folder import ModelFolder
from kit.net.predict import Predictor
from kit.project import Project, atomic_path, atomic_write_text
from kit.project.analysis_file import load_partial_poses, save_analysis
from kit.project.video import VideoInfo, video_info
from kit.project.video_workers import default_read_workers
from kit.results.analysis_poses import EL_SUFFIX, MultiAnimalPoses, SingleAnimalPoses
from kit.results.frame_batches import FrameBatches
from kit.results.tracking import TrackConfig

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".mpg", ".mpeg", ".m4v")


@dataclass(frozen=True)
class AnalyzeConfig:
    """Settings of :func:`analyze_videos` (saved, with the speed, in each ``_meta.json``).

    Attributes:
        shuffle, train_fraction: which trained model.
        variant: the model folder's suffix when it is not a plain shuffle (what ``03_train``
            prints, e.g. ``-mobilenet_v2_0.35`` for another backbone).
        batch_size: frames per network call.
        crop: ``(x1, x2, y1, y2)`` full-frame pixels to analyse (DeepLabCut's order),
            or None for the whole frame; coordinates are saved in full-frame pixels.
        downscale: frames are shrunk by this factor before the network (2 = half
            width and height); coordinates are mapped back.
        save_csv: also write ``<name>.csv``.
        overwrite: analyse again videos already analysed by this model.
        save_every: frames between saves of the ``.partial.h5`` sidecar.
        queue_batches: batches the reader thread may prepare ahead.
        num_workers: threads decoding and scaling frames
            (:class:`kit.project.video_workers.ParallelFrameReader`; 1: the reader thread
            alone); default one per core. Results do not depend on it.
        output_dir: folder for the output files; None = beside each video.
        max_frames: analyse only the first ``max_frames`` frames (None: all).
        progress: show a progress bar (frames per second).
        track: multi-animal projects: how assemblies are tracked and stitched into the
            individuals (:class:`kit.results.tracking.TrackConfig`).
    """

    shuffle: int = 1
    train_fraction: float = 0.95
    variant: str = ""
    batch_size: int = 8
    crop: tuple[int, int, int, int] | None = None
    downscale: float = 1.0
    save_csv: bool = False
    overwrite: bool = False
    save_every: int = 1000
    queue_batches: int = 4
    num_workers: int = field(default_factory=default_read_workers)
    output_dir: str | None = None
    max_frames: int | None = None
    progress: bool = True
    track: TrackConfig = TrackConfig()

    def __post_init__(self):
        if (self.batch_size < 1 or self.save_every < 1 or self.queue_batches < 1
                or self.num_workers < 1):
            raise ValueError(
                "batch_size, save_every, queue_batches and num_workers must be >= 1. Received: "
                f"batch_size={self.batch_size}, save_every={self.save_every}, "
                f"queue_batches={self.queue_batches}, num_workers={self.num_workers}."
            )
        if self.max_frames is not None and self.max_frames < 1:
            raise ValueError(f"max_frames must be >= 1 or None. Received: {self.max_frames}.")
        if self.downscale <= 0:
            raise ValueError(f"downscale must be positive. Received: downscale={self.downscale}.")
        if self.crop is not None:
            x1, x2, y1, y2 = self.crop
            if not (0 <= x1 < x2 and 0 <= y1 < y2):
                raise ValueError(
                    f"crop is (x1, x2, y1, y2) with 0 <= x1 < x2 and 0 <= y1 < y2. "
                    f"Received: crop={self.crop}."
                )


@dataclass(frozen=True)
class AnalysisResult:
    """One analysed video: its files and metadata (``skipped``: it was already done)."""

    video: Path
    h5: Path
    metadata: dict[str, Any] = field(repr=False)
    skipped: bool = False


def load_predictor(project: Project, config: AnalyzeConfig) -> Predictor:
    """The trained model of ``config.shuffle`` / ``config.train_fraction``."""
    folder = ModelFolder(project.model_dir(config.shuffle, config.train_fraction,
                                           variant=config.variant))
    if not folder.is_trained():
        raise FileNotFoundError(
            f"No trained model for shuffle={config.shuffle}, train_fraction="
            f"{config.train_fraction} (expected {folder.model_file}). Train it first "
            "(notebooks/03_train.ipynb or kit.net.train.train), or pass the shuffle and "
            "train_fraction you trained."
        )
    return Predictor(folder.path)


def find_videos(project: Project, videos: str | os.PathLike | Sequence = "") -> list[Path]:
    """Video files to analyse: a file, a folder (its videos), a list of these, or "" (videos/).

    Labeled videos kit wrote (``*_labeled.mp4``) are left out of folders.
    """
    if isinstance(videos, (str, os.PathLike)):
        videos = [videos or project.videos_dir]
    found: list[Path] = []
    for item in map(Path, videos):
        if item.is_dir():
            found += sorted(p for p in item.iterdir() if p.suffix.lower() in VIDEO_EXTENSIONS
                            and not p.stem.endswith("_labeled"))
        elif item.is_file():
            found.append(item)
        else:
            raise FileNotFoundError(f"No video or folder at {item}. Check the path.")
    if not found:
        raise FileNotFoundError(
            f"No videos ({', '.join(VIDEO_EXTENSIONS)}) in {[str(v) for v in videos]}."
        )
    return found


def analyze_videos(
    project: Project, videos: Sequence[str | os.PathLike], config: AnalyzeConfig,
    predictor: Predictor | None = None,
) -> list[AnalysisResult]:
    """Analyse each video with one loaded model (see :func:`analyze_video`)."""
    predictor = predictor or load_predictor(project, config)
    return [analyze_video(project, video, config, predictor) for video in videos]


def _settings(config, predictor, info, scorer) -> dict[str, Any]:
    """What must match for a partial or finished result to count as this analysis (the
    decoder where it is not the one every model had before kit could choose: analyses
    written then still count)."""
    settings = {"scorer": scorer,
                "model": f"{predictor.model_dir.parent.name}/{predictor.model_dir.name}",
                "crop": list(config.crop) if config.crop else None,
                "downscale": config.downscale, "max_frames": config.max_frames,
                "num_frames": info.num_frames, "width": info.width, "height": info.height}
    if predictor.decoding:  # e.g. two_views (kit.net.two_views), or at several scales
        settings["decoder"] = predictor.decoding
    return settings


def _finished(h5: Path, meta: Path, settings: dict) -> dict | None:
    """The metadata of a finished analysis with these settings; raises if settings differ."""
    if not (h5.is_file() and meta.is_file()):
        return None
    metadata = json.loads(meta.read_text())
    diff = {k: (metadata.get(k), settings.get(k)) for k in {*settings, "decoder"}
            if metadata.get(k) != settings.get(k)}
    if diff:
        raise ValueError(
            f"{h5} holds an analysis with other settings (saved, given): {diff}. Pass "
            "overwrite=True to replace it, or choose another output_dir."
        )
    return metadata


def _check_crop(crop, info) -> None:
    if crop is not None and (crop[1] > info.width or crop[3] > info.height):
        raise ValueError(
            f"crop={crop} (x1, x2, y1, y2) reaches outside {info.path} "
            f"({info.width}x{info.height} pixels). Pass a crop inside the frame."
        )


def analyze_video(
    project: Project, video: str | os.PathLike, config: AnalyzeConfig,
    predictor: Predictor | None = None, on_batch: Callable[[int], None] | None = None,
) -> AnalysisResult:
    """Analyse every frame of one video; write ``<name>.h5`` (+ ``.csv``) and ``<name>_meta.json``.

    Args:
        on_batch: called after each batch with the number of frames done (a
            progress hook; an exception it raises stops the run, which saves the
            partial result and re-raises).

    Raises:
        ValueError: the video is missing, cannot be opened, declares no frames or
            no frame can be decoded; or the output holds another model's analysis.
        FileNotFoundError: no trained model.

    A video that ends early gives the frames it has, a warning, and
    ``truncated: true`` in the metadata.
    """
    job = _job(project, video, config, predictor or load_predictor(project, config))
    files = job.files
    if not config.overwrite and (done := _finished(files.h5, files.meta, job.settings)) is not None:
        return AnalysisResult(job.video, files.h5, done, skipped=True)
    num_frames = min(job.info.num_frames, config.max_frames or job.info.num_frames)
    poses = _poses(project, job, num_frames)
    previous = None if config.overwrite else load_partial_poses(files.partial, job.settings)
    run = _infer(job, poses, poses.resume(previous), on_batch)
    metadata = _finish(job, run, poses)
    files.partial.unlink(missing_ok=True)
    return AnalysisResult(job.video, files.h5, metadata)


def _poses(project: Project, job: _Job, num_frames: int):
    """The poses of one video's analysis: single-animal, or tracked multi-animal (when the
    project has individuals)."""
    config = job.config
    offset = np.array([config.crop[0], config.crop[2]] if config.crop else [0, 0], np.float64)

    def transform(xy: np.ndarray) -> np.ndarray:  # network frame pixels -> full frame
        return xy * config.downscale + offset

    if project.layout is None:
        return SingleAnimalPoses(job.predictor, num_frames, transform)
    if not hasattr(job.predictor, "predict_assemblies"):
        raise ValueError(f"{project.root} is a multi-animal project but the model of "
                         f"{job.predictor.model_dir} has no predict_assemblies (a single-animal "
                         "model?). Train the project's multi-animal network.")
    return MultiAnimalPoses(project.layout, num_frames, config.track, job.video, transform,
                            job.predictor.predict_assemblies)


@dataclass(frozen=True)
class _Files:
    """One video's output files (see the module docstring)."""

    h5: Path
    meta: Path
    csv: Path
    partial: Path


@dataclass(frozen=True)
class _Job:
    """One video's analysis: what the loop and the writer share."""

    video: Path
    info: VideoInfo
    config: AnalyzeConfig
    predictor: Predictor
    settings: dict[str, Any]  # see _settings; holds the scorer
    files: _Files

    def save_partial(self, poses) -> None:
        """Save the frames done so far to the ``.partial.h5`` sidecar."""
        save_analysis(self.files.partial, poses.partial_table(self.settings["scorer"]),
                      self.settings)


@dataclass(frozen=True)
class _Run:
    """What the loop did: frames ``start`` (resumed from) to ``done``, and its timings."""

    start: int
    done: int
    truncated: bool  # the video ended before the frame count its header declares
    seconds: float
    wait_s: float  # time the network waited for the reader thread


def _job(project: Project, video: str | os.PathLike, config: AnalyzeConfig,
         predictor: Predictor) -> _Job:
    """Check the video and crop, name the files, remove temporary files of a killed run."""
    video = Path(video)
    info = video_info(video)
    _check_crop(config.crop, info)
    scorer = project.analysis_scorer(config.shuffle, predictor.train_steps, predictor.net_type)
    tracked = EL_SUFFIX if project.layout is not None else ""
    files = _Files(*(project.analysis_file(video, scorer, tracked + s, config.output_dir)
                     for s in (".h5", "_meta.json", ".csv", ".partial.h5")))
    files.h5.parent.mkdir(parents=True, exist_ok=True)
    for stale in files.h5.parent.glob(".tmp*"):  # left by a run killed while saving its files
        if stale.name.split("-", 1)[-1].startswith(files.h5.stem):
            stale.unlink(missing_ok=True)
    settings = _settings(config, predictor, info, scorer)
    if project.layout is not None:  # single-animal settings unchanged: old results still count
        settings["tracking"] = asdict(config.track)
    return _Job(video, info, config, predictor, settings, files)


def _infer(job: _Job, poses, start: int, on_batch: Callable[[int], None] | None) -> _Run:
    """The loop: network on each batch from the reader thread, into ``poses`` (see
    :func:`_poses`) from frame ``start`` on; saves the partial result as it goes."""
    config = job.config
    batches = FrameBatches(job.video, start, config, poses.input_scale)
    done, unsaved, began = start, 0, time.perf_counter()
    bar = tqdm(total=len(poses.poses), initial=start, unit="frame", desc=job.video.name,
               file=sys.stdout, mininterval=1.0, disable=not config.progress)
    try:
        for indices, batch in batches:
            poses.add(indices, poses.predict(batch))
            done, unsaved = indices[-1] + 1, unsaved + len(indices)
            bar.update(len(indices))
            if unsaved >= config.save_every:
                job.save_partial(poses)
                unsaved = 0
            if on_batch is not None:
                on_batch(done)
    except BaseException:
        if done > start:
            job.save_partial(poses)
        raise
    finally:
        batches.close()
        bar.close()
    return _Run(start, done, batches.reader.truncated, time.perf_counter() - began,
                batches.wait_s)


def _finish(job: _Job, run: _Run, poses) -> dict[str, Any]:
    """Write the table and the metadata; warn if the video was truncated."""
    video, info, config, files = job.video, job.info, job.config, job.files
    if run.done == 0:
        raise ValueError(
            f"No frame of {video} could be decoded although its header declares "
            f"{info.num_frames}. The file is damaged or truncated; copy or re-encode it."
        )
    df = poses.table(job.settings["scorer"])  # multi-animal: tracked and stitched here
    save_analysis(files.h5, df)
    if config.save_csv:
        with atomic_path(files.csv) as tmp:
            df.to_csv(tmp)
    seconds = max(run.seconds, 1e-9)
    metadata = {
        **job.settings, "video": str(video.resolve()),
        "model_dir": str(job.predictor.model_dir.resolve()),
        "train_steps": job.predictor.train_steps, "fps": info.fps,
        "num_frames_analyzed": run.done, "truncated": bool(run.truncated),
        "batch_size": config.batch_size, "resumed_from_frame": run.start,
        "run_time_s": round(run.seconds, 3),
        "frames_per_s": round((run.done - run.start) / seconds, 3),
        "wait_fraction": round(run.wait_s / seconds, 4),
        "keras_backend": keras.backend.backend(), "date": _dt.datetime.now().isoformat(),
    }
    atomic_write_text(files.meta, json.dumps(metadata, indent=1))
    if run.truncated:
        warnings.warn(
            f"{video} ended after {run.done} of the {info.num_frames} frames its header declares "
            f"(a truncated or damaged file). {files.h5.name} holds those {run.done} frames and "
            "its metadata says truncated: true.", stacklevel=3)
    return metadata


def results_table(results: Sequence[AnalysisResult]) -> pd.DataFrame:
    """One row per video: frames, speed, truncation, output file."""
    keys = ["num_frames_analyzed", "truncated", "frames_per_s", "wait_fraction", "batch_size"]
    return pd.DataFrame([{"video": r.video.name, "skipped": r.skipped,
                          **{k: r.metadata.get(k) for k in keys}, "h5": r.h5.name}
                         for r in results])
