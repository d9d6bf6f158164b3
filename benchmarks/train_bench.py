"""Training and inference speed of kit's ResNet-50 per Keras backend, beside DeepLabCut 3.

Each configuration (backend, train or predict, image size, batch size) runs in its own
subprocess, so peak memory (maxrss) is that configuration's alone. A train step is
``model.train_on_batch`` exactly as ``kit.net.train`` runs it (forward, both losses,
backward, SGD update); predict is ``model.predict_on_batch`` (the network part of
``kit.net.predict.Predictor``). The first step (tracing/compiling) is reported apart and
left out of the median.

With ``--dlc-python`` (the python of a venv with deeplabcut 3.0.2, see
benchmarks/README.md) DeepLabCut's own ResNet-50 is measured in the same run by
``../shared/peer/model_bench.py`` and the ratios kit / DLC are printed for the shapes
both measured.

    .venv/bin/python benchmarks/train_bench.py                       # kit, every installed backend
    .venv/bin/python benchmarks/train_bench.py --plan compare --dlc-python /work/venv-dlc/bin/python

``--variants`` times train steps of altered networks too, to see where a step's time goes:
``frozen-bn`` (BatchNorm in inference mode, as the paper's TensorFlow DeepLabCut trained),
``no-bn`` (no BatchNorm at all) and ``no-dilation`` (conv5 without its dilation of 2).

    .venv/bin/python benchmarks/train_bench.py --plan ablation --backends tensorflow \
        --variants base frozen-bn no-bn no-dilation
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
NUM_BODYPARTS = 4  # as the openfield project
# Training a 640x480 batch of 32 needs more than the 24 GB of the 2-core machine.
MAX_TRAIN_PIXELS = 8 * 640 * 480

# (kind, height, width, batch): the shapes DeepLabCut's model_bench.py measures ...
COMPARE = [("train", 480, 640, 1), ("train", 240, 320, 8), ("train", 448, 448, 1),
           ("train", 448, 448, 8), ("predict", 480, 640, 1), ("predict", 480, 640, 8)]
# ... and the grid: 640x480 and 256x256 at batch 1, 8 and 32.
GRID = [(kind, h, w, b) for kind in ("train", "predict") for h, w in ((480, 640), (256, 256))
        for b in (1, 8, 32)]
VARIANTS = ("base", "frozen-bn", "no-bn", "no-dilation")


def build_variant(variant: str):
    """kit's network, or one altered as ``variant`` says (see the module docstring)."""
    import keras

    from kit.net import model as kit_model

    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}. Received: {variant!r}.")
    if variant == "no-dilation":
        from kit.net.backbones import resnet

        block = resnet._block
        resnet._block = lambda x, f, s, d, c, n: block(x, f, s, 1, c, n)
    model = kit_model.build_model(NUM_BODYPARTS)
    if variant == "no-bn":  # each BatchNormalization becomes a no-op, its convolution a bias
        model = kit_model.fold_batchnorm(model)
    if variant == "frozen-bn":
        for layer in model.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.trainable = False  # Keras 3: inference mode, gamma and beta fixed
    return model


def measure(kind: str, height: int, width: int, batch: int, reps: int, jit_compile,
            variant: str = "base") -> dict:
    """Time one configuration in this process (KERAS_BACKEND already set)."""
    import kit  # before Keras: kit's TensorFlow settings, as in a notebook

    kit.use_onednn()  # as kit's runner does for every notebook kernel
    import keras
    import numpy as np

    from kit.net.model import locref_loss, scoremap_loss
    from kit.net.targets import map_shape

    keras.utils.set_random_seed(0)
    model = build_variant(variant)
    images = np.random.default_rng(0).uniform(0, 255, (batch, height, width, 3)).astype("float32")
    if kind == "train":
        h, w = map_shape(height, width)
        k = NUM_BODYPARTS
        targets = [np.zeros((batch, h, w, 2 * k), "float32"), np.zeros((batch, h, w, 4 * k), "float32")]
        targets[0][..., k:] = 1.0  # weights: every pixel counts, as in a real batch's worst case
        model.compile(optimizer=keras.optimizers.SGD(0.001, momentum=0.9, weight_decay=1e-4),
                      loss=[scoremap_loss, locref_loss], loss_weights=[1.0, 0.05],
                      jit_compile=jit_compile)

        def step():
            model.train_on_batch(images, targets)
    else:
        def step():
            model.predict_on_batch(images)

    t0 = time.perf_counter()
    step()
    first = time.perf_counter() - t0
    # One more warm-up: some backends specialise on the second call.
    median = statistics.median(time_steps(step, reps, warmup=1))
    return {"backend": keras.backend.backend(), "variant": variant, "kind": kind,
            "hw": [height, width], "batch": batch, "reps": reps, "first_step_s": round(first, 2),
            "median_s_per_step": round(median, 4), "images_per_s": round(batch / median, 3),
            "maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def time_steps(step, reps: int, warmup: int) -> list[float]:
    """Call ``step`` ``warmup`` times untimed, then ``reps`` times timed; the times in s.
    (Stdlib only: ``dlc_model_grid.py`` uses it in DeepLabCut's venv.)"""
    for _ in range(warmup):
        step()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return times


def run_json_child(cmd: list[str], env: dict, timeout: float, base: dict) -> dict:
    """Run ``cmd`` (run from the repository root); the JSON row its last output line
    prints, or ``base`` with an ``error``: a failure is reported, not raised."""
    try:
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout,
                              check=False, cwd=HERE.parent)
    except subprocess.TimeoutExpired:
        return {**base, "error": f"timed out after {timeout:.0f} s"}
    if done.returncode != 0:
        return {**base, "error": f"exit {done.returncode}: {done.stderr.strip()[-400:]}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_child(backend: str, config: tuple, reps: int, jit_compile, timeout: float,
              variant: str = "base") -> dict:
    """Run one configuration in a subprocess; a failure is reported, not raised."""
    kind, h, w, b = config
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
    cmd = [sys.executable, __file__, "--child", kind, str(h), str(w), str(b), str(reps),
           json.dumps(jit_compile), variant]
    base = {"backend": backend, "variant": variant, "kind": kind, "hw": [h, w], "batch": b}
    return run_json_child(cmd, env, timeout, base)


def installed_backends() -> list[str]:
    framework = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}
    return [b for b, module in framework.items() if importlib.util.find_spec(module)]


def plan(name: str, backends: list[str]) -> list[tuple[str, tuple]]:
    """(backend, configuration) pairs. 'compare': DLC's shapes on the first backend, and its
    640x480 ones on the others; 'grid' adds the 640x480/256x256 x 1/8/32 grid on the first
    backend; 'full': DLC's shapes and the grid on every backend; 'ablation': DLC's batch-1
    train shapes (448x448, 640x480) on every backend."""
    if name == "ablation":
        return [(b, c) for b in backends for c in COMPARE if c[0] == "train" and c[3] == 1]
    first, others = backends[:1], backends[1:]
    at_640 = [c for c in COMPARE if c[1:3] == (480, 640)]
    out = [(b, c) for b in first for c in COMPARE]
    out += [(b, c) for b in others for c in (COMPARE if name == "full" else at_640)]
    grid_backends = {"compare": [], "grid": first, "full": backends}[name]
    out += [(b, c) for b in grid_backends for c in GRID if (b, c) not in out]
    return [(b, c) for b, c in out if c[0] == "predict" or c[1] * c[2] * c[3] <= MAX_TRAIN_PIXELS]


def print_table(rows: list[dict], title: str) -> None:
    print(f"\n{title}")
    print(f"{'backend':<11}{'variant':<12}{'kind':<8}{'HxW':>9}{'batch':>6}{'first s':>9}"
          f"{'s/step':>9}{'img/s':>8}{'peak MB':>9}")
    for r in rows:
        hw = "x".join(map(str, r["hw"]))
        head = f"{r['backend']:<11}{r.get('variant', 'base'):<12}{r['kind']:<8}{hw:>9}{r['batch']:>6}"
        if "error" in r:
            print(f"{head}  {r['error'][:90]}")
            continue
        print(f"{head}{r.get('first_step_s', ''):>9}"
              f"{r['median_s_per_step']:>9.3f}{r['images_per_s']:>8.2f}{r.get('maxrss_mb', ''):>9}")


def print_ratios(kit_rows: list[dict], dlc_rows: list[dict]) -> None:
    """kit / DLC images per second for every shape both measured (> 1: kit is faster)."""
    dlc = {(r["kind"], tuple(r["hw"]), r["batch"]): r for r in dlc_rows if "error" not in r}
    print("\nkit / DeepLabCut 3 (images per second; > 1 means kit is faster)")
    for r in kit_rows:
        other = dlc.get((r["kind"], tuple(r["hw"]), r["batch"]))
        if other is None or "error" in r:
            continue
        ratio = r["images_per_s"] / other["images_per_s"]
        print(f"{r['backend']:<11}{r.get('variant', 'base'):<12}{r['kind']:<8}"
              f"{'x'.join(map(str, r['hw'])):>9}{r['batch']:>6}  kit {r['images_per_s']:7.2f}  DLC {other['images_per_s']:7.2f}  ratio {ratio:5.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", nargs="+", help="default: every installed one")
    parser.add_argument("--plan", choices=("compare", "grid", "full", "ablation"), default="grid")
    parser.add_argument("--variants", nargs="+", default=["base"], choices=VARIANTS,
                        help="networks to time train steps of (predict: base only)")
    parser.add_argument("--reps", type=int, default=3, help="timed steps per configuration")
    parser.add_argument("--jit-compile", default="auto", choices=("auto", "true", "false"))
    parser.add_argument("--timeout", type=float, default=900, help="seconds per configuration")
    parser.add_argument("--dlc-python", default=os.environ.get("DLC_PYTHON"),
                        help="python of a DeepLabCut 3 venv (or env DLC_PYTHON)")
    parser.add_argument("--dlc-project", help="DLC project to copy (default: shared openfield)")
    parser.add_argument("--json", help="also write every row to this file")
    args = parser.parse_args(argv)
    jit = {"auto": "auto", "true": True, "false": False}[args.jit_compile]
    backends = args.backends or installed_backends()
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start",
          flush=True)
    kit_rows = []
    for backend, config in plan(args.plan, backends):
        for variant in args.variants if config[0] == "train" else ["base"]:
            row = run_child(backend, config, args.reps, jit, args.timeout, variant)
            print(json.dumps(row), flush=True)
            kit_rows.append(row)
    print_table(kit_rows, "kit (Keras 3)")
    dlc_rows = []
    if args.dlc_python:
        import dlc_peer

        dlc_rows = dlc_peer.model_bench(args.dlc_python, args.reps, args.dlc_project)
        measured = {(r["kind"], *r["hw"], r["batch"]) for r in dlc_rows}
        rest = [c for c in dict.fromkeys(c for _, c in plan(args.plan, backends))
                if c not in measured]
        if rest:  # the grid's shapes: DLC's model, timed by our dlc_model_grid.py
            dlc_rows += dlc_peer.model_grid(args.dlc_python, rest, args.reps, args.dlc_project)
        print_table(dlc_rows, "DeepLabCut 3.0.2 (PyTorch): ../shared/peer/model_bench.py, then dlc_model_grid.py")
        print_ratios(kit_rows, dlc_rows)
    else:
        print("\nDeepLabCut not measured: pass --dlc-python (see benchmarks/README.md).")
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end")
    if args.json:
        Path(args.json).write_text(json.dumps({"kit": kit_rows, "dlc": dlc_rows}, indent=1))
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        kind, h, w, b, reps, jit, variant = sys.argv[2:9]
        sys.path.insert(0, str(HERE.parent))
        print(json.dumps(measure(kind, int(h), int(w), int(b), int(reps), json.loads(jit),
                                 variant)))
        sys.exit(0)
    sys.path.insert(0, str(HERE))
    sys.exit(main())
