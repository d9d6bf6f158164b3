"""The video reader on several cores: frames/s decoding and scaling a 640x480 video with
1, 2, ... decode workers (:class:`kit.project.video_workers.ParallelFrameReader`), and the
ratio to one worker.

The video is written once (``--frames`` frames of 640x480, mp4v as kit writes videos,
moving gradients, a moving disc and pixel noise so the decoder has work) into a temporary
folder. Each worker decodes, converts to RGB and scales by 0.8 (the network scale video
analysis uses, ``kit.net.data.scale_image``). Each count is timed ``--reps`` times, best
kept (the machine is shared: the best run is the one least disturbed); the counts are
interleaved. Printed beside each rate: the cores this process used (CPU seconds / wall
seconds) and the CPU milliseconds per frame, which show whether a low ratio is the
reader's (CPU per frame rising) or the machine's (fewer cores given than workers).

A worker should be a core, so OpenCV's own threads are turned off (``cv2.setNumThreads(1)``,
one FFmpeg decoder thread): the "1 worker" row is one core decoding and scaling, and the
ratios are what kit's workers add. The row "1 worker, OpenCV's threads" is the plain
reader with OpenCV's defaults (FFmpeg and warpAffine threads on every core), for reference.

    .venv/bin/python benchmarks/reader_bench.py                  # 1, 2 workers
    .venv/bin/python benchmarks/reader_bench.py --workers 1 2 4 --frames 1200
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from kit.net.data import scale_image
from kit.project.video import FrameReader, write_video
from kit.project.video_workers import ParallelFrameReader

SCALE = 0.8


def make_video(path: Path, num_frames: int, width: int = 640, height: int = 480) -> Path:
    """A video that is not trivial to decode: gradients, a moving disc, pixel noise."""
    import cv2

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width]

    def frame(t: int) -> np.ndarray:
        image = np.stack([(xx + 3 * t) % 256, (2 * yy + t) % 256,
                          ((xx * yy) // 97 + 5 * t) % 256], axis=-1).astype(np.int16)
        image += rng.integers(-20, 20, image.shape, dtype=np.int16)
        image = np.clip(image, 0, 255).astype(np.uint8)
        centre = (int(width / 2 + width / 3 * np.sin(t / 20)),
                  int(height / 2 + height / 3 * np.cos(t / 15)))
        return cv2.circle(image, centre, 40, (255, 255, 255), -1)

    return write_video(path, (frame(t) for t in range(num_frames)), fps=30)


def read_once(path: Path, num_workers: int, num_decoders: int) -> tuple[float, float]:
    """One full read: (frames/s, cores used = CPU seconds of this process / wall seconds).
    ``num_workers`` 0: the plain FrameReader with OpenCV's default threads."""
    import cv2

    cv2.setNumThreads(0 if num_workers == 0 else 1)  # 0: OpenCV's default
    before = resource.getrusage(resource.RUSAGE_SELF)
    began = time.perf_counter()
    if num_workers == 0:
        with FrameReader(path) as frames:
            count = sum(1 for _, frame in frames if scale_image(frame, SCALE) is not None)
    else:
        with ParallelFrameReader(path, num_workers=num_workers, num_decoders=num_decoders,
                                 transform=lambda f: scale_image(f, SCALE)) as reader:
            count = sum(1 for _ in reader)
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    cv2.setNumThreads(0)
    return count / wall, cpu / wall


def main(argv: list[str] | None = None) -> dict[int, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--decoders", type=int, default=0, help="0: ParallelFrameReader's "
                        "default (one per 4 workers); n: n chunked decoders")
    parser.add_argument("--frames", type=int, default=600)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start")
    counts = [0, *args.workers]
    runs: dict[int, list[tuple[float, float]]] = {n: [] for n in counts}
    with tempfile.TemporaryDirectory(prefix="kit-reader-") as tmp:
        video = make_video(Path(tmp) / "clip.mp4", args.frames)
        for _ in range(args.reps):  # interleaved, so load changes hit every count alike
            for n in counts:
                runs[n].append(read_once(video, n, args.decoders if n > 1 else 0))
    best = {n: max(r) for n, r in runs.items()}  # the run least disturbed
    base = best.get(1, best[0])[0]
    for n, (rate, cores) in best.items():
        name = "1 worker, OpenCV's threads" if n == 0 else f"{n} worker{'s' if n > 1 else ''}"
        print(f"{name:>27}: {rate:7.1f} frames/s, {rate / base:.2f}x one worker, "
              f"{cores:.2f} cores used, {1000 * cores / rate:.2f} CPU ms/frame", flush=True)
    print(f"load average {os.getloadavg()[0]:.1f} at the end. 'cores used' is what the "
          "scheduler gave this process: on a shared machine the ratio cannot exceed its ratio.")
    return {n: rate for n, (rate, _) in best.items()}


if __name__ == "__main__":
    main()
