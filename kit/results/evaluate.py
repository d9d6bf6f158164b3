"""Evaluation: train and test error in pixels, per body part, with and without a p-cutoff.

The error of one prediction is the Euclidean distance between predicted and
labeled position, in image pixels. DeepLabCut calls its mean "RMSE"; so do the
columns here (``rmse_px``), averaged over every labeled (frame, body part).

In a multi-animal project the predicted animals are first matched to the labeled ones
(:mod:`kit.results.evaluate_ma`); the errors are those of matched animals, and the
evaluation adds OKS mAP/mAR per split and the missed and extra animals per image.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from kit.net.data import labels_outside
from kit.net.model_folder import ModelFolder
from kit.net.predict import Predictor
from kit.project import Project, atomic_path
from kit.project.analysis_file import predictions_frame
from kit.project.config import check_pcutoff, resolve_pcutoff
from kit.project.hdf import write_h5
from kit.project.labels import labels_to_array, load_labels
from kit.project.splits import Split
from kit.project.video import load_image
from kit.results.evaluate_ma import align_to_truth, animal_counts, oks_map


def error_table(
    labels: np.ndarray,
    predictions: np.ndarray,
    bodyparts: Sequence[str],
    pcutoff: float,
    split: str = "test",
) -> pd.DataFrame:
    """Mean Euclidean error per body part (over frames and individuals) and over all parts.

    Args:
        labels: (N, I, K, 2) x, y, image pixels, NaN = missing (not counted); N frames,
            I individuals, K body parts.
        predictions: (N, I, K, 3) x, y, likelihood, the same individuals in the same order
            (match them by name first: :func:`kit.project.analysis_file.select_individuals`).
        bodyparts: the K names.
        pcutoff: for ``rmse_px_pcutoff``, only predictions with likelihood >= pcutoff count.
        split: value of the ``split`` column.

    Returns:
        One row per body part plus one named "all": ``split, bodypart, num_labels,
        rmse_px, num_above_pcutoff, rmse_px_pcutoff`` (NaN where nothing counts).
    """
    pcutoff = check_pcutoff(pcutoff)
    labels, predictions = np.asarray(labels, np.float64), np.asarray(predictions, np.float64)
    if labels.ndim != 4 or labels.shape[:3] != predictions.shape[:3]:
        raise ValueError(f"labels (N, I, K, 2) and predictions (N, I, K, 3) must agree. Received: "
                         f"{labels.shape} and {predictions.shape}.")
    dist = np.linalg.norm(predictions[..., :2] - labels, axis=-1)  # (N, I, K), NaN if missing
    labeled = np.isfinite(dist)
    confident = labeled & (predictions[..., 2] >= pcutoff)
    rows = []
    for name, cols in [*((b, [k]) for k, b in enumerate(bodyparts)), ("all", slice(None))]:
        d, m, c = dist[..., cols], labeled[..., cols], confident[..., cols]
        rows.append({
            "split": split,
            "bodypart": name,
            "num_labels": int(m.sum()),
            "rmse_px": float(d[m].mean()) if m.any() else np.nan,
            "num_above_pcutoff": int(c.sum()),
            "rmse_px_pcutoff": float(d[c].mean()) if c.any() else np.nan,
        })
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class SplitEvaluation:
    """One split's evaluation (:func:`evaluate_images`), the same type for one animal or
    several.

    Attributes:
        table: :func:`error_table` rows (several animals: of the animals matched to the
            labeled ones).
        predictions: a prediction table in DeepLabCut's layout (several animals: 4 levels,
            row j the animal matched to labeled individual j, extra animals in free rows).
        oks: several animals: ``split``, mAP, mAR, num_labeled, num_missed, num_extra;
            None for one animal.
        animals: several animals: those counts per image; None for one animal.
    """

    table: pd.DataFrame
    predictions: pd.DataFrame
    oks: dict | None = None
    animals: pd.DataFrame | None = None


@dataclass(frozen=True)
class Evaluation:
    """Errors, and everything needed to look at them again."""

    table: pd.DataFrame  # error_table rows for train and test
    predictions: pd.DataFrame  # DeepLabCut's single-animal layout: (scorer, bodyparts, coords)
    labels: pd.DataFrame  # the labels of the evaluated images
    test_images: tuple[str, ...]
    pcutoff: float
    folder: Path
    bodyparts: list[str]  # those the model predicts
    # multi-animal projects only (None otherwise): per split mAP, mAR (percent, OKS as
    # DeepLabCut), num_labeled, num_missed, num_extra animals; and those counts per image
    oks: pd.DataFrame | None = None
    animals: pd.DataFrame | None = None
    split: Split | None = None  # the model's split (kit.results.generalization reads it)

    def summary(self) -> pd.DataFrame:
        """The "all" rows: one per split (with mAP, mAR and animal counts, multi-animal)."""
        summary = self.table[self.table.bodypart == "all"].set_index("split")
        return summary if self.oks is None else summary.join(self.oks)

    @property
    def test_rmse(self) -> float:
        """The mean test error (NaN for a model trained on every frame, train_fraction 1)."""
        summary = self.summary()
        return float(summary.loc["test", "rmse_px"]) if "test" in summary.index else float("nan")


def evaluate(
    project: Project,
    shuffle: int = 1,
    train_fraction: float | None = None,
    pcutoff: float | None = None,
    batch_size: int = 8,
    variant: str = "",
) -> Evaluation:
    """:func:`evaluate_model` of the model folder ``project.model_dir(shuffle,
    train_fraction, variant=variant)`` (``train_fraction`` None: the config's first;
    ``variant``: ``TrainConfig.variant``, e.g. "-n54"). Notebooks name the model by what it
    was trained with instead: ``evaluate_model(project, find_model(project, ...))``."""
    train_fraction = project.training_fractions[0] if train_fraction is None else train_fraction
    folder = ModelFolder(project.model_dir(shuffle, train_fraction, variant=variant))
    return evaluate_model(project, folder, pcutoff, batch_size)


def evaluate_model(project: Project, model: ModelFolder, pcutoff: float | None = None,
                   batch_size: int = 8) -> Evaluation:
    """Predict every image of the split stored with the model; save and return the errors.

    Writes ``evaluation.csv`` (the table: splits train, test and, for models that kept
    videos out of training, novel, or a validation set, validation) and ``predictions.h5``
    to ``model.evaluation_dir(project)``. ``model``: e.g.
    :func:`kit.net.model_query.find_model`'s. ``pcutoff``: None for the config's
    (:func:`kit.project.config.resolve_pcutoff`). A multi-animal project
    (``project.layout``) also gets ``oks.csv`` (mAP, mAR, animals labeled, missed and
    extra, per split) and ``animals.csv`` (those counts per image); see
    :func:`evaluate_images`.
    """
    pcutoff = resolve_pcutoff(pcutoff, project)
    model_dir = model.path
    predictor = Predictor(model_dir)
    split = model.load_split()
    labels = load_labels(project)
    parts = []
    for name, images in (("train", split.train), ("validation", split.validation),
                         ("test", split.test), ("novel", split.novel)):
        images = [i for i in images if i in labels.index]
        if images:
            parts.append(evaluate_images(project, predictor, labels.loc[images], pcutoff, name,
                                         batch_size))
    folder = model.evaluation_dir(project)
    folder.mkdir(parents=True, exist_ok=True)
    table = pd.concat([part.table for part in parts], ignore_index=True)
    table.insert(0, "train_steps", predictor.train_steps)
    with atomic_path(folder / "evaluation.csv") as tmp:
        table.to_csv(tmp, index=False)
    predictions = pd.concat([part.predictions for part in parts])
    predictions = predictions.set_axis(
        predictions.columns.set_levels([f"kit_{model_dir.name}"], level=0), axis=1)
    write_h5(predictions, folder / "predictions.h5")
    oks, animals = _save_animal_tables(parts, folder)
    truth = labels.loc[predictions.index]
    if project.layout is None:
        truth = truth.loc[:, pd.IndexSlice[:, predictor.bodyparts, :]]
    return Evaluation(table, predictions, truth, tuple(split.test), pcutoff, folder,
                      predictor.bodyparts, oks, animals, split)


def evaluate_images(project: Project, predictor: Predictor, labels: pd.DataFrame,
                    pcutoff: float, name: str = "test", batch_size: int = 8
                    ) -> SplitEvaluation:
    """Predict the images of ``labels`` (one split, named ``name``) with ``predictor`` (its
    decoder, whichever it is) and measure: a :class:`SplitEvaluation`."""
    points, truth = _predict(project, predictor, labels, batch_size)
    images, layout = list(labels.index), project.layout
    if layout is None:
        return SplitEvaluation(error_table(truth, points, predictor.bodyparts, pcutoff, name),
                               predictions_frame(points, images, "kit", predictor.bodyparts))
    # the animals: rows matched; the unique parts (last row, "single"): compared as they are
    num_animals, num_parts = len(layout.individuals), len(layout.multianimal_bodyparts)
    animals, labeled = points[:, :num_animals, :num_parts], truth[:, :num_animals, :num_parts]
    matched, aligned = np.full((2, *truth.shape[:3], 3), np.nan)
    for out, extra in ((matched, False), (aligned, True)):  # the file keeps extra animals
        out[:, :num_animals] = align_to_truth(points[:, :num_animals], truth[:, :num_animals],
                                              extra)[:, :num_animals]
        out[:, num_animals:] = points[:, num_animals:]
    counts = animal_counts(animals, labeled, images)
    oks = {"split": name, **oks_map(animals, labeled),
           **counts[["num_labeled", "num_missed", "num_extra"]].sum().astype(int)}
    return SplitEvaluation(
        error_table(truth, matched, predictor.bodyparts, pcutoff, name),
        predictions_frame(aligned, images, "kit", predictor.bodyparts, layout.table_individuals),
        oks, counts.rename_axis("image").assign(split=name))


def _save_animal_tables(parts: list[SplitEvaluation], folder: Path
                        ) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """Write ``oks.csv`` (per split) and ``animals.csv`` (per image) of a multi-animal
    evaluation; (None, None) for a single-animal one."""
    if parts[0].oks is None:
        return None, None
    oks = pd.DataFrame([part.oks for part in parts]).set_index("split")
    animals = pd.concat([part.animals for part in parts])
    for table, file in ((oks, "oks.csv"), (animals, "animals.csv")):
        with atomic_path(folder / file) as tmp:
            table.to_csv(tmp)
    return oks, animals


def _predict(project: Project, predictor: Predictor, labels: pd.DataFrame,
             batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Predictions (N, I, K, 3) for the labeled images of ``labels`` and their labels
    (N, I, K, 2) (single animal: I = 1; multi-animal: the project's table individuals; the
    network's animal rows in no order, its ``single`` row last), labels outside their
    image set to NaN with a warning."""
    images = list(labels.index)
    loaded = [load_image(project.image_path(i)) for i in images]
    layout = project.layout
    points = predictor.predict_images(loaded, batch_size)
    if layout is None:
        truth = labels_to_array(labels, predictor.bodyparts)[:, None]
    else:
        if list(predictor.bodyparts) != layout.bodyparts:
            raise ValueError(f"The model predicts body parts {predictor.bodyparts}; "
                             f"{project.config_path} has {layout.bodyparts}. Evaluate a model "
                             "trained on this project (or train one).")
        truth = labels_to_array(labels, predictor.bodyparts, layout)
        if points.shape[1] != truth.shape[1]:
            raise ValueError(f"The network predicts {points.shape[1]} rows per image; "
                             f"{project.config_path} has {truth.shape[1]} individuals "
                             f"({layout.table_individuals}). Evaluate a model of this project.")
    flat = truth.reshape(len(truth), -1, 2)
    outside = labels_outside(flat, [image.shape[:2] for image in loaded])
    if outside.any():  # as in training: a mistake, not an error of the network
        warnings.warn(
            f"{outside.sum()} label(s) of {project.labeled_data_root} lie outside their "
            f"image and are not counted: {[images[i] for i in np.flatnonzero(outside.any(1))]}"
            ". Fix them in the labeler (notebooks/02_label_frames.ipynb).", stacklevel=4)
        truth = np.where(outside.reshape(truth.shape[:3])[..., None], np.nan, truth)
    return points, truth
