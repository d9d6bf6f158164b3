"""Video analysis throughput against the bare network, on the same machine.

For each batch size: frames per second of ``kit.results.analyze.analyze_video`` (reader
thread, batching, decoding of the score maps, writing the files) on the openfield
video (640x480), the bare network's own throughput at the same batch size
(``model.predict_on_batch`` on frames decoded and resized beforehand), their
ratio (target >= 0.9), the fraction of the analysis time the network waited for
frames, and the process's peak memory (``ru_maxrss``) after the analyses.

Nothing is trained: the model is kit's network, untrained (random weights; speed
does not depend on the weights), built by ``kit.net.model.build_model`` for the
project's 4 body parts and saved with its pose config (kit.net.model_folder) into a
temporary model folder. The shared project is only read; outputs go to a
temporary folder.

    .venv/bin/python benchmarks/analyze_bench.py                      # whole video, 1 8 32
    .venv/bin/python benchmarks/analyze_bench.py --frames 16 --batch-sizes 1 8   # smoke test
    # beside DeepLabCut 3's analyze_videos on the same clip of the first 200 frames
    .venv/bin/python benchmarks/analyze_bench.py --frames 200 --dlc-python /work/venv-dlc/bin/python

With ``--dlc-python`` the first ``--frames`` frames are written to a clip that both
tools analyze (DeepLabCut always reads a whole file), and DeepLabCut's frames per
second (its own inference time, ``run_duration``) and the ratio kit / DLC are printed
per batch size both ran. DLC's snapshot: random weights trained one epoch (no download).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

# ruff: noqa: E402  (kit.use_onednn() must run before Keras is imported)
import kit  # noqa: I001

kit.use_onednn()  # as kit's runner does for every notebook kernel
import keras
import numpy as np

from kit.results.analyze import AnalyzeConfig, analyze_video
from kit.net.data import AugmentConfig, scale_image
from kit.net.model import build_model
from kit.net.model_folder import ModelFolder, PoseConfig
from kit.net.predict import Predictor
from kit.project import load_project
from kit.net.targets import TargetConfig
from kit.project.video import FrameReader, video_info, write_video

REPO = Path(__file__).resolve().parent.parent
PROJECT = REPO.parent / "shared" / "datasets" / "openfield-Pranav-2018-10-30"


def untrained_model_dir(folder: Path, bodyparts: list[str]) -> Path:
    """Save an untrained network and the pose config prediction needs; return the folder."""
    folder.mkdir(parents=True)
    model_folder = ModelFolder(folder)
    build_model(len(bodyparts)).save(model_folder.model_file)
    targets = TargetConfig()
    model_folder.save_pose_config(PoseConfig(
        bodyparts=tuple(bodyparts), global_scale=AugmentConfig().global_scale,
        stride=targets.stride, locref_stdev=targets.locref_stdev, train_steps=0))
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
    parser.add_argument("--dlc-python", help="python of a DeepLabCut 3 venv: measure it too")
    parser.add_argument("--dlc-batch-sizes", type=int, nargs="+", default=[1, 8])
    args = parser.parse_args(argv)
    project = load_project(args.project)
    video = args.video or project.videos_dir / "m3v1mp4.mp4"
    with tempfile.TemporaryDirectory(prefix="kit-analyze-bench-") as tmp:
        if args.dlc_python and args.frames:
            with FrameReader(video, stop=args.frames) as reader:
                video = write_video(Path(tmp) / "clip.mp4", (f for _, f in reader),
                                    video_info(video).fps)
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
        if args.dlc_python:
            compare_with_dlc(rows, args.dlc_python, video, args.dlc_batch_sizes)


def compare_with_dlc(rows: list[dict], dlc_python: str, video: Path, batch_sizes) -> None:
    """DeepLabCut 3's analyze_videos on the same video, and kit / DLC per batch size."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    from dlc_peer import analyze_bench as dlc_analyze

    kit_fps = {r["batch_size"]: r["analysis_fps"] for r in rows}
    print(f"\nDeepLabCut 3 analyze_videos on {video.name}")
    print(f"{'batch':>5} {'frames':>6} {'DLC f/s':>8} {'DLC wall f/s':>12} {'peak RSS MB':>11} "
          f"{'kit f/s':>8} {'kit / DLC':>9}")
    for batch_size in batch_sizes:
        dlc = dlc_analyze(dlc_python, video, batch_size)
        ours = kit_fps.get(batch_size)
        ratio = f"{ours / dlc['fps']:9.2f}" if ours else f"{'-':>9}"
        print(f"{batch_size:>5} {dlc['frames']:>6} {dlc['fps']:>8.2f} {dlc['fps_wall']:>12.2f} "
              f"{dlc['peak_rss_mb']:>11} {ours or float('nan'):>8.2f} {ratio}")
        print(json.dumps({"dlc": dlc}))


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
