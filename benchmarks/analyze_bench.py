"""Video analysis throughput against the bare network, on the same machine.

For each batch size: frames per second of ``kit.analyze.analyze_video`` (reader
thread, batching, decoding of the score maps, writing the files) on the openfield
video (640x480), the bare network's own throughput at the same batch size
(``model.predict_on_batch`` on frames decoded and resized beforehand), their
ratio (target >= 0.9), the fraction of the analysis time the network waited for
frames, and the process's peak memory (``ru_maxrss``) after the analyses.

Nothing is trained: the model is kit's network, untrained (random weights; speed
does not depend on the weights), built by ``kit.model.build_model`` for the
project's 4 body parts and saved as ``model.keras`` + ``pose_config.json`` into a
temporary model folder. The shared project is only read; outputs go to a
temporary folder.

    .venv/bin/python benchmarks/analyze_bench.py                      # whole video, 1 8 32
    .venv/bin/python benchmarks/analyze_bench.py --frames 16 --batch-sizes 1 8   # smoke test
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import keras
import numpy as np

from kit.analyze import AnalyzeConfig, analyze_video
from kit.data import AugmentConfig
from kit.model import build_model
from kit.predict import Predictor, scale_image
from kit.project import load_project
from kit.targets import TargetConfig
from kit.video import FrameReader

REPO = Path(__file__).resolve().parent.parent
PROJECT = REPO.parent / "shared" / "datasets" / "openfield-Pranav-2018-10-30"


def untrained_model_dir(folder: Path, bodyparts: list[str]) -> Path:
    """Save an untrained network and the pose config prediction needs; return the folder."""
    folder.mkdir(parents=True)
    build_model(len(bodyparts)).save(folder / "model.keras")
    targets = TargetConfig()
    pose = {"bodyparts": bodyparts, "global_scale": AugmentConfig().global_scale,
            "stride": targets.stride, "locref_stdev": targets.locref_stdev, "train_steps": 0}
    (folder / "pose_config.json").write_text(json.dumps(pose))
    return folder


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


def warm_up(predictor: Predictor, frame: np.ndarray, batch_size: int) -> None:
    """Trace the network for this batch size before anything is timed."""
    predictor.predict_batch(np.stack([frame] * batch_size))


def bare_fps(predictor: Predictor, frames: list[np.ndarray], batch_size: int) -> float:
    """Frames per second of ``predict_on_batch`` alone, on resized frames held in memory."""
    scaled = [scale_image(f, predictor.global_scale) for f in frames]
    batches = [np.stack(scaled[i:i + batch_size]).astype(np.float32)
               for i in range(0, len(scaled), batch_size)]
    started = time.perf_counter()
    for batch in batches:
        predictor.model.predict_on_batch(batch)
    return len(frames) / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", type=Path, default=PROJECT)
    parser.add_argument("--video", type=Path, default=None, help="default: videos/m3v1mp4.mp4")
    parser.add_argument("--frames", type=int, default=None, help="analyze only the first N")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 32])
    args = parser.parse_args(argv)
    project = load_project(args.project)
    video = args.video or project.videos_dir / "m3v1mp4.mp4"
    with tempfile.TemporaryDirectory(prefix="kit-analyze-bench-") as tmp:
        predictor = Predictor(untrained_model_dir(Path(tmp) / "model", project.bodyparts))
        with FrameReader(video, stop=args.frames) as reader:
            first = next(reader)[1]
            total = reader.stop
        rows = []
        for batch_size in args.batch_sizes:  # analyses first: preloaded frames would inflate RSS
            for size in {batch_size, total % batch_size} - {0}:  # the last batch may be smaller
                warm_up(predictor, first, size)
            config = AnalyzeConfig(batch_size=batch_size, output_dir=f"{tmp}/bs{batch_size}",
                                   max_frames=args.frames, progress=False)
            meta = analyze_video(project, video, config, predictor).metadata
            rows.append({"batch_size": batch_size, "frames": meta["num_frames_analyzed"],
                         "analysis_fps": meta["frames_per_s"],
                         "wait_fraction": meta["wait_fraction"], "peak_rss_mb": peak_rss_mb()})
        with FrameReader(video, stop=args.frames) as reader:
            frames = [frame for _, frame in reader]
        for row in rows:
            row["bare_fps"] = bare_fps(predictor, frames, row["batch_size"])
            row["ratio"] = row["analysis_fps"] / row["bare_fps"]
    report(rows, video)


def report(rows: list[dict], video: Path) -> None:
    print(f"video {video.name}; keras {keras.__version__} ({keras.backend.backend()}); "
          f"python {sys.version.split()[0]}")
    print(f"{'batch':>5} {'frames':>6} {'analysis f/s':>12} {'bare f/s':>9} {'ratio':>6} "
          f"{'waited':>7} {'peak RSS MB':>11}")
    for r in rows:
        print(f"{r['batch_size']:>5} {r['frames']:>6} {r['analysis_fps']:>12.2f} "
              f"{r['bare_fps']:>9.2f} {r['ratio']:>6.2f} {r['wait_fraction']:>7.1%} "
              f"{r['peak_rss_mb']:>11.0f}")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
