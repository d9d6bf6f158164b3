"""How long training steps wait for their batches: ``data_wait_fraction`` of
``train_log.csv`` with batches made between steps on the training thread (``num_workers=0``,
kit before the input pipeline) against made ahead on worker threads.

A small synthetic project (``--image-size`` square frames), batch ``--batch-size``, from
random weights, the same seed for every run; each run is a subprocess of its own. Printed:
per run the wait fraction of each logged interval after the first (which holds tracing)
and the seconds per step.

    .venv/bin/python benchmarks/input_pipeline_bench.py --workers 0 2 --net-types resnet_50 mobilenet_v2_0.35
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def child(args) -> None:
    import kit

    kit.use_onednn()  # as kit's runner does for every notebook kernel
    from kit.experiments.synthetic import SyntheticConfig, make_synthetic_project
    from kit.net.data import AugmentConfig
    from kit.net.train import TrainConfig, read_train_log, train

    folder = Path(tempfile.mkdtemp(prefix="kit-input-bench-"))
    project = make_synthetic_project(folder / "p", SyntheticConfig(
        image_size=(args.image_size, args.image_size), num_frames=40, num_labeled=40))
    config = TrainConfig(net_type=args.net_types[0], weights=None, batch_size=args.batch_size,
                         train_steps=args.steps, save_every=args.steps // 4, optimizer="adam",
                         train_fraction=0.8, batchnorm_batches=0, num_workers=args.workers[0],
                         run_eagerly=False, augment=AugmentConfig(crop_size=(448, 448)))
    start = time.perf_counter()
    log = read_train_log(train(project, config, verbose=0))
    print(json.dumps({"net_type": config.net_type, "workers": config.num_workers,
                      "wait": log["data_wait_fraction"].round(4).tolist()[1:],
                      "s_per_step": (time.perf_counter() - start) / config.train_steps}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--net-types", nargs="+", default=["resnet_50"])
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--child", action="store_true")
    args = parser.parse_args()
    if args.child:
        return child(args)
    print(f"batch {args.batch_size}, {args.image_size}x{args.image_size} frames, "
          f"{args.steps} steps (intervals of {args.steps // 4}; the first left out)")
    for net_type in args.net_types:
        for workers in args.workers:
            out = subprocess.run(
                [sys.executable, __file__, "--child", "--workers", str(workers), "--net-types",
                 net_type, "--batch-size", str(args.batch_size), "--image-size",
                 str(args.image_size), "--steps", str(args.steps)],
                capture_output=True, text=True, check=True)
            print(out.stdout.strip().splitlines()[-1], flush=True)


if __name__ == "__main__":
    main()
