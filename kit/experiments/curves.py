"""The paper's experiments as sweeps: learning curves, body parts, augmentation, novel animals.

Each training run of an experiment (a :class:`TrainingRun`) is one training (a papermill run of
``notebooks/03_train.ipynb``) and one evaluation (``04_evaluate``), so a sweep
can be spread over machines (:mod:`kit.experiments.sweep`), lands in the project exactly as
a run by hand would, and resumes after an interruption (runs already completed
with the same parameters are skipped). Results are gathered into one tidy
table: a row per (condition, training size, shuffle, split, body part).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from kit.experiments.runner import notebook_path
from kit.net.model_query import query_of
from kit.net.train_config import TrainConfig
from kit.project import Project, atomic_path
from kit.project.labels import load_labels
from kit.project.splits import make_split


@dataclass(frozen=True)
class TrainingRun:
    """One training + evaluation of an experiment."""

    labels: Mapping[str, Any]  # columns of the result table, e.g. {"train_size": 10, "shuffle": 1}
    train: Mapping[str, Any]  # parameters of 03_train (TrainConfig.from_parameters reads them)
    evaluate: Mapping[str, Any] = field(default_factory=dict)  # extra parameters of 04_evaluate


def resolve_sizes(train_sizes: Sequence[float], num_train: int) -> list[int]:
    """Training-set sizes in frames: numbers >= 1 are counts, numbers < 1 fractions of ``num_train``."""
    sizes = sorted({int(s) if s >= 1 else max(1, round(s * num_train)) for s in train_sizes})
    if not sizes or sizes[0] < 1 or sizes[-1] > num_train:
        raise ValueError(
            f"train_sizes must lie in [1, {num_train}] frames (the training set of this split) or "
            f"be fractions in (0, 1). Received: {list(train_sizes)}."
        )
    return sizes


def num_training_frames(project: Project, train_fraction: float, test_videos=()) -> int:
    """Size of the training pool of a split (the largest possible training set)."""
    names = list(load_labels(project).index)
    return len(make_split(names, train_fraction, 1, 0, test_videos).train)


def _variant(train: Mapping[str, Any]) -> str:
    """The model-folder suffix 03_train gives these parameters (see TrainConfig.variant)."""
    return TrainConfig.from_parameters(**train).variant


def learning_curve(train_sizes: Sequence[int], shuffles: Sequence[int],
                   base: Mapping[str, Any], net_types: Sequence[str] = ()) -> list[TrainingRun]:
    """A training run per (size, shuffle): nested training sets, one test set per shuffle.

    With ``net_types`` (DeepLabCut's names, ``kit.net.backbones.BACKBONES``), one curve per
    backbone: a run per (backbone, size, shuffle), on the same frames and test sets, with
    the column ``net_type`` in the results.
    """
    if not net_types:
        return [TrainingRun({"condition": "all body parts", "train_size": n, "shuffle": k},
                            {**base, "train_size": n, "shuffle": k})
                for k in shuffles for n in train_sizes]
    return [TrainingRun({"condition": "all body parts", "net_type": b, "train_size": n,
                         "shuffle": k}, {**base, "net_type": b, "train_size": n, "shuffle": k})
            for b in net_types for k in shuffles for n in train_sizes]


def bodypart_experiment(bodypart: str, train_sizes: Sequence[int], shuffles: Sequence[int],
                        base: Mapping[str, Any]) -> list[TrainingRun]:
    """All body parts against ``bodypart`` alone, at the same frames, steps and seeds."""
    runs = []
    for condition, parts in (("all body parts", ""), (f"{bodypart} only", bodypart)):
        for k in shuffles:
            for n in train_sizes:
                runs.append(TrainingRun({"condition": condition, "train_size": n, "shuffle": k},
                                    {**base, "train_size": n, "shuffle": k, "bodyparts": parts}))
    return runs


def augmentation_experiment(train_sizes: Sequence[int], shuffles: Sequence[int],
                            base: Mapping[str, Any]) -> list[TrainingRun]:
    """With against without augmentation, at several training sizes."""
    return [TrainingRun({"condition": "augmented" if aug else "not augmented", "train_size": n,
                   "shuffle": k}, {**base, "train_size": n, "shuffle": k, "augment": aug})
            for aug in (True, False) for k in shuffles for n in train_sizes]


def novel_animal_experiment(test_videos: Sequence[str], shuffles: Sequence[int],
                            base: Mapping[str, Any]) -> list[TrainingRun]:
    """Train on the other videos' frames; the split "novel" holds ``test_videos``' frames."""
    return [TrainingRun({"condition": "novel: " + "+".join(test_videos), "train_size": 0, "shuffle": k},
                  {**base, "shuffle": k, "test_videos": ",".join(test_videos)})
            for k in shuffles]


def run_trainings(project: Project, runs: Sequence[TrainingRun], scheduler: str | None = "serial",
                  num_workers: int | None = None) -> pd.DataFrame:
    """Train and evaluate every run (via kit.experiments.sweep), then gather the results.

    ``scheduler``: "serial" runs in this process; "local" (or None) starts a Dask
    LocalCluster on this machine; an address uses that Dask scheduler
    (see :func:`kit.experiments.sweep.run_sweep`).
    """
    from kit.experiments.sweep import SweepConfig, run_sweep  # local: Dask only for sweeps

    scheduler = None if scheduler == "local" else scheduler
    config = SweepConfig(num_workers=num_workers)

    root = str(project.root)
    trainings = [(notebook_path("03_train"), {**r.train, "project_dir": root}) for r in runs]
    _check(run_sweep(trainings, scheduler, config), "training")
    evaluations = [(notebook_path("04_evaluate"), _evaluate_parameters(r, root)) for r in runs]
    _check(run_sweep(evaluations, scheduler, config), "evaluation")
    return collect(project, runs)


def _evaluate_parameters(run: TrainingRun, root: str) -> dict[str, Any]:
    """04_evaluate's parameters: the model named by what it was trained with."""
    query = query_of(TrainConfig.from_parameters(**run.train).to_dict())
    which = {name: getattr(query, name) for name in (
        "shuffle", "train_fraction", "net_type", "train_size", "bodyparts", "test_videos",
        "augment")}
    return {"project_dir": root, **which, "pcutoff": 0.0, "num_figure_frames": 3,
            **run.evaluate}


def _check(results: pd.DataFrame, what: str) -> None:
    failed = results[results["status"] == "failed"]
    if len(failed):
        raise RuntimeError(f"{len(failed)} {what} run(s) failed:\n{failed.to_string()}")


def collect(project: Project, runs: Sequence[TrainingRun]) -> pd.DataFrame:
    """The tidy table of a finished sweep: labels + each evaluation.csv row."""
    frames = []
    for run in runs:
        folder = project.evaluation_dir(run.train.get("shuffle", 1),
                                        run.train.get("train_fraction", 0.95),
                                        variant=_variant(run.train))
        table = pd.read_csv(folder / "evaluation.csv")
        for key, value in reversed(list(run.labels.items())):
            table.insert(0, key, value)
        frames.append(table)
    return pd.concat(frames, ignore_index=True)


def save_table(table: pd.DataFrame, path: str | Path) -> Path:
    """Write ``table`` to ``path`` as CSV (atomically); return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)
    return path


def paired_comparison(table: pd.DataFrame, condition_a: str, condition_b: str,
                      bodypart: str, split: str = "test") -> pd.DataFrame:
    """Per (train_size, shuffle) errors of ``bodypart`` under two conditions, and their difference.

    Returns one row per training size: mean difference (b - a) over shuffles, its
    standard deviation, the paired t statistic, the number of shuffles, and how
    many shuffles condition a had the lower error.
    """
    rows = table[(table.bodypart == bodypart) & (table.split == split)]
    wide = rows.pivot_table(index=["train_size", "shuffle"], columns="condition", values="rmse_px")
    missing = {condition_a, condition_b} - set(wide.columns)
    if missing:
        raise ValueError(f"No results for conditions {sorted(missing)}; have {list(wide.columns)}.")
    diff = (wide[condition_b] - wide[condition_a]).rename("difference_px")
    out = []
    for size, d in diff.groupby(level="train_size"):
        n, sd = len(d), float(d.std(ddof=1)) if len(d) > 1 else math.nan
        out.append({"train_size": size, "bodypart": bodypart, "split": split,
                    f"{condition_a} rmse_px": float(wide[condition_a].loc[size].mean()),
                    f"{condition_b} rmse_px": float(wide[condition_b].loc[size].mean()),
                    "mean_difference_px": float(d.mean()), "sd_difference_px": sd,
                    "t": float(d.mean() / (sd / math.sqrt(n))) if n > 1 and sd > 0 else math.nan,
                    "num_shuffles": n, f"{condition_a} better": int((d > 0).sum())})
    return pd.DataFrame(out)


def plot_learning_curve(table: pd.DataFrame, human_error_px: float | None = None,
                        bodypart: str = "all", hue: str = "split"):
    """Train and test error against training-set size (mean and spread over shuffles).

    A table of several backbones (column ``net_type``) shows one test-error curve per
    backbone instead.
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    rows = table[(table.bodypart == bodypart) & (table.train_size > 0)]
    if "net_type" in rows and rows.net_type.nunique() > 1:
        rows, hue = rows[rows.split == "test"], "net_type"
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    sns.lineplot(data=rows, x="train_size", y="rmse_px", hue=hue, style=hue, markers=True,
                 dashes=False, errorbar="sd", err_style="band", ax=ax)
    if human_error_px:
        ax.axhline(human_error_px, color="gray", ls="--", lw=1)
        # Under the line at the right (the curves lie above it), whatever the x scale.
        ax.text(0.99, human_error_px, "human labeling error", transform=ax.get_yaxis_transform(),
                ha="right", va="top", fontsize=8, color="gray")
    ax.set_xscale("log")
    sizes = sorted(rows.train_size.unique())
    ax.set_xticks(sizes, [str(int(s)) for s in sizes])
    ax.minorticks_off()
    ax.set_xlabel("training frames")
    ax.set_ylabel(f"error, {bodypart} (px, mean over shuffles ± sd)")
    ax.set_ylim(bottom=0)
    fig.tight_layout()
    return fig


def plot_paired(table: pd.DataFrame, bodypart: str, split: str = "test"):
    """Error of ``bodypart`` per condition, one line per shuffle joining the paired runs."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    rows = table[(table.bodypart == bodypart) & (table.split == split)]
    sizes = sorted(rows.train_size.unique())
    fig, axes = plt.subplots(1, len(sizes), figsize=(3.2 * len(sizes), 3.4), squeeze=False,
                             sharey=True)
    for ax, size in zip(axes[0], sizes):
        sub = rows[rows.train_size == size]
        order = list(dict.fromkeys(sub.condition))
        wide = sub.pivot_table(index="shuffle", columns="condition", values="rmse_px")[order]
        for _, paired in wide.iterrows():
            ax.plot(range(len(order)), paired.to_numpy(), color="gray", alpha=0.5, lw=1)
        sns.pointplot(data=sub, x="condition", y="rmse_px", order=order, errorbar="sd",
                      color="black", ax=ax, capsize=0.1)
        ax.set_title(f"{size} training frames" if size else "all training frames", fontsize=9)
        ax.set_xlabel("")
        ax.set_ylabel(f"{split} error, {bodypart} (px)")
        ax.tick_params(axis="x", labelsize=8)
    fig.tight_layout()
    return fig
