"""Close the loop: correct the network's outlier frames, merge them, train the next iteration.

Machine-made labels and labels a person confirmed are kept apart, as in DeepLabCut:

- :func:`kit.outliers.extract_outliers` writes the network's predictions for the
  extracted frames to ``labeled-data/<video>/machinelabels-iter<i>.h5``. Training
  reads only ``CollectedData_<scorer>`` (:func:`kit.project.labels.load_labels`), so these
  never train a network as they are.
- A frame counts as confirmed once it is in ``CollectedData``: the labeler writes
  the frames the user touched there (:func:`load_suggestions` gives it the
  predictions to drag or accept); headless, :func:`merge_corrections` writes the
  frames of a labels file there. Confirmed frames are then removed from the
  machine labels (:func:`confirm_labeled_frames`), which keep only what is pending.
- :func:`start_iteration` bumps the config's ``iteration`` and writes the new
  model's split itself: the previous test frames stay the test frames (so
  both iterations are measured on the same frames, :func:`compare_iterations`), the
  previous training frames and every newly confirmed frame train. Training
  (:func:`kit.net.train.train`) reuses a stored split, so nothing in it changes;
  :func:`next_train_config` starts it from the previous model's weights.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from kit.net.model_folder import ModelFolder
from kit.net.predict import Predictor
from kit.net.train_config import TrainConfig
from kit.project import Project, atomic_path, update_config
from kit.project.config import resolve_pcutoff
from kit.project.analysis_file import read_machine_labels, save_machine_labels
from kit.project.drawing import save_figure
from kit.project.labels import (
    labels_to_array,
    load_labels,
    make_labels_frame,
    read_labels_file,
    save_labels,
)
from kit.project.splits import Split, video_of
from kit.project.video import load_image
from kit.results.analyze import AnalyzeConfig, analyze_video
from kit.results.evaluate import error_table, evaluate_images


def pending_images(project: Project, video: str, iteration: int | None = None) -> list[str]:
    """Images with machine labels of ``iteration`` (default: the current one) that are
    not confirmed (not in CollectedData), sorted."""
    path = project.machine_labels_file(video, iteration)
    if not path.is_file():
        return []
    confirmed = set(load_labels(project, [video]).index)
    return sorted(i for i in read_machine_labels(path).index if i not in confirmed)


def load_suggestions(project: Project, video: str, iteration: int | None = None) -> pd.DataFrame:
    """The pending machine labels of one video, as :class:`kit.labeling.labeler.Labeler`'s
    ``suggestions`` (x, y, likelihood per body part; index = image names)."""
    path = project.machine_labels_file(video, iteration)
    return read_machine_labels(path).loc[pending_images(project, video, iteration)]


def confirm_labeled_frames(project: Project, video: str, iteration: int | None = None) -> list[str]:
    """Drop from the machine labels the frames now in CollectedData; return them."""
    path = project.machine_labels_file(video, iteration)
    if not path.is_file():
        return []
    machine = read_machine_labels(path)
    confirmed = sorted(set(machine.index) & set(load_labels(project, [video]).index))
    if confirmed:
        save_machine_labels(path, machine.drop(index=confirmed))
    return confirmed


def merge_corrections(project: Project, video: str, corrections_file: str | os.PathLike,
                      only_pending: bool = False) -> list[str]:
    """Write the frames of a labels file into the video's CollectedData, as confirmed labels.

    Args:
        corrections_file: a CollectedData-format ``.h5``/``.csv`` (any scorer; a
            likelihood column is ignored); index = image names ``labeled-data/<video>/img<N>.png``.
        only_pending: merge only the file's frames that have pending machine labels
            (e.g. a file of every frame's true positions); otherwise every row is
            merged and each must name an extracted image.

    Returns:
        The image names merged (they replace the rows of the same images, are saved with
        :func:`kit.project.labels.save_labels`, atomic with a ``.bak``, and leave the machine labels).
    """
    df = read_labels_file(corrections_file)
    layout = project.layout  # a multi-animal project: the file's (individual, part) pairs
    if (df.columns.nlevels == 4) != (layout is not None):  # must be the project's kind
        raise ValueError(f"{corrections_file} has {df.columns.nlevels} column levels; "
                         f"{project.config_path} needs {3 if layout is None else 4}. Write the "
                         "corrections in the project's layout.")
    found = set(df.columns.get_level_values("bodyparts"))
    if found != set(project.bodyparts):
        raise ValueError(f"{corrections_file} labels body parts {sorted(found)}; the project has "
                         f"{project.bodyparts}. Label the project's body parts.")
    corrections = make_labels_frame(labels_to_array(df, project.bodyparts, layout), df.index,
                                    project.scorer, project.bodyparts, layout)
    if only_pending:
        pending = set(pending_images(project, video))
        corrections = corrections.loc[[i for i in corrections.index if i in pending]]
        if corrections.empty:
            raise ValueError(f"{corrections_file} has no row for the {len(pending)} pending "
                             f"frames of {video!r}. Extract outliers first, or check the names.")
    missing = [i for i in corrections.index if not project.image_path(i).is_file()]
    if missing:
        raise ValueError(f"{corrections_file} labels images that were never extracted: "
                         f"{missing[:3]}. Extract them first, or remove those rows.")
    existing = load_labels(project, [video])
    merged = pd.concat([existing.drop(index=corrections.index, errors="ignore"), corrections])
    save_labels(project, video, merged.sort_index())
    confirm_labeled_frames(project, video)
    return list(corrections.index)


# --- the next iteration -----------------------------------------------------------------


def model_iteration(model_dir: str | os.PathLike) -> int:
    """The iteration a trained model belongs to (from its pose config)."""
    return ModelFolder(model_dir).load_pose_config().iteration


def saved_train_config(model_dir: str | os.PathLike) -> TrainConfig:
    """The settings a model was trained with (saved in its folder)."""
    return ModelFolder(model_dir).load_train_config()


def next_train_config(previous_model_dir: str | os.PathLike, train_steps: int = 0) -> TrainConfig:
    """The previous model's settings, starting from its weights, for ``train_steps`` steps
    (0: as many as before). ``train_size`` is dropped: :func:`start_iteration` makes the split."""
    previous = saved_train_config(previous_model_dir)
    return dataclasses.replace(
        previous, weights=str(ModelFolder(previous_model_dir).model_file), train_size=0,
        train_steps=train_steps or previous.train_steps, save_every=0)


def _next_split(project: Project, old: Split, config: TrainConfig) -> Split:
    labels = set(load_labels(project).index)
    seen = set(old.train) | set(old.test) | set(old.novel) | set(old.validation)
    new = sorted(labels - seen)
    novel = [n for n in new if video_of(n) in config.test_videos]
    return Split(
        train=tuple(n for n in old.train if n in labels) + tuple(n for n in new if n not in novel),
        test=tuple(n for n in old.test if n in labels), train_fraction=config.train_fraction,
        shuffle=config.shuffle, seed=config.seed,
        novel=tuple(sorted([n for n in old.novel if n in labels] + novel)), method=old.method,
        validation=tuple(n for n in old.validation if n in labels))


def start_iteration(project: Project, previous_model_dir: str | os.PathLike,
                    config: TrainConfig) -> Project:
    """Bump the config's ``iteration`` past the previous model's and store the new split.

    The split (stored in ``config.model_dir`` of the new iteration): the previous
    test (and novel) frames stay out of training; its training frames and every label
    confirmed since train. Called again once bumped (e.g. a re-run), it checks and returns.

    Raises:
        ValueError: no frame was confirmed since the previous split (label first), the
            project is at another iteration, ``config.train_size`` is set, or another
            split is stored at the new model folder.
    """
    previous_model_dir = Path(previous_model_dir)
    previous = model_iteration(previous_model_dir)
    if config.train_size:
        raise ValueError(f"train_size={config.train_size}: the next iteration trains on every "
                         "confirmed frame. Pass train_size=0 (see next_train_config).")
    if project.iteration not in (previous, previous + 1):
        raise ValueError(f"{project.config_path} is at iteration {project.iteration}; the model "
                         f"{previous_model_dir} is of iteration {previous}. Pass the latest model.")
    old = ModelFolder(previous_model_dir).load_split()
    split = _next_split(project, old, config)
    if project.iteration == previous:
        if not set(split.train) - set(old.train):
            raise ValueError(f"No frame was confirmed since iteration {previous}: nothing new to "
                             "train on. Label the extracted frames (or merge_corrections) first.")
        project = update_config(project, iteration=previous + 1)
    folder = ModelFolder(config.model_dir(project))
    if folder.has_split() and folder.load_split() != split:
        raise ValueError(f"{folder.split_file} holds another split (labels changed since it "
                         "was made). Delete that model folder to train on the current labels.")
    if not folder.has_split():
        folder.save_split(split)
    return project


def analyze_with_model(project: Project, model_dir: str | os.PathLike,
                       video_path: str | os.PathLike) -> Path:
    """Analyse a video with one iteration's model into ``project.refine_analysis_dir``;
    return the analysis ``.h5`` (already done: returned as is)."""
    model_dir = Path(model_dir)
    config = saved_train_config(model_dir)
    folder = project.refine_analysis_dir(config.shuffle, config.train_fraction,
                                         model_iteration(model_dir), config.variant)
    analyze = AnalyzeConfig(shuffle=config.shuffle, train_fraction=config.train_fraction,
                            output_dir=str(folder), progress=False)
    return analyze_video(project, video_path, analyze, Predictor(model_dir)).h5


def compare_iterations(project: Project, model_dirs: Sequence[str | os.PathLike],
                       images: Sequence[str], pcutoff: float | None = None) -> pd.DataFrame:
    """Errors of several models on the same labeled images (e.g. the first test set);
    ``pcutoff`` None: the config's. In a multi-animal project, the errors of the predicted
    animals matched to the labeled ones (:func:`kit.results.evaluate.evaluate_images`).

    Returns:
        One row per (model, body part) plus ``all``: ``iteration, bodypart, num_labels,
        rmse_px, rmse_px_pcutoff`` (mean Euclidean error in pixels, as kit.results.evaluate).
    """
    pcutoff = resolve_pcutoff(pcutoff, project)
    labels = load_labels(project)
    missing = [i for i in images if i not in labels.index]
    if missing or not images:
        raise ValueError(f"Compare on labeled images. Not labeled: {missing[:3]} "
                         f"({len(images)} given). Pass e.g. the previous split's test frames.")
    pictures = [load_image(project.image_path(i)) for i in images] if project.layout is None \
        else []  # multi-animal: evaluate_images reads them
    tables = []
    for model_dir in model_dirs:
        predictor = Predictor(model_dir)
        if project.layout is None:
            truth = labels_to_array(labels.loc[list(images)], predictor.bodyparts)[:, None]
            table = error_table(truth, predictor.predict_images(pictures),
                                predictor.bodyparts, pcutoff)
        else:  # animals matched to the labeled ones first, as evaluate does
            table = evaluate_images(project, predictor, labels.loc[list(images)], pcutoff,
                                    "test").table
        table.insert(0, "iteration", model_iteration(model_dir))
        tables.append(table)
    columns = ["iteration", "bodypart", "num_labels", "rmse_px", "rmse_px_pcutoff"]
    return pd.concat(tables, ignore_index=True)[columns]


def plot_iterations(table: pd.DataFrame) -> plt.Figure:
    """Bars of ``rmse_px`` per body part, one colour per iteration (a
    :func:`compare_iterations` table)."""
    wide = table.pivot(index="bodypart", columns="iteration", values="rmse_px")
    wide = wide.loc[table.bodypart.unique()]  # table order, "all" last
    fig, ax = plt.subplots(figsize=(1.2 + 0.9 * len(wide), 3))
    width = 0.8 / len(wide.columns)
    for j, iteration in enumerate(wide.columns):
        ax.bar(np.arange(len(wide)) + (j - (len(wide.columns) - 1) / 2) * width, wide[iteration],
               width, label=f"iteration {iteration}")
    ax.set_xticks(np.arange(len(wide)), wide.index)
    ax.set_ylabel("test error (px)")
    ax.legend(frameon=False)
    fig.tight_layout()
    plt.close(fig)  # the caller shows it
    return fig


def save_comparison(table: pd.DataFrame, figure: plt.Figure, folder: str | os.PathLike) -> Path:
    """Write ``iterations.csv`` and ``iterations.png`` to ``folder`` (atomically); return
    the CSV's path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / "iterations.csv") as tmp:
        table.to_csv(tmp, index=False)
    save_figure(figure, folder / "iterations.png")
    return folder / "iterations.csv"
