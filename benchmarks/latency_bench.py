"""Latency of kit's live predictor, one frame at a time, beside DeepLabCut-Live's figures.

For each backbone of ``kit.net.backbones.BACKBONES`` (resnet_50 today) and each frame size
(640x480 and 320x240 by default): ``LivePredictor.get_pose`` latency in ms (mean, sd, 99th
percentile; the first call excluded) and frames per second (1 / mean), for the Keras model
(BatchNorm folded, Keras's compiled predict function) and the exported ONNX file (ONNX
Runtime, CPU), each on the whole frame and with dynamic cropping. Frames go through the
model's global_scale (0.8) first, as in training: a 640x480 frame is 512x384 at the network.

Frames are read from a video of that size (``reader_bench.make_video``: moving gradients,
a disc and pixel noise, mp4v) one at a time, as a rig would: "read_ms" is the time to read
(decode) a frame, "read_to_pose_ms" and "read_to_pose_fps" count from before the frame is
read to its pose (what the issue's 30 frames/s refers to). "max_px_vs_keras" is, for the
ONNX rows, the largest difference between the exported model's and Keras's positions on
the same frames (the exported model must agree within 0.1 px).

Weights don't matter for latency: the model is trained 2 steps from scratch on a tiny
synthetic project (``make_synthetic_project`` + ``train``, weights=None), then exported.
An untrained network finds no animal, so for the dynamic-cropping
rows the previous pose is set before each frame to a 4-part animal spanning 100x80 px near
the frame's centre (all parts confident): each frame is then cropped to 100x80 plus the
margin (20 px a side, 140x120 px; DeepLabCut-Live measured margins of 10-50 px).

DeepLabCut-Live's published CPU figures printed beside ours (ResNet-50, FP32, batch 1,
mean latency excluding the first inference), from DeepLabCut-Live's own benchmark table,
``docs/DLC Live Benchmark.md`` in github.com/DeepLabCut/DeepLabCut-live (CPU: 13th Gen
Intel Core i7-13620H, 16 threads, Ubuntu 24.04; DLC-Live 3, "Ventral gait" video):

    ONNX Runtime, CPU, 658x302 frames:                  146.11 ms +- 13.25, 7 FPS
    PyTorch, CPU, 658x302 frames:                       365.17 ms +- 13.44, 3 FPS
    ONNX Runtime, CPU, resize 0.25 (164x75 frames):      13.17 ms +- 1.23, 76 FPS

Kane et al. 2020 (eLife 9:e61909, "Real-time, low-latency closed-loop feedback using
markerless posture tracking") give DLC-ResNet-50's CPU speeds only as curves (Figure 2,
figure supplement 1: FPS against image size, 10th-90th percentile bands, N = 1000-10,000
frames per point) and, in the abstract, "within 15 ms, >100 FPS" on GPUs; no table of CPU
numbers could be read from here, so the table above is the one used.

    .venv/bin/python benchmarks/latency_bench.py                   # 640x480, 320x240; 30 frames
    .venv/bin/python benchmarks/latency_bench.py --frames 10 --sizes 320x240   # smoke test
    .venv/bin/python benchmarks/latency_bench.py --backbones mobilenet_v2_0.35 --sizes 640x480
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

# ruff: noqa: E402  (kit.use_onednn() must run before Keras is imported)
import kit  # noqa: I001

kit.use_onednn()  # as kit's runner does for every notebook kernel
import keras
import numpy as np
import pandas as pd

from kit.experiments.synthetic import SyntheticConfig, make_synthetic_project
from kit.live.export import export_model
from kit.live.predictor import LiveConfig, LivePredictor
from kit.live.stream import latency_summary
from kit.net.backbones import BACKBONES
from kit.net.data import AugmentConfig
from kit.net.train import TrainConfig, train
from kit.project.video import iter_frames
from reader_bench import make_video  # benchmarks/ is on the path when this file is run

MARGIN_PX = 20
ANIMAL_WH = (100, 80)
DLC_LIVE = pd.DataFrame([
    ("DLC-Live ONNX CPU (i7-13620H)", "658x302", "full", 146.11, 13.25, 7),
    ("DLC-Live PyTorch CPU (i7-13620H)", "658x302", "full", 365.17, 13.44, 3),
    ("DLC-Live ONNX CPU (i7-13620H)", "164x75 (resize 0.25)", "full", 13.17, 1.23, 76),
], columns=["runtime", "frame", "crop", "mean_ms", "sd_ms", "fps"])


def trained_model_dir(root: Path, net_type: str) -> Path:
    """A model of ``net_type`` trained 2 steps from scratch on a tiny synthetic project."""
    project = make_synthetic_project(root / net_type, SyntheticConfig(
        image_size=(64, 64), num_frames=8, num_labeled=4))
    return train(project, TrainConfig(
        net_type=net_type, train_steps=2, batch_size=2, train_fraction=0.75,
        batchnorm_batches=2, weights=None, augment=AugmentConfig(crop_size=(64, 64))), verbose=0)


def animal_pose(height: int, width: int) -> np.ndarray:
    """(1, 4, 3): the corners of a ANIMAL_WH box at the frame's centre, likelihood 1."""
    w, h = ANIMAL_WH
    x0, y0 = width / 2 - w / 2, height / 2 - h / 2
    corners = [(x0, y0), (x0 + w, y0), (x0, y0 + h), (x0 + w, y0 + h)]
    return np.array([[(x, y, 1.0) for x, y in corners]])


def time_stream(predictor: LivePredictor, video: Path, num_frames: int,
                dynamic: bool) -> tuple[dict, np.ndarray]:
    """Read each frame of ``video`` and get_pose on it: latency summary of get_pose, read
    and read-to-pose times (first frame excluded), and the poses (frames, K, 3)."""
    latency, read_s, total_s, poses = [], [], [], []
    frames = iter_frames(video, 0, num_frames)
    while True:
        began = time.perf_counter()
        item = next(frames, None)
        if item is None:
            break
        read_s.append(time.perf_counter() - began)
        if dynamic:  # the animal "found" in the previous frame (an untrained net finds none)
            predictor.pose = animal_pose(*item[1].shape[:2])
        poses.append(predictor.get_pose(item[1])[0])
        total_s.append(time.perf_counter() - began)
        latency.append(predictor.latency_s)
    total = np.array(total_s[1:])
    return ({**latency_summary(np.array(latency)), "read_ms": 1000 * np.mean(read_s[1:]),
             "read_to_pose_ms": 1000 * total.mean(), "read_to_pose_fps": 1 / total.mean()},
            np.array(poses))


def bench(path: Path, runtime: str, video: Path, num_frames: int,
          keras_poses: dict[bool, np.ndarray]) -> list[dict]:
    """Rows for one runtime on one video, whole frame and dynamically cropped; the Keras
    rows fill ``keras_poses`` and the ONNX rows are compared with them."""
    rows = []
    for dynamic in (False, True):
        hw = next(iter_frames(video, 0, 1))[1].shape[:2]
        config = LiveConfig(runtime=runtime, dynamic=(dynamic, 0.0, MARGIN_PX), warmup_hw=hw)
        predictor = LivePredictor.load(path, config)
        summary, poses = time_stream(predictor, video, num_frames, dynamic)
        if runtime == "keras":
            keras_poses[dynamic] = poses
        elif dynamic in keras_poses:
            summary["max_px_vs_keras"] = float(np.abs(poses[..., :2]
                                                      - keras_poses[dynamic][..., :2]).max())
        crop = f"dynamic ({predictor.box[2] - predictor.box[0]}x"\
               f"{predictor.box[3] - predictor.box[1]})" if dynamic else "full"
        rows.append({"runtime": runtime, "frame": f"{hw[1]}x{hw[0]}", "crop": crop, **summary})
        print(", ".join(f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}"
                        for k, v in rows[-1].items()), flush=True)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=30, help="frames per row (first excluded)")
    parser.add_argument("--sizes", nargs="+", default=["640x480", "320x240"], help="WxH")
    parser.add_argument("--backbones", nargs="+", default=sorted(BACKBONES))
    args = parser.parse_args(argv)
    sizes = [tuple(int(v) for v in s.split("x"))[::-1] for s in args.sizes]  # (H, W)
    print(f"keras {keras.__version__} ({keras.backend.backend()}), onnxruntime "
          f"{__import__('onnxruntime').__version__}, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f} at the start")
    rows = []
    with tempfile.TemporaryDirectory(prefix="kit-latency-") as tmp:
        videos = {hw: make_video(Path(tmp) / f"{hw[1]}x{hw[0]}.mp4", args.frames, hw[1], hw[0])
                  for hw in sizes}
        for net_type in args.backbones:
            model_dir = trained_model_dir(Path(tmp), net_type)
            exported = export_model(model_dir)
            for hw in sizes:
                keras_poses: dict[bool, np.ndarray] = {}
                for runtime, path in (("keras", model_dir), ("onnx", exported)):
                    rows += [{"backbone": net_type, **row} for row in
                             bench(path, runtime, videos[hw], args.frames, keras_poses)]
    table = pd.DataFrame(rows).drop(columns="frames").round(2)
    print(f"\nkit live predictor, {args.frames - 1} frames per row (first excluded):")
    print(table.to_markdown(index=False) if _has_tabulate() else table.to_string(index=False))
    print("\nDeepLabCut-Live's published CPU figures (see the docstring for the source):")
    print(DLC_LIVE.to_markdown(index=False) if _has_tabulate() else DLC_LIVE.to_string(index=False))


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401  (pandas' to_markdown needs it)
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    main()
