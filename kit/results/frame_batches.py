"""The reader thread of video analysis: frames -> crop, downscale, network scale -> batches.

Decoding overlaps inference: the thread fills a bounded queue (so memory stays flat however
long the video) while the main thread runs the network on what it takes out. With
``num_workers`` > 1 the frames are decoded and scaled on that many worker threads
(:class:`kit.project.video_workers.ParallelFrameReader`), still in frame order, so the
network is not left waiting on one core's decoding.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from kit.net.data import scale_image
from kit.project.video_workers import ParallelFrameReader

_END = object()  # the reader thread's last item


class BatchSettings(Protocol):
    """What the reader needs of :class:`kit.results.analyze.AnalyzeConfig` (named here, not
    imported: analyze imports this module)."""

    crop: tuple[int, int, int, int] | None
    downscale: float
    batch_size: int
    queue_batches: int
    max_frames: int | None
    num_workers: int


class FrameBatches:
    """Reader thread: frames -> crop, downscale, network scale -> batches in a bounded queue
    (frames decoded and scaled on ``config.num_workers`` threads)."""

    def __init__(self, video: Path, start: int, config: BatchSettings, global_scale: float):
        self.config, self.global_scale = config, global_scale
        self.reader = ParallelFrameReader(video, start=start, stop=config.max_frames,
                                          num_workers=config.num_workers,
                                          transform=self._prepare)
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
                batch.append(frame)
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
        """Stop the reading thread and wait for it."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
