"""Video analysis: a trained network over every frame of videos, saved as DeepLabCut saves it.

Frames are decoded on a reader thread (:class:`kit.project.video.FrameReader`), cropped,
downscaled and resized for the network there, and handed over in batches through
a bounded queue while the main thread runs the network, so decoding overlaps
inference and memory stays flat however long the video.

Files per video, named by :meth:`kit.project.Project.analysis_file`, beside the
video or in ``output_dir`` (``<name>`` = ``<video stem>DLC_resnet50_<Task><date>shuffle<k>_<steps>``):

- ``<name>.h5`` (key ``df_with_missing``): DeepLabCut's table, index = frame number
  0..N-1, columns (scorer, bodyparts, coords) with coords x, y (full-frame pixels)
  and likelihood; ``<name>.csv`` too if asked.
- ``<name>_meta.json``: video size, fps, frame count, model, crop, speed, and
  ``truncated`` (the video ended before the frame count its header declares).
- ``<name>.partial.h5`` while running: the frames done so far, saved every
  ``save_every`` frames and when interrupted; a new run resumes from it.

Every file is written atomically. A video already analysed by the same model is
skipped unless ``overwrite``.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import queue
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd
from tqdm import tqdm

from kit.net.data import scale_image
from kit.net.predict import Predictor
from kit.project import Project, atomic_path, atomic_write_text
from kit.project.analysis_file import load_partial_points, predictions_frame, save_analysis
from kit.project.video import FrameReader, video_info

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".mpg", ".mpeg", ".m4v")
_END = object()  # the reader thread's last item


@dataclass(frozen=True)
class AnalyzeConfig:
    """Settings of :func:`analyze_videos` (saved, with the speed, in each ``_meta.json``).

    Attributes:
        shuffle, train_fraction: which trained model.
        batch_size: frames per network call.
        crop: ``(x1, x2, y1, y2)`` full-frame pixels to analyse (DeepLabCut's order),
            or None for the whole frame; coordinates are saved in full-frame pixels.
        downscale: frames are shrunk by this factor before the network (2 = half
            width and height); coordinates are mapped back.
        save_csv: also write ``<name>.csv``.
        overwrite: analyse again videos already analysed by this model.
        save_every: frames between saves of the ``.partial.h5`` sidecar.
        queue_batches: batches the reader thread may prepare ahead.
        output_dir: folder for the output files; None = beside each video.
        max_frames: analyse only the first ``max_frames`` frames (None: all).
        progress: show a progress bar (frames per second).
    """

    shuffle: int = 1
    train_fraction: float = 0.95
    batch_size: int = 8
    crop: tuple[int, int, int, int] | None = None
    downscale: float = 1.0
    save_csv: bool = False
    overwrite: bool = False
    save_every: int = 1000
    queue_batches: int = 4
    output_dir: str | None = None
    max_frames: int | None = None
    progress: bool = True

    def __post_init__(self):
        if self.batch_size < 1 or self.save_every < 1 or self.queue_batches < 1:
            raise ValueError(
                "batch_size, save_every and queue_batches must be >= 1. Received: batch_size="
                f"{self.batch_size}, save_every={self.save_every}, queue_batches={self.queue_batches}."
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
    model_dir = project.model_dir(config.shuffle, config.train_fraction)
    if not (model_dir / "model.keras").is_file():
        raise FileNotFoundError(
            f"No trained model for shuffle={config.shuffle}, train_fraction="
            f"{config.train_fraction} (expected {model_dir / 'model.keras'}). Train it first "
            "(notebooks/03_train.ipynb or kit.net.train.train), or pass the shuffle and "
            "train_fraction you trained."
        )
    return Predictor(model_dir)


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


class _FrameBatches:
    """Reader thread: frames -> crop, downscale, network scale -> batches in a bounded queue."""

    def __init__(self, video: Path, start: int, config: AnalyzeConfig, global_scale: float):
        self.reader = FrameReader(video, start=start, stop=config.max_frames)
        self.config, self.global_scale = config, global_scale
        self.queue: queue.Queue = queue.Queue(maxsize=config.queue_batches)
        self.wait_s = 0.0  # time the network waited for frames
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._produce, name=f"read {video.name}",
                                        daemon=True)

    def _prepare(self, frame: np.ndarray) -> np.ndarray:
        if self.config.crop is not None:
            x1, x2, y1, y2 = self.config.crop
            frame = np.ascontiguousarray(frame[y1:y2, x1:x2])
        frame = scale_image(frame, 1.0 / self.config.downscale)
        return scale_image(frame, self.global_scale)

    def _produce(self) -> None:
        try:
            indices, batch = [], []
            for index, frame in self.reader:
                if self._stop.is_set():
                    return
                indices.append(index)
                batch.append(self._prepare(frame))
                if len(batch) == self.config.batch_size:
                    self._put((indices, np.stack(batch)))
                    indices, batch = [], []
            if batch:
                self._put((indices, np.stack(batch)))
            self._put(_END)
        except Exception as error:  # noqa: BLE001 (handed to the main thread, which raises it)
            self._put(error)
        finally:
            self.reader.close()

    def _put(self, item: Any) -> None:
        while not self._stop.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def __iter__(self) -> Iterator[tuple[list[int], np.ndarray]]:
        self._thread.start()
        while True:
            started = time.perf_counter()
            item = self.queue.get()
            self.wait_s += time.perf_counter() - started
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


def _settings(config, predictor, info, scorer) -> dict[str, Any]:
    """What must match for a partial or finished result to count as this analysis."""
    return {"scorer": scorer, "model": f"{predictor.model_dir.parent.name}/{predictor.model_dir.name}",
            "crop": list(config.crop) if config.crop else None, "downscale": config.downscale,
            "max_frames": config.max_frames, "num_frames": info.num_frames,
            "width": info.width, "height": info.height}


def _finished(h5: Path, meta: Path, settings: dict) -> dict | None:
    """The metadata of a finished analysis with these settings; raises if settings differ."""
    if not (h5.is_file() and meta.is_file()):
        return None
    metadata = json.loads(meta.read_text())
    diff = {k: (metadata.get(k), v) for k, v in settings.items() if metadata.get(k) != v}
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
    predictor = predictor or load_predictor(project, config)
    video = Path(video)
    info = video_info(video)
    _check_crop(config.crop, info)
    scorer = project.analysis_scorer(config.shuffle, predictor.train_steps, predictor.net_type)
    h5, meta, csv, partial = (project.analysis_file(video, scorer, s, config.output_dir)
                              for s in (".h5", "_meta.json", ".csv", ".partial.h5"))
    h5.parent.mkdir(parents=True, exist_ok=True)
    settings = _settings(config, predictor, info, scorer)
    for stale in h5.parent.glob(".tmp*"):  # left by a run killed while saving this video's files
        if stale.name.split("-", 1)[-1].startswith(h5.stem):
            stale.unlink(missing_ok=True)
    if not config.overwrite and (done := _finished(h5, meta, settings)) is not None:
        return AnalysisResult(video, h5, done, skipped=True)
    num_parts = len(predictor.bodyparts)
    points = np.full((min(info.num_frames, config.max_frames or info.num_frames), num_parts, 3),
                     np.nan)
    previous = None if config.overwrite else load_partial_points(partial, settings, num_parts)
    start = 0 if previous is None else len(previous)
    if previous is not None:
        points[:start] = previous
    run = _infer(video, predictor, config, points, start, _Saver(partial, scorer, predictor,
                                                                  settings), on_batch)
    metadata = _finish(video, info, config, predictor, settings, run, points, (h5, meta, csv))
    partial.unlink(missing_ok=True)
    return AnalysisResult(video, h5, metadata)


@dataclass
class _Saver:
    """Saves the frames done so far to the ``.partial.h5`` sidecar."""

    path: Path
    scorer: str
    predictor: Predictor
    settings: dict

    def __call__(self, points: np.ndarray) -> None:
        df = predictions_frame(points, range(len(points)), self.scorer, self.predictor.bodyparts)
        save_analysis(self.path, df, self.settings)


def _infer(video, predictor, config, points, start, save, on_batch) -> dict[str, Any]:
    """The loop: network on each batch from the reader thread; returns counts and timings."""
    batches = _FrameBatches(video, start, config, predictor.global_scale)
    offset = np.array([config.crop[0], config.crop[2]] if config.crop else [0, 0], np.float64)
    done, unsaved, began = start, 0, time.perf_counter()
    bar = tqdm(total=len(points), initial=start, unit="frame", desc=video.name, file=sys.stdout,
               mininterval=1.0, disable=not config.progress)
    try:
        for indices, batch in batches:
            out = predictor.predict_scaled(batch)
            out[..., :2] = out[..., :2] * config.downscale + offset
            points[indices[0]:indices[-1] + 1] = out
            done, unsaved = indices[-1] + 1, unsaved + len(indices)
            bar.update(len(indices))
            if unsaved >= config.save_every:
                save(points[:done])
                unsaved = 0
            if on_batch is not None:
                on_batch(done)
    except BaseException:
        if done > start:
            save(points[:done])
        raise
    finally:
        batches.close()
        bar.close()
    seconds = time.perf_counter() - began
    return {"start": start, "done": done, "truncated": batches.reader.truncated,
            "seconds": seconds, "wait_s": batches.wait_s}


def _finish(video, info, config, predictor, settings, run, points, paths) -> dict[str, Any]:
    """Write the table and the metadata; warn if the video was truncated."""
    h5, meta, csv = paths
    done = run["done"]
    if done == 0:
        raise ValueError(
            f"No frame of {video} could be decoded although its header declares "
            f"{info.num_frames}. The file is damaged or truncated; copy or re-encode it."
        )
    df = predictions_frame(points[:done], range(done), settings["scorer"], predictor.bodyparts)
    save_analysis(h5, df)
    if config.save_csv:
        with atomic_path(csv) as tmp:
            df.to_csv(tmp)
    seconds, analysed = run["seconds"], done - run["start"]
    metadata = {
        **settings, "video": str(video.resolve()), "model_dir": str(predictor.model_dir.resolve()),
        "train_steps": predictor.train_steps, "fps": info.fps,
        "num_frames_analyzed": done, "truncated": bool(run["truncated"]),
        "batch_size": config.batch_size, "resumed_from_frame": run["start"],
        "run_time_s": round(seconds, 3), "frames_per_s": round(analysed / max(seconds, 1e-9), 3),
        "wait_fraction": round(run["wait_s"] / max(seconds, 1e-9), 4),
        "keras_backend": keras.backend.backend(), "date": _dt.datetime.now().isoformat(),
    }
    atomic_write_text(meta, json.dumps(metadata, indent=1))
    if run["truncated"]:
        warnings.warn(
            f"{video} ended after {done} of the {info.num_frames} frames its header declares "
            f"(a truncated or damaged file). {h5.name} holds those {done} frames and its "
            "metadata says truncated: true.", stacklevel=3)
    return metadata


def results_table(results: Sequence[AnalysisResult]) -> pd.DataFrame:
    """One row per video: frames, speed, truncation, output file."""
    keys = ["num_frames_analyzed", "truncated", "frames_per_s", "wait_fraction", "batch_size"]
    return pd.DataFrame([{"video": r.video.name, "skipped": r.skipped,
                          **{k: r.metadata.get(k) for k in keys}, "h5": r.h5.name}
                         for r in results])
