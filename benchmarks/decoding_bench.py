"""The ``two_views`` decoder (:mod:`kit.net.two_views`) against the argmax decoder, on the
same trained models: every single-animal model of the given projects that was trained with
``view_pairs`` (a mirror rig's body parts seen in both views) is evaluated with each
decoder, and the change of its test error (mean, median, 90th percentile, px) is printed
with a 95% interval from resampling the test frames (:func:`kit.results.paired.paired_change`),
and the jitter of each decoder's analysis of the project's video.
Nothing is trained: the models are those ``beyond_labels_bench.py --lightning-pose ...
--lp-columns`` trained, whose pose configs this rewrites to the two_views decoder
(:func:`kit.net.two_views.use_two_views`, fitted on each model's training frames).

    .venv/bin/python benchmarks/two_views_bench.py /tmp/bench/mm1200/lp-mirror-mouse \
        /tmp/bench/mm1200s1/lp-mirror-mouse --tag t1200

Writes ``output/two_views_<tag>.{csv,png}``.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from kit.experiments.beyond_labels import BeyondConfig, blocks_scores, jitter  # noqa: E402
from kit.net.model_folder import ModelFolder  # noqa: E402
from kit.net.two_views import use_two_views  # noqa: E402
from kit.project import load_project  # noqa: E402
from kit.results.paired import paired_change  # noqa: E402

OUT = Path(__file__).parent / "output"


def decoded(project, folder: ModelFolder, decoder: str, args) -> tuple[pd.DataFrame, float]:
    """Every labeled test point's error with the model's pose config set to ``decoder``, and
    the jitter of its analysis of the project's first ``args.video_frames`` video frames
    (:func:`kit.experiments.beyond_labels.jitter`: median frame-to-frame move above pcutoff)."""
    folder.save_pose_config(dataclasses.replace(folder.load_pose_config(), decoder=decoder))
    settings = BeyondConfig(video_frames=args.video_frames,
                            train_fraction=folder.load_train_config().train_fraction)
    moves = jitter(project, [folder], settings, args.work / folder.path.name / decoder)
    return blocks_scores(project, [folder])[0], moves


def compare(project_dir: Path, args) -> list[dict]:
    """One row per statistic per model of the project trained with view_pairs."""
    project, rows = load_project(project_dir), []
    for path in sorted(project_dir.glob("kit-models/*/*")):
        folder = ModelFolder(path)
        if not (folder.is_trained() and folder.load_train_config().view_pairs):
            continue
        use_two_views(project, folder)  # fitted on its training frames
        argmax, argmax_jitter = decoded(project, folder, "single_animal", args)
        views, views_jitter = decoded(project, folder, "two_views", args)  # and left so
        change = paired_change(argmax["error_px"], views["error_px"], argmax["image"])
        print(f"\n{folder.path.name}\n{change.round(3).to_string()}\njitter px: "
              f"{argmax_jitter:.2f} -> {views_jitter:.2f}", flush=True)
        for statistic, row in change.iterrows():
            rows.append({"project": project_dir.parent.name, "model": folder.variant.lstrip("-"),
                         "statistic": statistic, "test_frames": argmax["image"].nunique(),
                         **row.to_dict(), "jitter_before": argmax_jitter,
                         "jitter_after": views_jitter})
    return rows


def plot(table: pd.DataFrame, path: Path) -> None:
    """Each model's relative change of the mean and median error, with its interval."""
    figure, axes = plt.subplots(1, 2, figsize=(11, 0.5 * table["model"].nunique() + 2),
                                sharey=True)
    for ax, statistic in zip(axes, ("mean", "median")):
        rows = table[table["statistic"] == statistic].reset_index(drop=True)
        labels = rows["project"] + " " + rows["model"]
        ax.errorbar(100 * rows["change"], np.arange(len(rows)), fmt="o",
                    xerr=[100 * (rows["change"] - rows["low"]), 100 * (rows["high"] - rows["change"])])
        ax.axvline(0, color="grey", lw=1)
        ax.set(yticks=np.arange(len(rows)), yticklabels=labels,
               xlabel=f"{statistic} test error, two_views against argmax (%)")
    figure.suptitle("The two views decoded together: change of the test error (blocks split; "
                    "without '-blocks', the random split), 95% interval over test frames",
                    fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("projects", nargs="+", type=Path, help="kit projects with models")
    parser.add_argument("--tag", default="", help="suffix of the output files")
    parser.add_argument("--video-frames", type=int, default=100,
                        help="frames of the project's first video analysed for jitter")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "two_views",
                        help="folder of the analyses")
    args = parser.parse_args()
    table = pd.DataFrame([row for project in args.projects for row in compare(project, args)])
    OUT.mkdir(exist_ok=True)
    stem = OUT / ("two_views" + (f"_{args.tag}" if args.tag else ""))
    table.to_csv(stem.with_suffix(".csv"), index=False)
    plot(table, stem.with_suffix(".png"))
    print(f"\nwrote {stem}.csv and .png")


if __name__ == "__main__":
    main()
