"""Time to accuracy, kit beside DeepLabCut 3: test error against wall-clock time, both from
random initial weights, on the same frames, one tool after the other in one run.

A synthetic DeepLabCut project (kit.experiments.synthetic: ``--image-size`` square frames,
``--num-labeled`` labeled frames with Gaussian label noise of sd ``--label-noise`` px) is
split 80/20 as kit splits it. Then, one configuration at a time, each in its own process:

- kit, per ``--net-types`` backbone: ``kit.net.train.train`` (weights=None, batch 8,
  ``--optimizer``, ``--kit-steps`` steps with kit's schedule, kit's other defaults), a
  checkpoint every ``--save-every`` steps, each kept as it appears
  (``kit.experiments.time_to_accuracy.CheckpointKeeper``);
- DeepLabCut 3.0.2 in its own venv (``dlc_tta_train.py``): ``train_network`` with its
  defaults (resnet_50, batch 8, AdamW, 448x448 crop sampling) from random weights, a
  snapshot every epoch; with ``--dlc-crop N`` also a second run with N x N crops.

Each run stops when its time budget is spent (the clock starts at the training call, so data
loading and model building count; imports do not). Afterwards, untimed, every checkpoint /
snapshot predicts the test frames and its error is computed by kit's code (mean Euclidean
distance to the noise-free ground truth). Written to ``--out``: ``<project>.csv`` rows
(project, config, step, wall_s, error_px) and ``<project>.png`` (error against time); printed:
each configuration's time to reach twice the labels' mean error and the ratio kit / DLC.

    .venv/bin/python benchmarks/time_to_accuracy.py --quick          # about 3-4 minutes
    .venv/bin/python benchmarks/time_to_accuracy.py                  # about 25 minutes
    .venv/bin/python benchmarks/time_to_accuracy.py --projects synthetic openfield  # both

On the openfield project (``--projects openfield``; copied to a temporary folder) there is no
ground truth: errors are against the human labels, and no target is set.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OPENFIELD = REPO.parent / "shared" / "datasets" / "openfield-Pranav-2018-10-30"
KIT_NET_TYPES = ("mobilenet_v2_0.35", "efficientnet-b0", "resnet_50")
TRAIN_FRACTION = 0.8
MANY_STEPS = 100_000  # --kit-steps' default: the budget ends the run before any decay


def kit_config(args, net_type: str):
    from kit.net.train import TrainConfig

    return TrainConfig(net_type=net_type, weights=None, batch_size=args.batch_size,
                       train_steps=args.kit_steps, save_every=args.save_every,
                       optimizer=args.optimizer, train_fraction=TRAIN_FRACTION,
                       keep_checkpoints=True, seed=0)


def kit_child(args) -> None:
    """In its own process: train ``args.kit_child`` = (project, net_type, start file)."""
    import kit

    kit.use_onednn()  # as kit's runner does for every notebook kernel
    from kit.net.train import train
    from kit.project import load_project

    project_dir, net_type, start_file = args.kit_child
    project, config = load_project(project_dir), kit_config(args, net_type)
    Path(start_file).write_text(repr(time.time()))
    train(project, config, verbose=0)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (and of its waited-for children),
    from /proc: a clock that other users' load on the machine stretches less than the wall's."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _run_timed(cmd: list[str], start_file: Path, budget_s: float, log: Path,
               poll=lambda cpu_s: None) -> float:
    """Run ``cmd`` until ``budget_s`` seconds after it wrote ``start_file`` (or it exits),
    calling ``poll(its CPU seconds since the start)`` every 0.25 s; return the start time
    (seconds since the epoch)."""
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        while proc.poll() is None and not (start_file.is_file() and start_file.read_text()):
            time.sleep(0.1)
        if not start_file.is_file() or not start_file.read_text():
            raise RuntimeError(f"{' '.join(cmd[:3])} exited {proc.returncode} before training: "
                               f"{log.read_text()[-1500:]}")
        start, cpu_start = float(start_file.read_text()), cpu_seconds(proc.pid)
        while proc.poll() is None and time.time() - start < budget_s:
            poll(cpu_seconds(proc.pid) - cpu_start)
            time.sleep(0.25)
        if proc.poll() is None:
            poll(cpu_seconds(proc.pid) - cpu_start)
    finally:
        _stop(proc)
    if proc.returncode not in (0, -15, -9):
        raise RuntimeError(f"{' '.join(cmd[:3])} failed ({proc.returncode}): "
                           f"{log.read_text()[-1500:]}")
    return start


def run_kit(args, project, net_type: str, test: list[str], work: Path) -> list[dict]:
    from kit.experiments.time_to_accuracy import (
        CheckpointKeeper,
        load_test_images,
        mean_error_px,
        predict_checkpoint,
        true_positions,
    )
    from kit.net.train import calibration_batches

    config = kit_config(args, net_type)
    keeper = CheckpointKeeper(config.model_dir(project) / "checkpoints", work / f"kept-{net_type}")
    start_file = work / f"start-{net_type}"
    cmd = [sys.executable, __file__, "--kit-child", str(project.root), net_type, str(start_file),
           "--optimizer", args.optimizer, "--batch-size", str(args.batch_size),
           "--save-every", str(args.save_every), "--kit-steps", str(args.kit_steps)]
    cpu = {}

    def poll(cpu_s: float) -> None:
        keeper.poll()
        cpu.update({step: cpu_s for step in keeper.kept if step not in cpu})

    start = _run_timed(cmd, start_file, args.kit_budget, work / f"kit-{net_type}.log", poll)
    images, truth = load_test_images(project, test), true_positions(project, test)
    if not keeper.kept:
        print(f"  kit {net_type}: no checkpoint within {args.kit_budget:.0f} s; its log ends: "
              f"{(work / f'kit-{net_type}.log').read_text()[-600:]}")
    rows = []
    calibration = calibration_batches(project, config)  # as train() treats its final model
    for step, (path, mtime) in sorted(keeper.kept.items()):
        points = predict_checkpoint(path, config, project.bodyparts, images, step, calibration)
        rows.append({"config": f"kit {net_type}", "step": step, "wall_s": mtime - start,
                     "cpu_s": cpu[step],
                     "error_px": mean_error_px(points, truth)})
    shutil.rmtree(config.model_dir(project), ignore_errors=True)
    shutil.rmtree(work / f"kept-{net_type}", ignore_errors=True)
    return rows


def run_dlc(args, project, split: dict, work: Path, crop: int | None) -> list[dict]:
    from kit.experiments.time_to_accuracy import mean_error_px, true_positions

    name = "DLC3 resnet_50" + (f" crop {crop}" if crop else "")
    copy = work / ("dlc" + (f"-crop{crop}" if crop else ""))
    shutil.copytree(project.root, copy, ignore=shutil.ignore_patterns("kit-models"))
    (work / "dlc-train-test.json").write_text(json.dumps(split))  # not a kit model folder's
    start_file = work / f"start-{copy.name}"
    cmd = [args.dlc_python, str(REPO / "benchmarks" / "dlc_tta_train.py"), str(copy),
           str(work / "dlc-train-test.json"), "100000", str(start_file), *([str(crop)] if crop else [])]
    cpu = {}

    def poll(cpu_s: float) -> None:  # DeepLabCut keeps every snapshot: note when each came
        for snapshot in copy.glob("dlc-models-pytorch/iteration-0/*shuffle1/train/snapshot-*.pt"):
            cpu.setdefault(snapshot.name, cpu_s)

    start = _run_timed(cmd, start_file, args.dlc_budget, work / f"{copy.name}.log", poll)
    train_dir = next(copy.glob("dlc-models-pytorch/iteration-0/*shuffle1/train"))
    (work / "test.json").write_text(json.dumps(split["test"]))
    out = work / f"{copy.name}-predictions.json"
    subprocess.run([args.dlc_python, str(REPO / "benchmarks" / "dlc_tta_predict.py"), str(copy),
                    str(work / "test.json"), str(out)], check=True, capture_output=True)
    truth = true_positions(project, split["test"])
    rows = []
    for snapshot, poses in json.loads(out.read_text()).items():
        epoch = int(snapshot.split("-")[1].split(".")[0])
        rows.append({"config": name, "step": epoch,
                     "wall_s": (train_dir / snapshot).stat().st_mtime - start,
                     "cpu_s": cpu.get(snapshot, float("nan")),
                     "error_px": mean_error_px(poses, truth)})
    shutil.rmtree(copy, ignore_errors=True)
    return rows


def make_projects(args, work: Path) -> list[tuple[str, object, float | None]]:
    """(name, project, target px or None) per project this run trains on."""
    from kit.experiments.synthetic import (
        SyntheticConfig,
        expected_label_error,
        make_synthetic_project,
    )
    from kit.project import load_project

    projects = []
    if "synthetic" in args.projects:
        size = (args.image_size, args.image_size)
        synthetic = make_synthetic_project(work / "synthetic", SyntheticConfig(
            num_frames=2 * args.num_labeled, num_labeled=args.num_labeled, image_size=size,
            label_noise_px=args.label_noise))
        projects.append(("synthetic", synthetic, 2 * expected_label_error(args.label_noise)))
    if "openfield" in args.projects:
        shutil.copytree(OPENFIELD, work / "openfield",
                        ignore=shutil.ignore_patterns("dlc-models*", "training-datasets",
                                                      "evaluation-results*", "kit-models"))
        projects.append(("openfield", load_project(work / "openfield"), None))
    return projects


def run_project(args, name: str, project, work: Path) -> list[dict]:
    from kit.project.labels import load_labels
    from kit.project.splits import make_split

    split = make_split(list(load_labels(project).index), TRAIN_FRACTION, 1, 0)
    split = {"train": list(split.train), "test": list(split.test)}
    work = work / f"runs-{name}"  # start files, logs, kept checkpoints, DLC's copies
    work.mkdir()
    print(f"{name}: {len(split['train'])} training / {len(split['test'])} test frames",
          flush=True)
    rows = []
    for net_type in args.net_types:
        rows += run_kit(args, project, net_type, split["test"], work)
        print(f"  kit {net_type}: {len(rows)} rows so far", flush=True)
    if not args.dlc_python or not Path(args.dlc_python).is_file():
        print(f"  DeepLabCut not measured: no python at {args.dlc_python!r}.")
    else:
        for crop in [None] + ([args.dlc_crop] if args.dlc_crop else []):
            try:  # kit's rows are worth keeping whatever happens on DeepLabCut's side
                rows += run_dlc(args, project, split, work, crop)
            except (RuntimeError, subprocess.CalledProcessError, OSError) as e:
                print(f"  DLC{' crop ' + str(crop) if crop else ''} failed: {e}"
                      f"{getattr(e, 'stderr', b'')[-1500:]!r}", flush=True)
            print(f"  DLC{' crop ' + str(crop) if crop else ''}: done", flush=True)
    return [{"project": name, **row} for row in rows]


def summarise(table, target: float | None, budgets: dict[str, float]) -> None:
    """Print the best error and, with a target, each configuration's time to reach it
    (wall clock and the training process's CPU time) and kit's fastest / DeepLabCut's."""
    from kit.experiments.time_to_accuracy import time_to_reach

    reached = {}
    for config, rows in table.groupby("config", sort=False):
        line = f"  {config:28s} checkpoints {len(rows):3d}, best {rows['error_px'].min():7.2f} px"
        if target is not None:
            reached[config] = [time_to_reach(rows, target, x) for x in ("wall_s", "cpu_s")]
            wall, cpu = reached[config]
            budget = budgets["dlc" if config.startswith("DLC") else "kit"]
            line += (f", reaches {target:.2f} px at {wall:6.1f} s wall, {cpu:6.1f} s CPU"
                     if wall == wall else f", {target:.2f} px not reached in {budget:.0f} s wall")
        print(line)
    kit_times = {c: t for c, t in reached.items() if c.startswith("kit") and t[0] == t[0]}
    dlc = reached.get("DLC3 resnet_50")
    if kit_times and dlc is not None:
        fastest = min(kit_times, key=lambda c: kit_times[c][0])
        wall, cpu = kit_times[fastest]
        if dlc[0] == dlc[0]:
            print(f"  kit's fastest ({fastest}) / DLC3: {wall / dlc[0]:.3f} wall, "
                  f"{cpu / dlc[1]:.3f} CPU")
        else:
            print(f"  kit's fastest ({fastest}) / DLC3: < {wall / budgets['dlc']:.3f} wall "
                  f"(DLC3 did not reach it within its {budgets['dlc']:.0f} s)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="one kit backbone, short budgets (checks that it all works)")
    parser.add_argument("--projects", nargs="+", choices=("synthetic", "openfield"),
                        default=["synthetic"], help="which projects (default: synthetic)")
    parser.add_argument("--net-types", nargs="+", default=None)
    parser.add_argument("--kit-budget", type=float, default=None, help="s per kit backbone")
    parser.add_argument("--dlc-budget", type=float, default=None, help="s per DLC run")
    parser.add_argument("--dlc-crop", type=int, default=0,
                        help="also DLC with N x N crops (0: DLC's default 448 only)")
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--num-labeled", type=int, default=None,
                        help="labeled frames (default 60; --quick 20: DLC's epochs of 2 steps)")
    parser.add_argument("--label-noise", type=float, default=1.5, help="sd, px")
    parser.add_argument("--optimizer", default="adam")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--save-every", type=int, default=None, help="kit steps (default 20)")
    parser.add_argument("--kit-steps", type=int, default=MANY_STEPS,
                        help="kit's train_steps: its Adam rate drops tenfold at 80%% and 95%% "
                             "of them (default: so many that the budget ends the run first)")
    parser.add_argument("--dlc-python", default=os.environ.get("DLC_PYTHON",
                                                               "/work/venv-dlc/bin/python"))
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "output")
    parser.add_argument("--kit-child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.kit_child:
        kit_child(args)
        return 0
    args.net_types = args.net_types or (["mobilenet_v2_0.35"] if args.quick else KIT_NET_TYPES)
    args.kit_budget = args.kit_budget or (120 if args.quick else 180)
    args.dlc_budget = args.dlc_budget or (240 if args.quick else 900)
    args.num_labeled = args.num_labeled or (20 if args.quick else 60)
    args.save_every = args.save_every or (10 if args.quick else 20)

    import pandas as pd

    from kit.experiments.curves import save_table
    from kit.experiments.time_to_accuracy import plot_error_against_time
    from kit.project.drawing import save_figure

    started = time.time()
    with tempfile.TemporaryDirectory(prefix="kit-tta-") as tmp:
        for name, project, target in make_projects(args, Path(tmp)):
            table = pd.DataFrame(run_project(args, name, project, Path(tmp)),
                                 columns=["project", "config", "step", "wall_s", "cpu_s",
                                          "error_px"])
            save_table(table, args.out / f"time_to_accuracy_{name}.csv")
            title = (f"{name}: from random weights, {os.cpu_count()}-core CPU"
                     + (f", label noise sd {args.label_noise} px" if target else ""))
            for x, suffix in (("wall_s", ""), ("cpu_s", "_cpu")):
                save_figure(plot_error_against_time(table, target, title, x),
                            args.out / f"time_to_accuracy_{name}{suffix}.png")
            print(f"{name} (target {target:.2f} px):" if target else f"{name}:")
            summarise(table, target, {"kit": args.kit_budget, "dlc": args.dlc_budget})
    print(f"written to {args.out}; {time.time() - started:.0f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
