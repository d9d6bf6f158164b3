"""Reading a video on several cores: decoding and scaling on worker threads, frames still in
order.

One core decodes a 640x480 video at ~300-500 frames/s but decodes *and scales* it (to the
network's scale) at only ~180: the scaling is most of the work. :class:`ParallelFrameReader`
is a pipeline: decoders read the frames in order, ``num_workers`` threads apply
``transform`` (crop, scale) to them, and the results come out in frame order (at most
``2 * num_workers`` frames in flight). OpenCV releases the GIL while it decodes, converts
and resizes, so the threads run on separate cores.

Past a few cores one decoder is the limit (a dozen cores are needed to feed a GPU at
2,000 frames/s), so ``num_decoders`` > 1 splits ``start:stop:step`` into chunks of
``chunk_frames`` consecutive frames; each decoder takes the next chunk, opens its own
:class:`kit.project.video.FrameReader` on it (one seek to its first frame, then sequential
reading, which is exact), and the chunks are taken in order. At most ``num_decoders + 1``
chunks are in flight, which bounds memory however long the video. A seek costs about one
group of pictures of decoding (measured ~25 frames for kit's mp4v files), so chunked
decoding pays only when decoding alone is the bottleneck; the default uses one decoder
per 4 workers.

A video whose header declares more frames than it holds stops where the frames stop, with
``truncated`` set, as :class:`FrameReader` does.
"""

from __future__ import annotations

import itertools
import os
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from typing import Self, TypeVar

import numpy as np

from kit.project.video import FrameReader, video_info

Transform = Callable[[np.ndarray], np.ndarray]
T, R = TypeVar("T"), TypeVar("R")


def usable_cores() -> int:
    """CPU cores this process may use (its affinity where the system has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def default_read_workers() -> int:
    """Decode workers by default: one per CPU core this process may use, at most 16."""
    return min(usable_cores(), 16)


def map_ahead(function: Callable[[T], R], items: Iterable[T], num_workers: int,
              name: str = "kit-workers") -> Iterator[R]:
    """``function(item)`` for each of ``items``, in their order, computed ahead on
    ``num_workers`` threads (kit's frame workers and its training batches).

    At most ``2 * num_workers`` results are in flight (a bounded queue of futures); ``items``
    is drawn on the calling thread. ``num_workers=0`` calls ``function`` on the calling
    thread when a result is asked for. An error in a worker is raised here; closing the
    iterator (or leaving a ``for`` loop) cancels the calls not started and waits for the
    running ones.
    """
    if num_workers < 0:
        raise ValueError(f"num_workers must be >= 0. Received: {num_workers}.")
    if num_workers == 0:
        yield from map(function, items)
        return
    items = iter(items)
    with ThreadPoolExecutor(num_workers, thread_name_prefix=name) as pool:
        pending = deque(pool.submit(function, item)
                        for item in itertools.islice(items, 2 * num_workers))
        try:
            while pending:
                result = pending.popleft().result()
                for item in itertools.islice(items, 1):
                    pending.append(pool.submit(function, item))
                yield result
        finally:
            for future in pending:
                future.cancel()


@dataclass(frozen=True)
class _ChunkEnd:
    truncated: bool


class ParallelFrameReader:
    """Iterate over ``(frame_index, transform(frame))`` of a video, decoded and transformed
    on worker threads, in frame order.

    Args:
        path: the video.
        start: the first frame; frames ``start``, ``start + step``, ... below ``stop``
            are read, as :class:`kit.project.video.FrameReader` reads them.
        stop: the end (default: the declared frame count).
        step: frames between two read.
        num_workers: threads applying ``transform``; 1 reads and transforms on the calling
            thread (no threads of kit's), as ``FrameReader``. Every decoder runs one
            FFmpeg thread, so the workers are the cores used (FFmpeg's own frame threads
            would add their own on top, uncounted).
        transform: applied to every RGB uint8 (H, W, 3) frame (e.g. crop and scale); None
            keeps the frame.
        num_decoders: decoders, each reading chunks of ``chunk_frames`` consecutive frames
            with its own seek; 0: one per 4 workers (at least one).
        chunk_frames: consecutive frames per chunk when there are several decoders.

    Attributes:
        info: the video's :class:`kit.project.video.VideoInfo`.
        num_read: frames yielded so far.
        truncated: True once the video ended before ``stop`` (fewer frames than declared).

    Use it as a context manager (or call :meth:`close`) to stop the threads early.
    """

    def __init__(  # size: FrameReader's range, then the pipeline's settings (keyword-only)
        self, path: str | os.PathLike, start: int = 0, stop: int | None = None, step: int = 1,
        num_workers: int = 1, transform: Transform | None = None, *, num_decoders: int = 0,
        chunk_frames: int = 64,
    ) -> None:
        if start < 0 or step < 1 or (stop is not None and stop < start):
            raise ValueError(f"Need 0 <= start <= stop and step >= 1. Received: start={start}, "
                             f"stop={stop}, step={step}.")
        if num_workers < 1 or num_decoders < 0 or chunk_frames < 1:
            raise ValueError(f"Need num_workers >= 1, num_decoders >= 0 (0: automatic) and "
                             f"chunk_frames >= 1. Received: num_workers={num_workers}, "
                             f"num_decoders={num_decoders}, chunk_frames={chunk_frames}.")
        self.info = video_info(path)
        self.path, self.start, self.step = self.info.path, start, step
        self.stop = self.info.num_frames if stop is None else min(stop, self.info.num_frames)
        self.num_workers, self.chunk_frames = num_workers, chunk_frames
        self.num_decoders = num_decoders or max(1, num_workers // 4)
        self.transform = transform
        self.num_read = 0
        self.truncated = False
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._frames = self._transformed()

    def _transformed(self) -> Iterator[tuple[int, np.ndarray]]:
        decoded = self._sequential() if self.num_decoders == 1 else self._chunked()
        if self.transform is None or self.num_workers == 1:
            for index, frame in decoded:
                self.num_read += 1
                yield index, frame if self.transform is None else self.transform(frame)
            return
        transform = self.transform
        try:
            with closing(map_ahead(lambda item: (item[0], transform(item[1])), decoded,
                                   self.num_workers, "kit-frames")) as transformed:
                for index, frame in transformed:
                    self.num_read += 1
                    yield index, frame
        finally:
            self._stop_decoders()

    def _sequential(self) -> Iterator[tuple[int, np.ndarray]]:
        with FrameReader(self.path, self.start, self.stop, self.step,
                         decode_threads=1) as reader:
            yield from reader
        self.truncated = reader.truncated

    def _chunked(self) -> Iterator[tuple[int, np.ndarray]]:
        indices = range(self.start, self.stop, self.step)
        chunks = [indices[i:i + self.chunk_frames]
                  for i in range(0, len(indices), self.chunk_frames)]
        outputs: list[queue.Queue | None] = [queue.Queue() for _ in chunks]
        window = threading.Semaphore(self.num_decoders + 1)  # chunks in flight
        claim = iter(range(len(chunks)))
        lock = threading.Lock()
        for number in range(min(self.num_decoders, len(chunks))):
            thread = threading.Thread(target=self._decode, args=(chunks, outputs, window, claim,
                                                                 lock),
                                      name=f"decode {self.path.name} {number}", daemon=True)
            thread.start()
            self._threads.append(thread)
        try:
            for number in range(len(chunks)):
                end = yield from _drain(outputs[number])
                outputs[number] = None  # its frames are gone; free the queue
                window.release()
                if end.truncated:
                    self.truncated = True
                    return
        finally:
            self._stop_decoders()

    def _decode(self, chunks: list[range], outputs: list, window: threading.Semaphore,
                claim: Iterator[int], lock: threading.Lock) -> None:
        # Seven parameters: the shared state of one read, passed rather than kept on self.
        while not self._stop.is_set():
            if not window.acquire(timeout=0.1):
                continue
            with lock:
                number = next(claim, None)
            if number is None:
                return
            output, chunk = outputs[number], chunks[number]
            try:
                with FrameReader(self.path, chunk.start, chunk.stop, self.step,
                                 decode_threads=1) as reader:
                    for item in reader:
                        if self._stop.is_set():
                            return
                        output.put(item)
                output.put(_ChunkEnd(reader.truncated))
            except Exception as error:  # noqa: BLE001 (handed to the consumer, which raises it)
                output.put(error)
                return

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> tuple[int, np.ndarray]:
        return next(self._frames)

    def close(self) -> None:
        """Stop the threads and release the files (waits for them)."""
        self._stop_decoders()
        self._frames.close()  # its transform workers too

    def _stop_decoders(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()
        self._threads = []

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _drain(output: queue.Queue) -> Iterator[tuple[int, np.ndarray]]:
    """The frames of one chunk as its decoder puts them; returns its :class:`_ChunkEnd`."""
    while True:
        item = output.get()
        if isinstance(item, _ChunkEnd):
            return item
        if isinstance(item, BaseException):
            raise item
        yield item
