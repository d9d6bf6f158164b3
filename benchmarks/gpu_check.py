"""The GPU check: on each installed Keras backend, training with mixed precision and
compilation, video analysis at batch 1/8/32/64, the live predictor's latency and the
fraction of the step spent waiting for data, in one table.

``benchmarks/gpu_check.sh`` installs what it needs and runs this on a machine with an
NVIDIA GPU (within 8 minutes). Without a GPU, or with ``--tiny``, it runs the CPU fallback:
tiny frames, 4 steps, batches 1 and 8, on the current backend only (what
``tests/test_gpu_check.py`` runs, in under a minute).

Per backend one subprocess (``KERAS_BACKEND``): a synthetic project (``kit.experiments.
synthetic``, frames of ``--size``) is trained ``--steps`` steps from random weights
(``kit.net.train.train``: batches prepared ahead on worker threads, ``precision`` and
``jit_compile`` as below); its first video is analysed (``kit.results.analyze``) at each
batch size; its frames go through the live predictor one at a time
(``kit.live.LivePredictor``, Keras runtime). A backend whose run fails gets a row saying
why; the others still run.

    bash benchmarks/gpu_check.sh                       # GPU machine: install, then run
    .venv/bin/python benchmarks/gpu_check.py --tiny    # CPU fallback
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BACKENDS = ("tensorflow", "jax", "torch")
# (frame width, height, frames per video, labeled frames, steps, batch, crop, live frames)
FULL = {"size": (640, 480), "num_frames": 600, "num_labeled": 60, "steps": 300,
        "batch_size": 8, "crop": 448, "batches": (1, 8, 32, 64), "live_frames": 200,
        "net_type": "resnet_50"}
TINY = {"size": (96, 80), "num_frames": 16, "num_labeled": 8, "steps": 4, "batch_size": 2,
        "crop": 64, "batches": (1, 8), "live_frames": 6, "net_type": "mobilenet_v2_0.35"}


def has_gpu() -> bool:
    """An NVIDIA GPU answers ``nvidia-smi -L``."""
    smi = shutil.which("nvidia-smi")
    return bool(smi) and subprocess.run([smi, "-L"], capture_output=True).returncode == 0


def installed_backends() -> list[str]:
    return [b for b in BACKENDS if importlib.util.find_spec(b) is not None]


def child(sizes: dict, gpu: bool) -> list[dict]:
    """Everything on this process's backend; rows of (measure, value, unit)."""
    import kit

    if not gpu:
        kit.use_onednn()
    from kit.experiments.synthetic import SyntheticConfig, make_synthetic_project
    from kit.live.predictor import LiveConfig, LivePredictor
    from kit.live.stream import latency_summary, open_source, run_stream
    from kit.net.data import AugmentConfig
    from kit.net.train import TrainConfig, read_train_log, train
    from kit.net.predict import Predictor
    from kit.results.analyze import AnalyzeConfig, analyze_video

    folder = Path(tempfile.mkdtemp(prefix="kit-gpu-check-"))
    project = make_synthetic_project(folder / "p", SyntheticConfig(
        image_size=tuple(sizes["size"]), num_frames=sizes["num_frames"],
        num_labeled=sizes["num_labeled"]))
    config = TrainConfig(
        net_type=sizes["net_type"], weights=None, batch_size=sizes["batch_size"],
        train_steps=sizes["steps"], save_every=max(1, sizes["steps"] // 4), train_fraction=0.8,
        precision="mixed_float16" if gpu else "float32", jit_compile=True if gpu else "auto",
        run_eagerly=False if gpu else "auto", batchnorm_batches=0, optimizer="adam",
        augment=AugmentConfig(crop_size=(sizes["crop"], sizes["crop"])))
    began = time.perf_counter()
    model_dir = train(project, config, verbose=0)
    train_s = time.perf_counter() - began
    wait = read_train_log(model_dir)["data_wait_fraction"].to_numpy()
    rows = [("train steps/s (incl. compilation)", config.train_steps / train_s, "1/s"),
            ("train images/s", config.train_steps * config.batch_size / train_s, "1/s"),
            ("data-wait fraction (first interval left out)",
             float(wait[1:].mean() if len(wait) > 1 else wait.mean()), "")]
    video = project.videos_dir / "animal0.mp4"
    predictor = Predictor(model_dir)
    for batch in sizes["batches"]:
        run = AnalyzeConfig(train_fraction=0.8, batch_size=batch, progress=False,
                            output_dir=str(folder / f"a{batch}"))
        meta = analyze_video(project, video, run, predictor).metadata
        rows.append((f"analysis frames/s, batch {batch}", meta["frames_per_s"], "1/s"))
    width, height = sizes["size"]
    live = LivePredictor.load(model_dir, LiveConfig(warmup_hw=(height, width)))
    result = run_stream(live, open_source(video, sizes["live_frames"]), report_every=0)
    summary = latency_summary(result.latency_s)
    rows += [("live latency mean", summary["mean_ms"], "ms"),
             ("live latency p99", summary["p99_ms"], "ms"),
             ("live read-to-pose frames/s", len(result.latency_s) / result.wall_s, "1/s")]
    shutil.rmtree(folder, ignore_errors=True)
    return [{"measure": m, "value": float(v), "unit": u, "precision": config.precision,
             "jit_compile": str(config.jit_compile)} for m, v, u in rows]


def run_backend(backend: str, sizes: dict, gpu: bool, timeout_s: float) -> list[dict]:
    """:func:`child` in a subprocess with ``KERAS_BACKEND=backend``; a failure is one row."""
    env = {**os.environ, "KERAS_BACKEND": backend}
    command = [sys.executable, __file__, "--child", json.dumps({"sizes": sizes, "gpu": gpu})]
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True,
                              timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return [{"backend": backend, "measure": f"FAILED: over {timeout_s:.0f} s",
                 "value": float("nan"), "unit": ""}]
    lines = [line for line in done.stdout.splitlines() if line.startswith("ROWS ")]
    if done.returncode != 0 or not lines:
        why = (done.stderr.strip().splitlines() or ["no output"])[-1][:120]
        return [{"backend": backend, "measure": f"FAILED: {why}", "value": float("nan"),
                 "unit": ""}]
    return [{"backend": backend, **row} for row in json.loads(lines[-1][5:])]


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="the CPU fallback sizes")
    parser.add_argument("--backends", nargs="+", choices=BACKENDS,
                        help="default: every installed one (--tiny: KERAS_BACKEND's)")
    parser.add_argument("--timeout", type=float, default=150, help="seconds per backend")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        spec = json.loads(args.child)
        print("ROWS " + json.dumps(child(spec["sizes"], spec["gpu"])), flush=True)
        return []
    gpu = has_gpu() and not args.tiny
    sizes = FULL if gpu else TINY
    backends = args.backends or (installed_backends() if gpu
                                 else [os.environ.get("KERAS_BACKEND", "tensorflow")])
    print(f"GPU check: {'GPU' if gpu else 'CPU fallback (tiny sizes)'}, backends {backends}, "
          f"{sizes['net_type']}, {sizes['steps']} steps at batch {sizes['batch_size']}, "
          f"frames {sizes['size'][0]}x{sizes['size'][1]}", flush=True)
    rows = [row for backend in backends for row in run_backend(backend, sizes, gpu, args.timeout)]
    print_table(rows)
    return rows


def print_table(rows: list[dict]) -> None:
    print(f"\n{'backend':<11} {'measure':<46} {'value':>10} unit")
    for row in rows:
        print(f"{row['backend']:<11} {row['measure']:<46} {row['value']:>10.3f} {row['unit']}")


if __name__ == "__main__":
    main()
