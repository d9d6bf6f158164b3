"""Videos: reading and writing them, and saving images (OpenCV).

Frames are RGB ``uint8`` arrays of shape (height, width, 3) everywhere in kit;
the BGR order OpenCV uses stays inside this module. Frame indices count from 0.

Reading is sequential (``grab``/``retrieve``), which is exact and fast for the
compressed formats animal videos come in; seeking is used only to jump over
long gaps. A video that ends before the frame count its header declares (a
truncated or half-copied file) is not silent: :class:`FrameReader` records it in
``.truncated``, and :func:`read_frames` raises.

Reading on several cores (decode and scale workers, frames still in order) is
:class:`kit.project.video_workers.ParallelFrameReader`, built on :class:`FrameReader`.
Picking frames to label and extracting them into a project is in
:mod:`kit.project.frame_picking`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import cv2
import numpy as np

from kit.project import atomic_path

FOURCC = "mp4v"
_SEEK_GAP = 30  # jump with a seek when the next wanted frame is further ahead than this


@dataclass(frozen=True)
class VideoInfo:
    """What a video's header declares: frames per second, frame count, frame size in pixels."""

    path: Path
    fps: float
    num_frames: int
    width: int
    height: int


def _open(
    path: str | os.PathLike, decode_threads: int = 0
) -> tuple[cv2.VideoCapture, VideoInfo]:
    path = Path(path)
    if not path.is_file():
        raise ValueError(
            f"No video at {path}. Check the path (relative paths start from {Path.cwd()})."
        )
    if decode_threads > 0:  # 0: OpenCV's default (FFmpeg's threads, one per core)
        cap = cv2.VideoCapture(str(path), cv2.CAP_ANY, [cv2.CAP_PROP_N_THREADS, decode_threads])
    else:
        cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        cap.release()
        raise ValueError(
            f"{path} cannot be opened as a video: it is not a video, is truncated (copy it again), "
            "or uses a codec OpenCV cannot read (convert it, e.g. `ffmpeg -i in.avi -c:v libx264 "
            "out.mp4`)."
        )
    info = VideoInfo(
        path=path,
        fps=float(cap.get(cv2.CAP_PROP_FPS)),
        num_frames=int(cap.get(cv2.CAP_PROP_FRAME_COUNT)),
        width=int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
        height=int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
    )
    if info.num_frames <= 0:
        cap.release()
        raise ValueError(
            f"{path} has no frames (its header declares {info.num_frames}). Record or copy it "
            "again, or re-encode it with ffmpeg so the frame count is written."
        )
    return cap, info


def video_info(path: str | os.PathLike) -> VideoInfo:
    """Read a video's header.

    Raises:
        ValueError: the file is missing, cannot be opened, or declares zero frames.
    """
    cap, info = _open(path)
    cap.release()
    return info


class FrameReader:
    """Iterate over ``(frame_index, frame)`` of a video, reading sequentially.

    ``frame`` is RGB uint8 (height, width, 3). Yields frames ``start``,
    ``start + step``, ... below ``stop`` (default: the declared frame count).
    If the video ends early, iteration stops and ``truncated`` becomes True;
    ``num_read`` counts the frames yielded. ``decode_threads`` > 0 caps the decoder's
    threads (0: OpenCV's default; :mod:`kit.project.video_workers` runs several readers of
    one thread each). Use it as a context manager (or call :meth:`close`) to release the
    file early::

        with FrameReader("mouse.mp4") as reader:
            for index, frame in reader:
                ...
        if reader.truncated:
            ...  # fewer frames than reader.info.num_frames

    Raises:
        ValueError: bad arguments, or see :func:`video_info`.
    """

    def __init__(
        self, path: str | os.PathLike, start: int = 0, stop: int | None = None, step: int = 1,
        *, decode_threads: int = 0,
    ) -> None:
        if start < 0 or step < 1 or (stop is not None and stop < start):
            raise ValueError(
                f"Need 0 <= start <= stop and step >= 1. Received: start={start}, stop={stop}, "
                f"step={step}."
            )
        self._cap, self.info = _open(path, decode_threads)
        self.start, self.step = start, step
        self.stop = self.info.num_frames if stop is None else min(stop, self.info.num_frames)
        self.num_read = 0
        self.truncated = False
        self._frames = self._generate()

    def _generate(self) -> Iterator[tuple[int, np.ndarray]]:
        position = 0
        if self.start > 0:
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, self.start)
            position = self.start
        for index in range(self.start, self.stop, self.step):
            while position <= index:
                if not self._cap.grab():
                    self.truncated = True
                    self.close()
                    return
                position += 1
            ok, bgr = self._cap.retrieve()
            if not ok:
                self.truncated = True
                self.close()
                return
            self.num_read += 1
            yield index, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        self.close()

    def __iter__(self) -> FrameReader:
        return self

    def __next__(self) -> tuple[int, np.ndarray]:
        return next(self._frames)

    def close(self) -> None:
        """Release the video file."""
        self._cap.release()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def iter_frames(
    path: str | os.PathLike, start: int = 0, stop: int | None = None, step: int = 1
) -> FrameReader:
    """Frames ``start:stop:step`` of a video as ``(frame_index, RGB uint8 (H, W, 3))``.

    Returns a :class:`FrameReader`: iterate over it, then check ``.truncated``
    to know whether the video ended before its declared frame count.
    """
    return FrameReader(path, start, stop, step)


def read_frames(path: str | os.PathLike, indices: Iterable[int]) -> dict[int, np.ndarray]:
    """Read a few frames by index: ``{frame_index: RGB uint8 (H, W, 3)}``, indices sorted.

    Reads forward, seeking only across gaps longer than ~1 s of video.

    Raises:
        ValueError: an index outside the video, or a frame that cannot be read
            (truncated video).
    """
    wanted = sorted({int(i) for i in indices})
    cap, info = _open(path)
    try:
        if wanted and (wanted[0] < 0 or wanted[-1] >= info.num_frames):
            raise ValueError(
                f"Frame indices must be in [0, {info.num_frames}) for {info.path}. "
                f"Received: {[i for i in wanted if not 0 <= i < info.num_frames][:5]}."
            )
        frames, position = {}, 0
        for index in wanted:
            if index - position > _SEEK_GAP:
                cap.set(cv2.CAP_PROP_POS_FRAMES, index)
                position = index
            ok = True
            while ok and position <= index:
                ok, position = cap.grab(), position + 1
            ok, bgr = cap.retrieve() if ok else (False, None)
            if not ok:
                raise ValueError(
                    f"Frame {index} of {info.path} cannot be read although the video declares "
                    f"{info.num_frames} frames: the file is truncated or damaged. Copy it again."
                )
            frames[index] = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        return frames
    finally:
        cap.release()


def _check_frame(frame: np.ndarray, shape: tuple[int, ...] | None, number: int) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(
            f"Frame {number} must be an RGB uint8 array (height, width, 3). "
            f"Received: dtype={frame.dtype}, shape={frame.shape}."
        )
    if shape is not None and frame.shape != shape:
        raise ValueError(
            f"All frames must have the size of the first, {shape}. Received: frame {number} "
            f"with shape {frame.shape}."
        )
    return frame


def write_video(path: str | os.PathLike, frames: Iterable[np.ndarray], fps: float) -> Path:
    """Write RGB uint8 (H, W, 3) frames to an mp4 (codec mp4v); return the path.

    Written to a temporary ``.mp4`` beside ``path`` and renamed when complete,
    so a crash never leaves half a video.
    """
    path = Path(path)
    if fps <= 0:
        raise ValueError(f"fps must be positive. Received: fps={fps!r}.")
    if path.suffix.lower() != ".mp4":
        raise ValueError(
            f"write_video writes mp4 files. Received: {path}; name it {path.stem}.mp4."
        )
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}.mp4")  # suffix picks the container
    writer, shape, count = None, None, 0
    try:
        for count, frame in enumerate(frames, start=1):
            frame = _check_frame(frame, shape, count - 1)
            if writer is None:
                shape = frame.shape
                size = (shape[1], shape[0])
                writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*FOURCC), fps, size)
                if not writer.isOpened():
                    raise ValueError(
                        f"OpenCV cannot write {FOURCC} video to {tmp}. Check the folder."
                    )
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        if writer is None:
            raise ValueError(f"No frames to write to {path}. Pass at least one frame.")
        writer.release()
        os.replace(tmp, path)
    finally:
        if writer is not None:
            writer.release()
        if tmp.exists():
            tmp.unlink()
    return path


def save_image(path: str | os.PathLike, image: np.ndarray) -> Path:
    """Save an RGB uint8 (H, W, 3) image atomically; the suffix picks the format (.png lossless)."""
    path = Path(path)
    image = _check_frame(image, None, 0)
    ok, data = cv2.imencode(path.suffix, cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError(f"OpenCV cannot encode an image as {path.suffix!r}. Use .png.")
    with atomic_path(path) as tmp:
        tmp.write_bytes(data.tobytes())
    return path


def load_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image as RGB uint8 (H, W, 3).

    Grayscale is repeated to 3 channels, an alpha channel dropped, 16-bit
    scaled to 8-bit. Paths with spaces or non-ASCII characters work.
    """
    path = Path(path)
    try:
        buffer = np.fromfile(path, dtype=np.uint8)
    except OSError as e:
        raise FileNotFoundError(
            f"Cannot read image {path}: {e}. Check the path, re-extract the frame, or delete its "
            "row from the label file."
        ) from e
    image = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED) if buffer.size else None
    if image is None:
        raise ValueError(
            f"{path} is not a readable image (empty or corrupted). Re-extract the frame or "
            "remove its row from the label file."
        )
    if image.dtype == np.uint16:
        image = (image / 257.0).round().astype(np.uint8)
    elif image.dtype != np.uint8:
        raise ValueError(f"{path}: unsupported pixel type {image.dtype}; save it as 8-bit PNG.")
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
