"""Lightning Pose 2.4.3 beside kit on Lightning Pose's own example, the mirror mouse
(``../shared/datasets/lp-mirror-mouse``: 90 labeled two-view frames, 17 body parts).

The example is imported as a kit project (``kit.project.lightning_pose``, images and video
linked, not copied) in a scratch folder; kit's blocks split (``split_method="blocks"``,
train_fraction 0.8: the 18 highest-numbered labeled frames are the test set) gives the
training frames (the first ``--train-sizes`` of its seeded order) and the test frames, the
same for both tools. Both train from random weights for the same wall-clock budget
(``--minutes``): kit a ``--net-type`` backbone (Adam 1e-3, its augmentation with rotations up
to ``--rotation-deg``), Lightning Pose supervised (semi-supervised Lightning Pose needs
NVIDIA DALI, hence a GPU) with a ResNet-18 (``backbone_pretrained=false``: this machine
cannot download ImageNet weights), in its own venv, on a label CSV of exactly kit's training
frames (``write_lp_labels``; it keeps its own 10% of them for validation, as it does). To
fill the budget without cutting either short, a short pilot run of each measures its time
per step (kit) or epoch (Lightning Pose) and its fixed costs; the real run is then given the
steps or epochs that fit, so each learning-rate schedule runs to its end. Both are scored
on kit's test frames (every labeled point's distance to the prediction: mean, median, 90th
percentile, px) and, with ``--video-frames N``, jitter on the first N frames of the video
(median frame-to-frame move of the points with likelihood >= 0.6).

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/lp_peer.py --minutes 10 --train-sizes 50
    .venv/bin/python benchmarks/lp_peer.py --quick      # plumbing only, 5 minutes, says nothing

Lightning Pose's venv: ``--lp-python``, else ``LP_PYTHON``, else ``../venv-lp/bin/python``
(the recipe: ``../shared/peer/lightning-pose.md``).
Writes ``--out``/lp_peer_mirror_mouse_n<sizes>.csv.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
MIRROR_MOUSE = REPO.parent / "shared" / "datasets" / "lp-mirror-mouse"
LP_PYTHON = REPO.parent / "venv-lp" / "bin" / "python"
TRAIN_FRACTION = 0.8
PCUTOFF = 0.6
KIT_PILOT_STEPS = (10, 40)  # time between these two checkpoints: seconds per step
LP_PILOT_EPOCHS = 2  # the second epoch's time: seconds per epoch
COLUMNS = ["tool", "model", "train_size", "mean_px", "median_px", "p90_px", "num_points",
           "jitter_px", "wall_s", "steps", "epochs"]


def kit_config(args, train_size: int, steps: int, shuffle: int = 1, save_every: int = 0):
    """kit's TrainConfig of one run: random weights, blocks split, Adam."""
    from kit.net.data import AugmentConfig
    from kit.net.train import TrainConfig

    return TrainConfig(
        shuffle=shuffle, train_fraction=TRAIN_FRACTION, train_steps=steps,
        batch_size=args.batch_size, net_type=args.net_type, weights=None, optimizer="adam",
        learning_rate=1e-3, train_size=train_size, split_method="blocks",
        save_every=save_every, augment=AugmentConfig(
            crop_size=(args.crop_size, args.crop_size), rotation_deg=args.rotation_deg))


def fitting_units(budget_s: float, pilot_s: float, pilot_units: int, unit_s: float) -> int:
    """Steps (or epochs) that fill ``budget_s``, given a pilot of ``pilot_units`` that took
    ``pilot_s`` in all and ``unit_s`` per unit (the rest being fixed costs)."""
    fixed = max(0.0, pilot_s - pilot_units * unit_s)
    return max(1, int((budget_s - fixed) / unit_s))


def kit_pilot(args, project, train_size: int) -> tuple[float, float]:
    """(seconds in all, seconds per step) of a short kit run (shuffle 99: its own folder),
    the step time read from the times its checkpoints were written."""
    from kit.experiments.time_to_accuracy import CheckpointKeeper
    from kit.net.model_folder import ModelFolder
    from kit.net.train import train

    first, last = KIT_PILOT_STEPS
    config = kit_config(args, train_size, last, shuffle=99, save_every=first)
    folder = ModelFolder(config.model_dir(project))
    kept = folder.path.parent / f"{folder.path.name}-kept"
    keeper = CheckpointKeeper(folder.checkpoints_dir, kept)
    done = threading.Event()

    def poll():
        while not done.is_set():
            keeper.poll()
            time.sleep(0.05)

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    start = time.perf_counter()
    train(project, config, verbose=0)
    total = time.perf_counter() - start
    done.set()
    watcher.join()
    steps = sorted(keeper.kept)
    per_step = (keeper.kept[steps[-1]][1] - keeper.kept[steps[0]][1]) / (steps[-1] - steps[0])
    return total, per_step


def run_kit(args, project, train_size: int, budget_s: float) -> dict:
    """kit trained for ``budget_s`` (steps from a pilot), scored on the blocks split's test
    frames; jitter on the first ``args.video_frames`` frames of the clip."""
    from kit.experiments.beyond_labels import blocks_scores
    from kit.net.model_folder import ModelFolder
    from kit.net.train import train

    pilot_s, step_s = kit_pilot(args, project, train_size)
    steps = fitting_units(budget_s, pilot_s, KIT_PILOT_STEPS[1], step_s)
    print(f"kit pilot: {pilot_s:.0f} s for {KIT_PILOT_STEPS[1]} steps, {step_s:.2f} s a step "
          f"-> {steps} steps in {budget_s:.0f} s", flush=True)
    start = time.perf_counter()
    model_dir = train(project, kit_config(args, train_size, steps), verbose=0)
    wall = time.perf_counter() - start
    errors = blocks_scores(project, [ModelFolder(model_dir)])[0]["error_px"].to_numpy()
    jitter = kit_jitter(args, project, ModelFolder(model_dir)) if args.video_frames else None
    return {"tool": "kit", "model": f"{args.net_type}, random init", "train_size": train_size,
            **summary(errors), "jitter_px": jitter, "wall_s": wall, "steps": steps}


def kit_jitter(args, project, model) -> float:
    """Median frame-to-frame move of kit's confident body parts on the clip."""
    from kit.project.analysis_file import load_poses
    from kit.results import analyze

    settings = analyze.AnalyzeConfig(shuffle=1, train_fraction=TRAIN_FRACTION,
                                     variant=model.variant,
                                     output_dir=str(args.clip.parent / model.path.name),
                                     progress=False)
    h5 = analyze.analyze_videos(project, [args.clip], settings)[0].h5
    return median_jump(load_poses(h5)[0])


def median_jump(points) -> float:
    """Median frame-to-frame move (px) of body parts above PCUTOFF; points (N, I, K, 3)."""
    import numpy as np

    from kit.plots import frame_jumps

    moves = frame_jumps(points, PCUTOFF)
    return float(np.nanmedian(moves)) if np.isfinite(moves).any() else float("nan")


def summary(errors) -> dict:
    import numpy as np

    return {"mean_px": float(np.nanmean(errors)), "median_px": float(np.nanmedian(errors)),
            "p90_px": float(np.nanpercentile(errors, 90)),
            "num_points": int(np.isfinite(errors).sum())}


def lp_overrides(args, project, train_csv: Path, epochs: int) -> list[str]:
    """Hydra overrides of Lightning Pose's example config: supervised, random ResNet-18,
    kit's training frames, ``epochs`` epochs with the example's LR steps scaled to them."""
    milestones = sorted({max(1, round(epochs * f)) for f in (1 / 2, 2 / 3, 5 / 6)})
    return [
        f"data.data_dir={project.root}", f"data.video_dir={project.videos_dir}",
        f"data.csv_file={train_csv}", f"model.backbone={args.lp_backbone}",
        "+model.backbone_pretrained=false", "model.losses_to_use=[]",
        f"training.min_epochs={epochs}", f"training.max_epochs={epochs}",
        "training.check_val_every_n_epoch=1", "training.unfreezing_epoch=0",
        f"training.lr_scheduler_params.multisteplr.milestones=[{','.join(map(str, milestones))}]",
        "training.train_prob=0.9", "training.val_prob=0.1", "+training.num_workers=0",
        "eval.predict_vids_after_training=false", "eval.save_vids_after_training=false"]


def run_lp_train(args, project, train_csv: Path, epochs: int, out: Path) -> tuple[float, dict]:
    """``litpose train`` for ``epochs``; (wall seconds, {epoch: time it ended})."""
    cmd = [litpose(args), "train", str(args.lp_config),
           "--output_dir", str(out), "--overrides", *lp_overrides(args, project, train_csv,
                                                                  epochs)]
    ended: dict[int, float] = {}
    status = out / "train_status.json"
    with open(out.parent / f"{out.name}.log", "w") as log:
        start = time.time()
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=out.parent,
                                env=lp_env())
        while proc.poll() is None:
            time.sleep(0.2)
            try:
                progress = json.loads(status.read_text())["progress"]
                ended.setdefault(int(progress["completed"]), time.time())
            except (OSError, ValueError, KeyError, TypeError):
                pass  # not written yet, or caught mid-write
        wall = time.time() - start
    if proc.returncode != 0:
        raise RuntimeError(f"Lightning Pose exited {proc.returncode}; see "
                           f"{out.parent / out.name}.log")
    return wall, ended


def litpose(args) -> str:
    """The ``litpose`` command of Lightning Pose's venv (beside its python)."""
    return str(Path(args.lp_python).parent / "litpose")


def lp_env() -> dict:
    threads = os.environ.get("OMP_NUM_THREADS", "2")
    return {**os.environ, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads,
            "OPENBLAS_NUM_THREADS": threads, "PYTHONUNBUFFERED": "1"}


def run_lp(args, project, split, budget_s: float, work: Path) -> dict:
    """Lightning Pose on kit's training frames for ``budget_s`` (epochs from a pilot), its
    predictions of kit's test frames scored against their labels."""
    from kit.project.labels import load_labels
    from kit.project.lightning_pose import read_lp_predictions, write_lp_labels
    from kit.results.generalization import point_errors

    work.mkdir(parents=True, exist_ok=True)
    train_csv = write_lp_labels(project, split.train, work / "train.csv")
    test_csv = write_lp_labels(project, split.test, work / "test.csv")
    pilot_s, ended = run_lp_train(args, project, train_csv, LP_PILOT_EPOCHS, work / "pilot")
    epoch_s = (ended[LP_PILOT_EPOCHS] - ended[1]) / (LP_PILOT_EPOCHS - 1)
    epochs = max(2, fitting_units(budget_s, pilot_s, LP_PILOT_EPOCHS, epoch_s))
    print(f"Lightning Pose pilot: {pilot_s:.0f} s for {LP_PILOT_EPOCHS} epochs, {epoch_s:.1f} s "
          f"an epoch -> {epochs} epochs in {budget_s:.0f} s", flush=True)
    model_dir = work / "model"
    wall, _ = run_lp_train(args, project, train_csv, epochs, model_dir)
    lp_predict(args, model_dir, [test_csv] + ([args.clip] if args.video_frames else []))
    predicted = read_lp_predictions(model_dir / "image_preds" / test_csv.name / "predictions.csv")
    errors = point_errors(predicted.table, load_labels(project))["error_px"].to_numpy()
    jitter = None
    if args.video_frames:
        from kit.project.dlc_tables import table_points

        video = read_lp_predictions(model_dir / "video_preds" / f"{args.clip.stem}.csv")
        jitter = median_jump(table_points(video.table, ("x", "y", "likelihood"))[0])
    return {"tool": "Lightning Pose", "model": f"{args.lp_backbone}, random init, supervised",
            "train_size": len(split.train), **summary(errors), "jitter_px": jitter,
            "wall_s": wall, "epochs": epochs}


def lp_predict(args, model_dir: Path, inputs: list[Path]) -> None:
    """``litpose predict`` on label CSVs (image_preds/<csv>/predictions.csv) and videos."""
    cmd = [litpose(args), "predict", str(model_dir),
           *map(str, inputs), "--skip_viz", "--reader", "opencv"]
    done = subprocess.run(cmd, capture_output=True, text=True, env=lp_env(), check=False)
    if done.returncode != 0:
        raise RuntimeError(f"litpose predict exited {done.returncode}: {done.stderr[-1500:]}")


def make_clip(project, num_frames: int, path: Path) -> Path:
    """The first ``num_frames`` frames of the project's video as ``path`` (both tools
    analyse the same frames)."""
    from kit.project.video import read_frames, video_info, write_video

    video = sorted(project.videos_dir.glob("*.mp4"))[0]
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = read_frames(video, range(num_frames))
    return write_video(path, (frames[i] for i in sorted(frames)), video_info(video).fps)


def run(args) -> None:
    import pandas as pd

    from kit.net.train import draw_split
    from kit.project import atomic_write_text, load_project
    from kit.project.labels import load_labels
    from kit.project.lightning_pose import import_lp_project, read_lp_project

    work = Path(args.work or tempfile.mkdtemp(prefix="lp-peer-"))
    root = work / "mirror-mouse"
    project = load_project(root) if (root / "config.yaml").is_file() else \
        import_lp_project(args.lp_dir, root)
    args.lp_config = read_lp_project(args.lp_dir).config_file
    if args.video_frames:
        args.clip = make_clip(project, args.video_frames, work / "clip" / "clip.mp4")
    budget = 60 * args.minutes
    rows = []
    for size in args.train_sizes:
        split = draw_split(project, kit_config(args, size, 1), load_labels(project))
        print(f"{size} training frames, {len(split.test)} test frames "
              f"({split.test[0]} ... {split.test[-1]}); {budget:.0f} s each", flush=True)
        rows.append(kept_row(work / f"kit-{size}.json",
                             lambda: run_kit(args, project, size, budget)))
        rows.append(kept_row(work / f"lp-{size}.json",
                             lambda: run_lp(args, project, split, budget, work / f"lp-{size}")))
    table = pd.DataFrame(rows, columns=COLUMNS)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = "lp_peer_mirror_mouse_n" + "-".join(map(str, args.train_sizes))
    atomic_write_text(out / f"{name}.csv", table.to_csv(index=False))
    print(table.round(1).to_string(index=False))


def kept_row(path: Path, measure) -> dict:
    """The row measured before in this ``--work`` folder (kept in ``path``), else
    ``measure()``'s, kept: a run stopped by the other tool's failure resumes, not redone."""
    from kit.project import atomic_write_text

    if path.is_file():
        row = json.loads(path.read_text())
        print(f"kept from {path}: {row}", flush=True)
        return row
    row = measure()
    atomic_write_text(path, json.dumps(row))
    print(row, flush=True)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lp-dir", default=str(MIRROR_MOUSE), help="a Lightning Pose project")
    parser.add_argument("--lp-python", default=os.environ.get("LP_PYTHON", str(LP_PYTHON)))
    parser.add_argument("--minutes", type=float, default=10.0, help="training budget per tool")
    parser.add_argument("--train-sizes", nargs="+", type=int, default=[50])
    parser.add_argument("--net-type", default="mobilenet_v2_1.0")
    parser.add_argument("--crop-size", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--rotation-deg", type=float, default=25.0)
    parser.add_argument("--lp-backbone", default="resnet18")
    parser.add_argument("--video-frames", type=int, default=0, help="jitter on N frames (0: no)")
    parser.add_argument("--work", default="", help="scratch folder (default: a temporary one)")
    parser.add_argument("--out", default=str(HERE / "output"))
    parser.add_argument("--quick", action="store_true", help="tiny settings: a smoke run")
    args = parser.parse_args()
    if args.quick:
        args.minutes, args.train_sizes, args.crop_size, args.video_frames = 0.5, [20], 128, 10
    if not Path(args.lp_dir, "CollectedData.csv").is_file():
        raise SystemExit(f"No Lightning Pose project at {args.lp_dir} (../shared absent?). "
                         "Pass --lp-dir.")
    if not Path(args.lp_python).is_file():
        raise SystemExit(f"No Lightning Pose python at {args.lp_python}: install it with "
                         "../shared/peer/lightning-pose.md, then pass --lp-python.")
    run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
