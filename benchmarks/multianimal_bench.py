"""Several animals, end to end, on a synthetic group with exact truth (issue 14).

Makes a multi-animal synthetic project (3 animals that meet, cross and cover each other;
videos ``group0`` and ``group1`` labeled for training, ``group2`` kept out), trains the
bottom-up network from random weights, then reports:

- evaluation of the held-out video's labeled frames: per-body-part RMSE after matching
  predicted to labeled animals (with and without p-cutoff), OKS mAP/mAR as DeepLabCut
  reports them, animals missed and extra;
- video analysis of the whole held-out video with tracking (``_el.h5``), against the exact
  truth of every frame: MOTA, IDF1, identity switches (motmetrics), RMSE of the tracked
  animals after one matching per track (a switch costs);
- speed: frames per second of multi-animal analysis (network + assembly + tracking) against
  single-animal analysis with the same backbone on the same 640x480 video, and the
  process's resident memory over that video (flat or growing).

Usage (about 33 minutes on a quiet 2-CPU machine with the defaults, 27 of them training):

    .venv/bin/python benchmarks/multianimal_bench.py --out runs/multianimal_bench
    .venv/bin/python benchmarks/multianimal_bench.py --quick   # minutes, a smoke test

Prints one table and writes ``results.json`` in ``--out``.
"""
# ruff: noqa: E402  (kit.use_onednn() must run before Keras is imported)

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

import kit

kit.use_onednn()  # before keras is imported (by kit's modules below)

from kit.experiments import synthetic
from kit.experiments.truth_errors import group_tracking_errors
from kit.experiments.synthetic_group import (
    GroupConfig,
    make_synthetic_group_project,
    render_group_video,
)
from kit.net import train
from kit.net.predict import Predictor
from kit.results import analyze, evaluate
from kit.project.video import video_info

TEST_VIDEO = "group2"


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/multianimal_bench")
    parser.add_argument("--net-type", default="mobilenet_v2_1.0")
    parser.add_argument("--image-size", type=int, default=192)
    parser.add_argument("--num-frames", type=int, default=300)
    parser.add_argument("--num-labeled", type=int, default=60, help="per training video")
    parser.add_argument("--label-noise", type=float, default=1.0, help="px")
    parser.add_argument("--train-steps", type=int, default=2500)  # 27 min here
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--speed-frames", type=int, default=300,
                        help="frames of the 640x480 video of the speed comparison")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test")
    args = parser.parse_args()
    if args.quick:
        args.image_size, args.num_frames, args.num_labeled = 128, 60, 10
        args.train_steps, args.speed_frames = 20, 40
    return args


def _project(args, root: Path):
    config = GroupConfig(num_animals=3, num_frames=args.num_frames,
                         image_size=(args.image_size, args.image_size), seed=args.seed)
    return make_synthetic_group_project(root / "project", config, num_videos=3,
                                        num_labeled=args.num_labeled,
                                        label_noise_px=args.label_noise, exist_ok=True), config


def _train(project, args) -> tuple[Path, train.TrainConfig, float]:
    config = train.TrainConfig.from_parameters(
        train_steps=args.train_steps, batch_size=args.batch_size, net_type=args.net_type,
        weights="", optimizer="adam", learning_rate=args.learning_rate, seed=args.seed,
        crop_size=args.image_size, test_videos=TEST_VIDEO, train_fraction=0.95)
    began, cpu = time.perf_counter(), time.process_time()
    model_dir = train.train(project, config, verbose=0)
    print(f"training: {time.perf_counter() - began:.0f} s wall, {time.process_time() - cpu:.0f} s "
          "CPU (both cores: a quiet machine's wall time is about CPU / 2)", flush=True)
    return model_dir, config, time.perf_counter() - began


def _tracking(project, model_dir: Path, config: train.TrainConfig) -> dict:
    video = project.videos_dir / f"{TEST_VIDEO}.mp4"
    result, = analyze.analyze_videos(project, [video], analyze.AnalyzeConfig(
        train_fraction=config.train_fraction, progress=False, overwrite=True),
        predictor=Predictor(model_dir))
    scores = group_tracking_errors(project, [result]).iloc[0].to_dict()
    scores["analysis_fps"] = result.metadata["frames_per_s"]
    return scores


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _speed_video(project, group: GroupConfig, args, root: Path) -> Path:
    """A 640x480 group video with the animals at the training size in pixels."""
    size = group.animal_size * min(group.image_size) / 480
    config = replace(group, image_size=(640, 480), num_frames=args.speed_frames,
                     animal_size=size, video=7)
    path = root / "speed" / "group640.mp4"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.is_file():
        render_group_video(path, config)
    return path


def _analysis_speed(project, predictor: Predictor, video: Path, out: Path) -> dict:
    rss = []
    began = time.perf_counter()
    analyze.analyze_video(project, video, analyze.AnalyzeConfig(
        progress=False, overwrite=True, output_dir=str(out)), predictor=predictor,
        on_batch=lambda done: rss.append(_rss_mb()))
    seconds = time.perf_counter() - began
    frames = video_info(video).num_frames
    half = len(rss) // 2
    return {"fps": frames / seconds, "rss_first_half_mb": float(np.max(rss[:half] or [0])),
            "rss_second_half_mb": float(np.max(rss[half:] or [0]))}


def _single_model(root: Path, args) -> Path:
    """A single-animal model of the same backbone (speed only: 2 steps)."""
    project = synthetic.make_synthetic_project(root / "single", synthetic.SyntheticConfig(
        image_size=(args.image_size, args.image_size), num_labeled=10, num_frames=40),
        exist_ok=True)
    config = train.TrainConfig.from_parameters(train_steps=2, batch_size=2, weights="", train_fraction=1.0,
                                               net_type=args.net_type, crop_size=64)
    return project, train.train(project, config, verbose=0)


def main() -> None:
    args = _args()
    root = Path(args.out)
    project, group = _project(args, root)
    model_dir, config, train_s = _train(project, args)
    evaluation = evaluate.evaluate(project, train_fraction=config.train_fraction,
                                   variant=config.variant)
    summary = evaluation.summary()
    tracking = _tracking(project, model_dir, config)
    video = _speed_video(project, group, args, root)
    multi = _analysis_speed(project, Predictor(model_dir), video, root / "speed" / "multi")
    single_project, single_dir = _single_model(root, args)
    single = _analysis_speed(single_project, Predictor(single_dir), video,
                             root / "speed" / "single")
    results = {"net_type": args.net_type, "train_steps": args.train_steps,
               "train_minutes": train_s / 60, "evaluation": summary.reset_index().to_dict("records"),
               "tracking": tracking, "speed_multi": multi, "speed_single": single,
               "speed_ratio": multi["fps"] / single["fps"]}
    (root / "results.json").write_text(json.dumps(results, indent=1, default=float))
    print(f"\n{args.net_type}, {args.train_steps} steps from random weights in "
          f"{train_s / 60:.1f} min ({args.image_size}x{args.image_size}, 3 animals)")
    print(summary.to_string())
    print("tracking of the held-out video:", {k: round(v, 3) if isinstance(v, float) else v
                                               for k, v in tracking.items()})
    print(f"640x480 analysis: multi-animal {multi['fps']:.1f} frames/s, single-animal "
          f"{single['fps']:.1f} frames/s, ratio {results['speed_ratio']:.2f}; resident memory "
          f"{multi['rss_first_half_mb']:.0f} MB (first half) -> "
          f"{multi['rss_second_half_mb']:.0f} MB (second half)")


if __name__ == "__main__":
    main()
