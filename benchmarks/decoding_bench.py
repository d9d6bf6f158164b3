"""Two ways of decoding the same trained models, compared: the change of the test error
(mean, median, 90th percentile, px) with a 95% interval from resampling the frames
(:func:`kit.results.paired.paired_change`), on the test frames, on a model's validation
block where it kept one (``validation_fraction``: the frames to choose on) and on the
labeled frames of the training pool that the model did not train on (``unused``: fine for
choosing how to decode one model, not how to train it) and those it trained on (``train``:
how closely it fits its own labels), and the jitter and roughness of each one's
analysis of the project's video. Nothing is trained: the models are those ``beyond_labels_bench.py``
trained, whose pose configs this rewrites (left with ``--after``). For several animals the test
and validation blocks' OKS mAP are beside them (``map_before``, ``map_after``; NaN for the pool's
frames; the validation block's is what several animals are chosen on,
:func:`kit.experiments.beyond_labels_tables.chosen_methods`).

``--before`` and ``--after`` set pose-config fields (:class:`kit.net.model_folder.PoseConfig`)
as "name=value ...": ``decoder=two_views`` (:mod:`kit.net.two_views`, fitted on each model's
training frames first where it was trained with view_pairs), ``test_scales=0.85,1,1.15``
(:mod:`kit.net.test_scales`; empty: one scale), ``test_rotations=0,90,180,270`` (models
trained with rotation_deg=180 only), ``test_mirror=True`` (each pass flipped too; models
trained with mirror=True only), ``view_boundary=`` (two_views without the line between the
views). Each decoding starts from the pose config as fitted (its test passes as trained,
whatever an earlier run left), not from the other's. The
mirror's two views, then several scales:

    .venv/bin/python benchmarks/decoding_bench.py /tmp/bench/mm1200/lp-mirror-mouse \
        --before decoder=single_animal --after decoder=two_views --tag two_views_t1200
    .venv/bin/python benchmarks/decoding_bench.py /tmp/bench/mm1200/lp-mirror-mouse \
        /tmp/bench/of1200/openfield --before test_scales= --after test_scales=0.85,1,1.15 \
        --tag scales_t1200

``--against MODEL`` compares another model (as its pose config stands; trained on the same
split) with each model at ``--after``, point by point: e.g. two trainings, each decoded
its best way.

Writes ``output/decoding_<tag>.{csv,png}``.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import tempfile
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from kit.experiments.beyond_labels import BeyondConfig, blocks_scores, video_figures  # noqa: E402
from kit.net.model_folder import TWO_VIEWS_DECODER, ModelFolder, PoseConfig  # noqa: E402
from kit.net.predict import Predictor  # noqa: E402
from kit.net.two_views import use_two_views  # noqa: E402
from kit.project import load_project  # noqa: E402
from kit.project.labels import load_labels  # noqa: E402
from kit.results.evaluate import evaluate_images  # noqa: E402
from kit.results.generalization import point_errors  # noqa: E402
from kit.results.paired import paired_change  # noqa: E402

OUT = Path(__file__).parent / "output"


def pose_fields(text: str) -> dict:
    """``"decoder=two_views test_scales=0.85,1,1.15"`` -> the pose-config fields."""
    fields = {}
    for item in text.split():
        name, _, value = item.partition("=")
        kind = {"test_scales": float, "test_rotations": int, "view_boundary": float}.get(name)
        fields[name] = tuple(kind(v) for v in value.split(",") if v) if kind else value
        if name == "test_mirror":
            fields[name] = value.lower() in ("1", "true", "yes")
    return fields


def pool_points(project, folder: ModelFolder, which: str) -> pd.DataFrame:
    """Every labeled point's error on the training pool's frames: ``"train"``, those the
    model trained on (how closely it fits its own labels: the floor of what generalizing
    better can win), or ``"unused"``, the rest of the pool (in neither its training frames
    nor its test or validation frames)."""
    split, labels = folder.load_split(), load_labels(project)
    if which == "train":
        trained = set(split.train)
        frames = [f for f in labels.index if f in trained]
    else:
        elsewhere = {*split.train, *split.test, *split.validation}
        frames = [f for f in labels.index if f not in elsewhere]
    if not frames:
        return pd.DataFrame(columns=["image", "individual", "bodypart", "error_px"])
    evaluation = evaluate_images(project, Predictor(folder.path), labels.loc[frames], 0.0, which)
    return point_errors(evaluation.predictions, labels.loc[frames])


def decoded(project, folder: ModelFolder, fields: dict, args,
            base: PoseConfig | None = None) -> dict:
    """The model decoded with ``fields`` set in its pose config (``base``: default, the one
    on disk): its test, validation, unused and training points' errors and the jitter and
    roughness of its analysis of the project's first ``args.video_frames`` video frames
    (:func:`kit.experiments.beyond_labels.video_figures`)."""
    pose = dataclasses.replace(base or folder.load_pose_config(), **fields)
    folder.save_pose_config(pose)
    settings = BeyondConfig(video_frames=args.video_frames,
                            train_fraction=folder.load_train_config().train_fraction)
    decoding = {"decoder": pose.decoder, "test_scales": pose.test_scales,  # each decoding
                "test_rotations": pose.test_rotations,  # its own analysis
                "test_mirror": pose.test_mirror,
                "boundary": bool(pose.view_boundary)}
    name = re.sub(r"[^\w.=-]", "", "-".join(f"{k}={v}" for k, v in decoding.items()))
    where = f"{project.root.parent.name}-{folder.path.name}"  # runs share folder names
    video = video_figures(project, [folder], settings, args.work / where / name)
    points, maps = blocks_scores(project, [folder])
    return {"test": points[points.frames == "test"].drop(columns="frames"),
            "validation": points[points.frames == "validation"].drop(columns="frames"),
            "unused": pool_points(project, folder, "unused"),
            "train": pool_points(project, folder, "train"), "jitter": video["jitter_px"],
            "roughness": video["roughness_px"], "mAP": maps}


def compare(project_dir: Path, args, against: dict | None = None) -> list[dict]:
    """One row per statistic and frame set per model of the project: ``--before`` against
    ``--after``, or ``against`` (:func:`decoded`'s, another model) against ``--after``."""
    project, rows = load_project(project_dir), []
    before, after = pose_fields(args.before), pose_fields(args.after)
    for path in sorted(project_dir.glob("kit-models/*/*")):
        folder = ModelFolder(path)
        if not folder.is_trained():
            continue
        trained = folder.load_train_config()
        views, turns = trained.view_pairs, {*before.get("test_rotations", ()),
                                            *after.get("test_rotations", ())} - {0}
        flips = before.get("test_mirror") or after.get("test_mirror")
        if ((TWO_VIEWS_DECODER in (before.get("decoder"), after.get("decoder")) and not views)
                or (turns and (trained.augment.rotation_deg < 180 or views))
                or (flips and not trained.augment.mirror)):
            continue  # two_views needs view_pairs; turns, a full-circle model; flips, mirrored
        if views:
            use_two_views(project, folder)  # fitted on its training frames
        fitted = dataclasses.replace(  # each decoding from it: passes as trained, not as
            folder.load_pose_config(), test_scales=trained.test_scales,  # a last run left
            test_rotations=trained.test_rotations, test_mirror=trained.test_mirror)
        first = against or decoded(project, folder, before, args, fitted)
        second = decoded(project, folder, after, args, fitted)
        for frames in ("test", "validation", "unused", "train"):
            if first[frames].empty or second[frames].empty:
                continue
            both = first[frames].merge(second[frames], on=["image", "individual", "bodypart"],
                                       suffixes=("_before", ""))
            change = paired_change(both["error_px_before"], both["error_px"], both["image"])
            maps = [side["mAP"].get(frames, np.nan) for side in (first, second)]
            print(f"\n{folder.path.name} ({frames})\n{change.round(3).to_string()}\njitter "
                  f"px: {first['jitter']:.2f} -> {second['jitter']:.2f} (roughness "
                  f"{first['roughness']:.2f} -> {second['roughness']:.2f}); {frames} mAP "
                  f"{maps[0]:.1f} -> {maps[1]:.1f}", flush=True)
            rows += [{"project": project_dir.parent.name, "model": folder.variant.lstrip("-"),
                      "against": args.against.name if args.against else "",
                      "frames": frames, "statistic": statistic,
                      "num_frames": both["image"].nunique(), **row.to_dict(),
                      "jitter_before": first["jitter"], "jitter_after": second["jitter"],
                      "roughness_before": first["roughness"],
                      "roughness_after": second["roughness"],
                      "map_before": maps[0], "map_after": maps[1]}
                     for statistic, row in change.iterrows()]
    return rows


def plot(table: pd.DataFrame, title: str, path: Path) -> None:
    """Each model's relative change of the mean and median error on each frame set, with its
    interval."""
    sets = list(dict.fromkeys(table["frames"]))
    figure, axes = plt.subplots(len(sets), 2, squeeze=False, sharey="row",
                                figsize=(11, len(sets) * (0.45 * table["model"].nunique() + 2)))
    for row_axes, frames in zip(axes, sets):
        for ax, statistic in zip(row_axes, ("mean", "median")):
            rows = table[(table["statistic"] == statistic)
                         & (table["frames"] == frames)].reset_index(drop=True)
            ax.errorbar(100 * rows["change"], np.arange(len(rows)), fmt="o",
                        xerr=[100 * (rows["change"] - rows["low"]),
                              100 * (rows["high"] - rows["change"])])
            ax.axvline(0, color="grey", lw=1)
            ax.set(yticks=np.arange(len(rows)), yticklabels=rows["project"] + " " + rows["model"],
                   xlabel=f"{statistic} error change on the {frames} frames (%)")
    figure.suptitle(f"{title}: change of the error (without '-blocks', the random split), "
                    "95% interval over frames", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("projects", nargs="+", type=Path, help="kit projects with models")
    parser.add_argument("--before", default="decoder=single_animal",
                        help="pose-config fields of the first decoding, 'name=value ...'")
    parser.add_argument("--after", default="decoder=two_views",
                        help="pose-config fields of the second (left in the pose configs)")
    parser.add_argument("--against", type=Path, default=None,
                        help="a model folder scored as its pose config stands, in place of "
                             "--before (the same split: its labeled frames' errors paired)")
    parser.add_argument("--tag", default="", help="suffix of the output files")
    parser.add_argument("--video-frames", type=int, default=100,
                        help="frames of the project's first video analysed for jitter")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "decoding",
                        help="folder of the analyses")
    args = parser.parse_args()
    against = None
    if args.against:  # another model as it stands, before every model's --after
        folder = ModelFolder(args.against)
        against = decoded(load_project(folder.path.parents[2]), folder, {}, args)
    table = pd.DataFrame([row for project in args.projects
                          for row in compare(project, args, against)])
    OUT.mkdir(exist_ok=True)
    stem = "decoding" + (f"_{args.tag}" if args.tag else "")  # a tag may hold a dot: "ema0.2"
    table.to_csv(OUT / f"{stem}.csv", index=False)
    first = f"against {args.against.name}" if args.against else args.before
    plot(table, f"{first} -> {args.after}", OUT / f"{stem}.png")
    print(f"\nwrote {OUT / stem}.csv and .png")


if __name__ == "__main__":
    main()
