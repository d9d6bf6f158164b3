"""Videos: reading, writing, and picking frames to label (OpenCV).

Frames are RGB ``uint8`` arrays of shape (height, width, 3) everywhere in kit;
the BGR order OpenCV uses stays inside this module. Frame indices count from 0.

Reading is sequential (``grab``/``retrieve``), which is exact and fast for the
compressed formats animal videos come in; seeking is used only to jump over
long gaps. A video that ends before the frame count its header declares (a
truncated or half-copied file) is not silent: :class:`FrameReader` records it in
``.truncated``, and :func:`read_frames` raises.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import cv2
import numpy as np

from kit.project import Project, atomic_path

FOURCC = "mp4v"
KMEANS_WIDTH = 30  # frames are shrunk to this many pixels wide before clustering
KMEANS_MAX_READ = 1000  # at most this many frames are read to cluster
_SEEK_GAP = 30  # jump with a seek when the next wanted frame is further ahead than this
_IMAGE_NAME = re.compile(r"img(\d+)\.png")


@dataclass(frozen=True)
class VideoInfo:
    """What a video's header declares: frames per second, frame count, frame size in pixels."""

    path: Path
    fps: float
    num_frames: int
    width: int
    height: int


def _open(path: str | os.PathLike) -> tuple[cv2.VideoCapture, VideoInfo]:
    path = Path(path)
    if not path.is_file():
        raise ValueError(
            f"No video at {path}. Check the path (relative paths start from {Path.cwd()})."
        )
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
    ``num_read`` counts the frames yielded. Use it as a context manager (or call
    :meth:`close`) to release the file early::

        with FrameReader("mouse.mp4") as reader:
            for index, frame in reader:
                ...
        if reader.truncated:
            ...  # fewer frames than reader.info.num_frames

    Raises:
        ValueError: bad arguments, or see :func:`video_info`.
    """

    def __init__(
        self, path: str | os.PathLike, start: int = 0, stop: int | None = None, step: int = 1
    ) -> None:
        if start < 0 or step < 1 or (stop is not None and stop < start):
            raise ValueError(
                f"Need 0 <= start <= stop and step >= 1. Received: start={start}, stop={stop}, "
                f"step={step}."
            )
        self._cap, self.info = _open(path)
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


def frame_image_name(frame_index: int, num_video_frames: int) -> str:
    """DeepLabCut's name for an extracted frame: ``img`` + index zero-padded + ``.png``.

    Padded to the number of digits of the video's frame count: frame 42 of a
    1000-frame video is ``img0042.png``.
    """
    return f"img{frame_index:0{len(str(num_video_frames))}d}.png"


# --- picking frames to label -------------------------------------------------------


def _frame_range(info: VideoInfo, start: float, stop: float) -> range:
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
    start: float = 0.0,
    stop: float = 1.0,
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
        start, stop: the part of the video to pick from, as fractions of its length.
        seed: seeds k-means; the same seed gives the same picks.
        exclude: frame indices never picked (e.g. frames already extracted).
    """
    if method not in PICK_METHODS:
        raise ValueError(f"Unknown method={method!r}. Choose one of {sorted(PICK_METHODS)}.")
    info = video_info(path)
    frames = _frame_range(info, start, stop)
    candidates = np.setdiff1d(np.arange(frames.start, frames.stop), np.asarray(exclude, dtype=int))
    if not 1 <= num_frames <= len(candidates):
        raise ValueError(
            f"Cannot pick num_frames={num_frames} from {len(candidates)} available frames of "
            f"{info.path} (frames {frames.start}-{frames.stop - 1}, {len(exclude)} excluded). "
            "Ask for fewer frames or widen start/stop."
        )
    return PICK_METHODS[method](candidates, num_frames, info.path, seed)


def extracted_frame_indices(project: Project, video: str) -> list[int]:
    """Frame indices already extracted to ``labeled-data/<video>/`` (from ``img<N>.png`` names)."""
    folder = project.labeled_data_dir(video)
    if not folder.is_dir():
        return []
    return sorted(int(m.group(1)) for p in folder.iterdir() if (m := _IMAGE_NAME.fullmatch(p.name)))


def extract_frames(
    project: Project,
    video_path: str | os.PathLike,
    num_frames: int,
    method: str = "uniform",
    start: float = 0.0,
    stop: float = 1.0,
    seed: int = 0,
) -> list[Path]:
    """Pick frames of a video (see :func:`pick_frames`) and save them for labeling.

    Writes ``labeled-data/<video stem>/img<N>.png`` as DeepLabCut names them (see
    :func:`frame_image_name`). Frames already extracted are never picked again
    and no existing file is overwritten, so running it again adds new frames and
    keeps labeled ones. Returns the paths written, in frame order.
    """
    video_path = Path(video_path)
    info = video_info(video_path)
    done = extracted_frame_indices(project, video_path.stem)
    indices = pick_frames(video_path, num_frames, method, start, stop, seed, exclude=done)
    folder = project.labeled_data_dir(video_path.stem)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for index, frame in read_frames(video_path, indices).items():
        target = folder / frame_image_name(index, info.num_frames)
        if not target.exists():
            written.append(save_image(target, frame))
    return written
