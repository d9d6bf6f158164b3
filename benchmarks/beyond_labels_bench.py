"""Beyond the labeled frames on a real project: ``kit.experiments.beyond_labels`` (what
``15_beyond_labels`` runs) on a scratch copy of the openfield project (``../shared``,
copied without models), every method from random weights on the blocks split (each video's
last 20% of labeled frames are the test set), and supervised on the random split beside it.

Prints one row per method and training size (test error mean / median / 90th percentile
in px against the human labels, jitter on the first ``--video-frames`` frames of the
project's video, wall and training seconds) and writes ``--out``/beyond_labels_openfield.{csv,png},
every test point's error (``_points.csv``) and each method against supervised training on
the same points, with a 95% interval over test frames (``_against.csv``).

    .venv/bin/python benchmarks/beyond_labels_bench.py --train-sizes 50 --train-steps 500
    .venv/bin/python benchmarks/beyond_labels_bench.py --quick   # 2 minutes, says nothing
    .venv/bin/python benchmarks/beyond_labels_bench.py --lightning-pose \
        ../shared/datasets/lp-mirror-mouse --rotation-deg 25 --global-scale 0.6 --lp-columns
    .venv/bin/python benchmarks/beyond_labels_bench.py --time-budget 240 --methods \
        supervised unlabeled_losses ensemble_3x   # the same training time (x3) for each

``--lightning-pose`` imports a Lightning Pose project first (:mod:`kit.project.lightning_pose`;
images and video linked, not copied) and compares the methods on it. ``--sleap`` imports a
SLEAP file (:func:`kit.project.sleap_file.import_slp`): ``--sleap-frames`` frames spread
evenly over its video become the labeled frames, so the blocks split's test set is the
video's last ``1 - train_fraction``; several animals are scored on the matched animals, with
OKS mAP (:mod:`kit.experiments.beyond_labels`). SLEAP's predictions as labels are a
network's outputs: the errors compare the methods with them, not with the truth.

    .venv/bin/python benchmarks/beyond_labels_bench.py --sleap \
        ../shared/datasets/sleap-centered-pair/centered_pair_predictions.slp \
        --num-individuals 2 --train-fraction 0.7 --methods supervised full_rotation

``--merge`` trains nothing: it joins earlier runs' outputs (their tags) into one table and
figure under ``--tag``, each method, split and size once (a row whose model was only
evaluated again gives way to the run that trained it):

    .venv/bin/python benchmarks/beyond_labels_bench.py --merge t1200 t1200random --tag t1200all
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
OPENFIELD = HERE.parent.parent / "shared" / "datasets" / "openfield-Pranav-2018-10-30"


def main() -> None:
    from kit.experiments.beyond_labels import METHODS

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", default=str(OPENFIELD), help="a DeepLabCut project")
    parser.add_argument("--lightning-pose", default="", help="a Lightning Pose project instead")
    parser.add_argument("--sleap", default="", help="a SLEAP .slp file (and its video) instead")
    parser.add_argument("--sleap-frames", type=int, default=100,
                        help="labeled frames imported from --sleap, spread over the video")
    parser.add_argument("--num-individuals", type=int, default=0,
                        help="--sleap: keep this many animals per frame, the best-scored (0: all)")
    parser.add_argument("--train-fraction", type=float, default=0.8,
                        help="share of each video's labeled frames before the test block")
    parser.add_argument("--validation-fraction", type=float, default=0.0,
                        help="each video's frames just before its test block kept out of "
                             "training to choose on (the val_ columns, _chosen.csv)")
    parser.add_argument("--rotation-by-video", action="store_true",
                        help="choose the rotation range on the video's points below pcutoff "
                             "first, then the method on the validation block (_chosen.csv)")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--train-sizes", nargs="+", type=int, default=[20, 50])
    parser.add_argument("--train-steps", type=int, default=500)
    parser.add_argument("--net-type", default="mobilenet_v2_1.0")
    parser.add_argument("--crop-size", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--learning-rate", type=float, default=0.001,
                        help="Adam's initial rate, every method's (divided by 10 at 80%% and 95%%)")
    parser.add_argument("--rotation-deg", type=float, default=180.0,
                        help="rotation range of the methods but supervised (25: a rig whose "
                             "views do not turn, like the mirror mouse)")
    parser.add_argument("--global-scale", type=float, default=0.8,
                        help="images scaled by this first (0.6: the mirror mouse's whole "
                             "406x396 frame fits a 256 crop)")
    parser.add_argument("--lp-columns", action="store_true",
                        help="a Lightning Pose project's mirrored_column_matches as view_pairs "
                             "(the losses on unlabeled frames add the views' agreement) and its "
                             "columns_for_singleview_pca as pca_bodyparts")
    parser.add_argument("--time-budget", type=float, default=0.0,
                        help="seconds of training per method instead of --train-steps (each "
                             "method's step timed first)")
    parser.add_argument("--train-settings", default="",
                        help="further TrainConfig settings of every method, as 03_train's "
                             "train_settings: \"temporal_min_confidence=0.05\"")
    parser.add_argument("--video-frames", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0,
                        help="seeds every run's weights, batches and its labeled frames' draw "
                             "(the test block is the same for every seed): run to run spread")
    parser.add_argument("--work", default="", help="scratch folder (default: a temporary one)")
    parser.add_argument("--out", default=str(HERE / "output"))
    parser.add_argument("--tag", default="", help="appended to the output files' name")
    parser.add_argument("--quick", action="store_true", help="tiny settings: a smoke run")
    parser.add_argument("--merge", nargs="+", default=[], metavar="TAG",
                        help="join the outputs of these tags (of the same data set) under --tag")
    args = parser.parse_args()
    if args.merge:
        return merge(args)
    if args.quick:
        args.train_sizes, args.train_steps, args.crop_size = [20], 6, 128
        args.batch_size, args.video_frames = 2, 10
    if args.sleap and not Path(args.sleap).is_file():
        raise SystemExit(f"No SLEAP file at {args.sleap} (../shared absent?). Pass --sleap.")
    if (not (args.lightning_pose or args.sleap)
            and not Path(args.project, "config.yaml").is_file()):
        raise SystemExit(f"No DeepLabCut project at {args.project} (../shared absent?). "
                         "Pass --project.")
    run(args)


def dataset_slug(args) -> str:
    """The data set's name in the outputs: openfield-Pranav-2018-10-30 -> openfield;
    lp-mirror-mouse -> mirror_mouse; a SLEAP file -> sleap_<its folder, less "sleap-" and
    "-pair"> (sleap-centered-pair -> sleap_centered: the output names a data set by kind, not
    the shared data set's own file names, which stay in ../shared)."""
    if args.sleap:
        return "sleap_" + Path(args.sleap).parent.name.removeprefix("sleap-").removesuffix("-pair")
    if args.lightning_pose:
        return Path(args.lightning_pose).name.removeprefix("lp-").replace("-", "_")
    return Path(args.project).name.split("-")[0]


def output_name(args, tag: str) -> str:
    """beyond_labels_<data set>[_<tag>], the outputs' name without suffix."""
    return "beyond_labels_" + dataset_slug(args) + (f"_{tag}" if tag else "")


def merge(args) -> None:
    """``--merge``: the rows of earlier outputs in one table and figure."""
    import pandas as pd

    key = ["method", "split", "train_size"]
    stems = {tag: Path(args.out, output_name(args, tag)) for tag in args.merge}
    table = (pd.concat([pd.read_csv(f"{stem}.csv").assign(tag=tag) for tag, stem in stems.items()])
             .sort_values("wall_s", ascending=False)  # a model evaluated again: ~0 s
             .drop_duplicates(key)
             .sort_values(["train_size", "split", "method"], ascending=[False, True, True]))
    # each run's test points from the first tag that has them (a model evaluated again scores
    # the same points as the run that trained it)
    points = [pd.read_csv(f"{stem}_points.csv").assign(tag=tag) for tag, stem in stems.items()
              if Path(f"{stem}_points.csv").is_file()]
    if points:
        points = pd.concat(points)
        first = points.drop_duplicates(key)[key + ["tag"]]
        points = points.merge(first, on=key + ["tag"]).drop(columns="tag")
    save_outputs(args, table.drop(columns="tag"), points if len(points) else None)


def save_outputs(args, table, points=None) -> None:
    """``table`` as --out/<output_name>.csv and its figure (.png), printed; with the test
    points' errors (``points``, :func:`kit.experiments.beyond_labels_tables.read_points`'s)
    those as <output_name>_points.csv and each method against supervised training as
    <output_name>_against.csv (:func:`kit.experiments.beyond_labels_tables.against_supervised`),
    and with a validation block the method it chooses (``chosen_methods``), printed."""
    from kit import plots
    from kit.experiments.beyond_labels_tables import against_supervised, chosen_methods
    from kit.project.drawing import save_figure

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = output_name(args, args.tag)
    table.to_csv(out / f"{name}.csv", index=False)
    print(save_figure(plots.plot_beyond_labels(table), out / f"{name}.png"))
    print(table.round(2).to_string(index=False))
    if points is not None and len(points):
        points.to_csv(out / f"{name}_points.csv", index=False)
        against = against_supervised(points)
        against.to_csv(out / f"{name}_against.csv", index=False)
        print("\nAgainst supervised training, the same test points (95% interval over test "
              f"frames):\n{against.round(3).to_string(index=False)}")
    if "val_median_px" in table and table.val_median_px.notna().any():
        chosen = chosen_methods(table, rotation_by_video=args.rotation_by_video)
        chosen.to_csv(out / f"{name}_chosen.csv", index=False)
        print(f"\nChosen on the validation block:\n{chosen.round(2).to_string(index=False)}")


def scratch_project(args, work: Path) -> Path:
    """The project the methods train in, under ``work`` (made unless there)."""
    if args.sleap:
        from kit.project.sleap_file import import_slp

        source = Path(args.sleap)
        copy = work / dataset_slug(args)
        if not copy.exists():
            import_slp(source, copy, instances="all", num_individuals=args.num_individuals or None,
                       max_frames=args.sleap_frames)
        return copy
    source = Path(args.lightning_pose or args.project)
    copy = work / source.name
    if args.lightning_pose and not copy.exists():
        from kit.project.lightning_pose import import_lp_project

        import_lp_project(source, copy)
    elif not copy.exists():
        shutil.copytree(source, copy, ignore=shutil.ignore_patterns(
            "dlc-models*", "training-datasets", "evaluation-results*", "kit-models"))
    return copy


def run(args) -> None:
    from kit.experiments.beyond_labels import BeyondConfig, compare_methods
    from kit.experiments.beyond_labels_tables import read_points
    from kit.project import load_project

    work = Path(args.work or tempfile.mkdtemp(prefix="beyond-"))
    copy = scratch_project(args, work)
    view_pairs, pca_bodyparts = (), ()
    if args.lp_columns:
        from kit.project.lightning_pose import read_lp_project

        lp = read_lp_project(args.lightning_pose)
        view_pairs, pca_bodyparts = lp.view_pairs, lp.pca_bodyparts
    config = BeyondConfig(
        methods=tuple(args.methods), train_sizes=tuple(args.train_sizes),
        train_steps=args.train_steps, net_type=args.net_type, batch_size=args.batch_size,
        crop_size=args.crop_size, learning_rate=args.learning_rate,
        video_frames=args.video_frames,
        train_fraction=args.train_fraction, rotation_deg=args.rotation_deg,
        global_scale=args.global_scale, time_budget_s=args.time_budget, view_pairs=view_pairs,
        pca_bodyparts=pca_bodyparts, train_settings=args.train_settings, seed=args.seed,
        validation_fraction=args.validation_fraction)
    print(f"{copy}: {config}", flush=True)
    table = compare_methods(load_project(copy), config, work / "results",
                            progress=lambda line: print(line, flush=True))
    save_outputs(args, table, read_points(work / "results"))


if __name__ == "__main__":
    main()
