"""Training throughput end to end: each tool's own training run on the openfield project
(640x480 frames), with its own defaults, beside each other in one run.

Where ``train_bench.py`` times the bare network shape for shape, this times what a user
waits for: labeled frames trained on per second, data loading and augmentation included.

- kit: ``kit.net.train.train`` with ``TrainConfig``'s defaults (SGD, global scale 0.8,
  augmentation, crops of the scaled frames capped at 448x448) except ``batch_size`` and
  ``train_steps``, from random weights, on a scratch copy of the project's labels. A
  step's time is the time between the ends of two ``train_on_batch`` calls: drawing and
  augmenting the batch, then forward, backward and update. The first ``--warmup`` steps
  (tracing) are left out of the median.
- DeepLabCut 3.0.2: ``deeplabcut.train_network`` with its defaults (AdamW, 448x448 crops
  of frames scaled 0.5-1.25, motion blur, noise) except ``batch_size``, from random
  weights, for one epoch (``../shared/peer/train_bench.py``); its images per second are
  the epoch's frames over the epoch's time, loading included.

    .venv/bin/python benchmarks/pipeline_bench.py --batch-sizes 1 8 --dlc-python /work/venv-dlc/bin/python

Each kit run is a subprocess of its own (peak memory its own). Environment variables
pass through, e.g. ``TF_ENABLE_ONEDNN_OPTS=0`` to time TensorFlow without oneDNN.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OPENFIELD = HERE.parent.parent / "shared" / "datasets" / "openfield-Pranav-2018-10-30"


def measure_kit(project_dir: str, batch: int, steps: int, warmup: int) -> dict:
    """Train ``steps`` steps on a scratch copy of ``project_dir``'s labels (this process)."""
    import kit  # before Keras: kit's TensorFlow settings, as in a notebook

    kit.use_onednn()  # as kit's runner does for every notebook kernel
    import keras

    from kit.project import load_project
    from kit.net.model_folder import ModelFolder
    from kit.net.train import TrainConfig, train

    ends: list[float] = []
    original = keras.Model.train_on_batch

    def timed(self, *args, **kwargs):
        out = original(self, *args, **kwargs)
        ends.append(time.perf_counter())
        return out

    keras.Model.train_on_batch = timed
    with tempfile.TemporaryDirectory(prefix="kit-pipeline-") as tmp:
        scratch = Path(tmp) / Path(project_dir).name
        scratch.mkdir()
        shutil.copy2(Path(project_dir) / "config.yaml", scratch / "config.yaml")
        shutil.copytree(Path(project_dir) / "labeled-data", scratch / "labeled-data")
        project = load_project(scratch)
        # A short run would otherwise save a checkpoint every step (a tenth of the run)
        # and skip tracing (run_eagerly="auto"); a long one does neither.
        config = TrainConfig(batch_size=batch, train_steps=steps, save_every=steps,
                             batchnorm_batches=0, run_eagerly=False, weights=None)
        t0 = time.perf_counter()
        model_dir = train(project, config, verbose=0)
        total = time.perf_counter() - t0
        crop_hw = list(ModelFolder(model_dir).load_pose_config().crop_hw)
    steady = [b - a for a, b in zip(ends[warmup - 1:], ends[warmup:])]
    median = statistics.median(steady)
    return {"tool": "kit", "batch": batch, "steps": steps, "timed_steps": len(steady),
            "crop_hw": crop_hw, "first_steps_s": round(ends[warmup - 1] - t0, 2),
            "median_s_per_step": round(median, 4), "images_per_s": round(batch / median, 3),
            "whole_run_s": round(total, 1),
            "maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def run_kit(project_dir: str, batch: int, steps: int, warmup: int, timeout: float) -> dict:
    from train_bench import run_json_child

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    cmd = [sys.executable, __file__, "--child", project_dir, str(batch), str(steps), str(warmup)]
    return run_json_child(cmd, env, timeout, {"tool": "kit", "batch": batch})


def run_dlc(dlc_python: str, batch: int, source: str) -> dict:
    """One epoch of ``deeplabcut.train_network`` at ``batch`` (peer train_bench.py)."""
    import dlc_peer

    project = dlc_peer.prepare_project(dlc_python, source)
    dlc_peer.ensure_snapshot(dlc_python, project)  # also points weight_init at random weights
    out_json = project / f"pipeline_bench_b{batch}.json"
    _, peak = dlc_peer._run([dlc_python, str(dlc_peer.PEER / "train_bench.py"), str(project),
                             str(batch), "1", str(out_json)])
    record = json.loads(out_json.read_text())
    frames = dlc_peer.train_frames(project)
    epoch = record["epochs_s"][0]
    return {"tool": "dlc", "batch": batch, "frames": frames, "epoch_s": round(epoch, 1),
            "images_per_s": round(frames / epoch, 3),
            "step_without_loading_s": round(record["median_s_per_step"], 4),
            "maxrss_mb": peak}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--steps", type=int, default=0,
                        help="kit steps per run (default: warm-up + 16 at batch 1, + 6 above)")
    parser.add_argument("--warmup", type=int, default=2,
                        help="kit steps left out (tracing); at least 1")
    parser.add_argument("--project", default=str(OPENFIELD))
    parser.add_argument("--dlc-python", default=os.environ.get("DLC_PYTHON"))
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--json", help="also write every row to this file")
    args = parser.parse_args(argv)
    if args.warmup < 1:
        parser.error("--warmup must be at least 1 (the first step traces the graph).")
    if not (Path(args.project) / "config.yaml").is_file():
        print(f"No project at {args.project} (pass --project).")
        return 2
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start; "
          f"TF_ENABLE_ONEDNN_OPTS={os.environ.get('TF_ENABLE_ONEDNN_OPTS', 'unset: 1, as kit.use_onednn sets it')}",
          flush=True)
    rows = []
    for batch in args.batch_sizes:
        steps = args.steps or args.warmup + (16 if batch == 1 else 6)
        rows.append(run_kit(args.project, batch, steps, args.warmup, args.timeout))
        print(json.dumps(rows[-1]), flush=True)
        if args.dlc_python:
            rows.append(run_dlc(args.dlc_python, batch, args.project))
            print(json.dumps(rows[-1]), flush=True)
    print(f"\n{'batch':>5} {'kit img/s':>10} {'DLC img/s':>10} {'kit / DLC':>10}")
    for batch in args.batch_sizes:
        kit = next(r for r in rows if r["tool"] == "kit" and r["batch"] == batch)
        dlc = next((r for r in rows if r["tool"] == "dlc" and r["batch"] == batch), None)
        k = kit.get("images_per_s")
        d = dlc["images_per_s"] if dlc else None
        ratio = f"{k / d:10.2f}" if k and d else f"{'-':>10}"
        print(f"{batch:>5} {k or '-':>10} {d or '-':>10} {ratio}")
    if not args.dlc_python:
        print("\nDeepLabCut not measured: pass --dlc-python (see benchmarks/README.md).")
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        project_dir, batch, steps, warmup = sys.argv[2:6]
        sys.path.insert(0, str(HERE.parent))
        print(json.dumps(measure_kit(project_dir, int(batch), int(steps), int(warmup))))
        sys.exit(0)
    sys.path.insert(0, str(HERE))
    sys.exit(main())
