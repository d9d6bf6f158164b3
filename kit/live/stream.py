"""A stream through the live predictor: a video file or a camera, frame by frame as they
come, with the latency of every frame, progress as it goes, a latency table and stills.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from kit.live.predictor import LivePredictor
from kit.project.drawing import PoseStyle, draw_pose
from kit.project import atomic_write_text
from kit.project.video import iter_frames, save_image, video_info


def camera_frames(index: int, num_frames: int) -> Iterator[np.ndarray]:
    """Up to ``num_frames`` RGB uint8 frames from camera ``index`` (OpenCV's numbering).

    (kit.project.video reads files; a camera is opened here, the only place kit needs one.)
    """
    cap = cv2.VideoCapture(index)
    if not cap.isOpened():
        raise ValueError(f"Camera {index} cannot be opened. Received: source={index!r}. "
                         "Check the camera is plugged in and free, or pass a video file.")
    try:
        for _ in range(num_frames):
            ok, bgr = cap.read()
            if not ok:
                return
            yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    finally:
        cap.release()


def open_source(source: str | Path | int, num_frames: int) -> Iterator[np.ndarray]:
    """Frames of a video file, or of a camera when ``source`` is an int or a string of digits."""
    if isinstance(source, int) or str(source).isdigit():
        return camera_frames(int(source), num_frames)
    return (frame for _, frame in iter_frames(source, 0, num_frames))


def frame_hw(source: str | Path | int) -> tuple[int, int]:
    """(height, width) of the frames of ``source`` (:func:`open_source`): a video's header,
    or a camera's first frame."""
    if isinstance(source, int) or str(source).isdigit():
        frame = next(camera_frames(int(source), 1), None)
        if frame is None:
            raise ValueError(f"Camera {source} gave no frame. Check it, or pass a video file.")
        return frame.shape[:2]
    info = video_info(source)
    return info.height, info.width


@dataclass
class StreamResult:
    """What a stream gave.

    Attributes:
        poses: (num_frames, rows, num_bodyparts, 3) as get_pose returned them (rows: 1, or
            a multi-animal model's individuals then ``single``).
        latency_s: (num_frames,) seconds from each frame's arrival to its pose.
        cropped: (num_frames,) bool, whether dynamic cropping was used on each frame.
        wall_s: seconds of the whole stream, reading frames included.
        stills: {frame index: RGB uint8 frame} of the frames kept for stills.
    """

    poses: np.ndarray
    latency_s: np.ndarray
    cropped: np.ndarray
    wall_s: float
    stills: dict[int, np.ndarray] = field(default_factory=dict)


def run_stream(predictor: LivePredictor, frames: Iterable[np.ndarray],
               keep: Iterable[int] = (), report_every: int = 50) -> StreamResult:
    """Every frame of ``frames`` through ``predictor.get_pose``, printing latency and frames
    per second every ``report_every`` frames (0: never); frames whose index is in ``keep``
    are kept for stills."""
    keep = set(keep)
    poses, latency, cropped, stills = [], [], [], {}
    start = time.perf_counter()
    for i, frame in enumerate(frames):
        poses.append(predictor.get_pose(frame))
        latency.append(predictor.latency_s)
        cropped.append(predictor.box is not None)
        if i in keep:
            stills[i] = frame
        if report_every and (i + 1) % report_every == 0:
            _report(i + 1, poses[-1], latency[-report_every:], cropped[-report_every:],
                    time.perf_counter() - start)
    num_parts = len(predictor.bodyparts)
    return StreamResult(np.array(poses).reshape(len(poses), -1, num_parts, 3), np.array(latency),
                        np.array(cropped, bool), time.perf_counter() - start, stills)


def _report(num_frames: int, pose: np.ndarray, latency: list[float], cropped: list[bool],
            elapsed_s: float) -> None:
    found = np.isfinite(pose[..., 0]).any(-1)  # rows with an animal (or unique parts)
    where = "; ".join(", ".join(f"({x:.0f}, {y:.0f})" for x, y in row[:, :2] if np.isfinite(x))
                      for row in pose[found])
    likelihood = np.nanmean(pose[..., 2]) if found.any() else np.nan
    animals = f"{found.sum()} of {len(pose)} rows found, " if len(pose) > 1 else ""
    print(f"frame {num_frames}: latency {1000 * np.mean(latency):.1f} ms, "
          f"{num_frames / elapsed_s:.1f} frames/s, cropped {np.mean(cropped):.0%}, {animals}"
          f"likelihood {likelihood:.2f}, parts at {where}", flush=True)


def latency_summary(latency_s: np.ndarray) -> dict[str, float]:
    """Mean, sd and 99th percentile in ms, and frames per second (1 / mean), of a stream's
    latencies in seconds, the first call excluded (it may include compilation)."""
    rest = np.asarray(latency_s, float)[1:]
    if rest.size == 0:
        raise ValueError(f"Need at least 2 frames for a latency summary. Received: "
                         f"{len(latency_s)}.")
    return {"frames": rest.size, "mean_ms": 1000 * rest.mean(), "sd_ms": 1000 * rest.std(),
            "p99_ms": 1000 * np.percentile(rest, 99), "fps": 1 / rest.mean()}


def latency_table(results: dict[str, StreamResult]) -> pd.DataFrame:
    """One row of :func:`latency_summary` per named stream, plus the stream's own frames per
    second (reading included) and the fraction of frames cropped."""
    rows = []
    for name, result in results.items():
        rows.append({"stream": name, **latency_summary(result.latency_s),
                     "stream_fps": len(result.latency_s) / result.wall_s,
                     "cropped": float(result.cropped.mean())})
    return pd.DataFrame(rows).set_index("stream").round(2)


def save_latency_table(table: pd.DataFrame, path: str | Path) -> Path:
    """Write :func:`latency_table`'s table as CSV (atomically); return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, table.to_csv())
    return path


def save_stills(result: StreamResult, folder: str | Path, style: PoseStyle,
                bodyparts: list[str]) -> list[Path]:
    """The kept frames with their poses drawn, as ``<folder>/live_frame<index>.png``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    points = result.poses  # (frames, individuals, bodyparts, 3), as draw_pose takes them
    return [save_image(folder / f"live_frame{i:05d}.png", draw_pose(frame, points, i, style,
                                                                    bodyparts))
            for i, frame in sorted(result.stills.items())]
