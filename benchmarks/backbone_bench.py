"""Prediction speed per backbone: milliseconds per ``predict_on_batch`` call at batch 1 on a
640x480 frame (the network of ``Predictor``: BatchNorm folded, random weights, 4 body
parts), after ``--warmup`` calls; median and fastest of ``--reps``. Each backbone runs in a
subprocess of its own (its peak memory its own).

    .venv/bin/python benchmarks/backbone_bench.py                      # every backbone
    .venv/bin/python benchmarks/backbone_bench.py --net-types resnet_50 mobilenet_v2_0.35
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time


def child(net_type: str, height: int, width: int, warmup: int, reps: int) -> dict:
    import kit

    kit.use_onednn()  # as kit's runner does for every notebook kernel
    import numpy as np

    from kit.net.backbones import get_backbone
    from kit.net.model import build_model, fold_batchnorm

    model = fold_batchnorm(build_model(4, None, net_type=net_type))
    image = np.random.default_rng(0).uniform(0, 255, (1, height, width, 3)).astype(np.float32)
    for _ in range(warmup):
        model.predict_on_batch(image)
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        model.predict_on_batch(image)
        times.append(1000 * (time.perf_counter() - start))
    return {"net_type": net_type, "stride": get_backbone(net_type).output_stride,
            "params_m": model.count_params() / 1e6, "ms_median": statistics.median(times),
            "ms_min": min(times),
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--net-types", nargs="+", help="default: every registered backbone")
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.height, args.width, args.warmup, args.reps)))
        return
    if not args.net_types:
        from kit.net.backbones import BACKBONES  # imports Keras: not in the children's parent

        args.net_types = list(BACKBONES)
    print(f"predict_on_batch, batch 1, {args.height}x{args.width}, BatchNorm folded, "
          f"median of {args.reps} after {args.warmup} warm-up calls")
    print("| net_type | output stride | parameters (M) | ms/call median | ms/call min | peak MB |")
    print("|---|---|---|---|---|---|")
    for net_type in args.net_types:
        out = subprocess.run(
            [sys.executable, __file__, "--child", net_type, "--height", str(args.height),
             "--width", str(args.width), "--warmup", str(args.warmup), "--reps", str(args.reps)],
            capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"| {r['net_type']} | {r['stride']} | {r['params_m']:.1f} | {r['ms_median']:.0f} "
              f"| {r['ms_min']:.0f} | {r['peak_mb']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
