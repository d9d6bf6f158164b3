"""Evaluation: train and test error in pixels, per body part, with and without a p-cutoff.

The error of one prediction is the Euclidean distance between predicted and
labeled position, in image pixels. DeepLabCut calls its mean "RMSE"; so do the
columns here (``rmse_px``), averaged over every labeled (frame, body part).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from kit.net.data import labels_outside
from kit.net.predict import Predictor
from kit.project import Project, atomic_path
from kit.project.analysis_file import predictions_frame
from kit.project.config import check_pcutoff, resolve_pcutoff
from kit.project.hdf import write_h5
from kit.project.labels import labels_to_array, load_labels
from kit.project.splits import load_split
from kit.project.video import load_image


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
class Evaluation:
    """Errors, and everything needed to look at them again."""

    table: pd.DataFrame  # error_table rows for train and test
    predictions: pd.DataFrame  # DeepLabCut's single-animal layout: (scorer, bodyparts, coords)
    labels: pd.DataFrame  # the labels of the evaluated images
    test_images: tuple[str, ...]
    pcutoff: float
    folder: Path
    bodyparts: list[str]  # those the model predicts

    def summary(self) -> pd.DataFrame:
        """The "all" rows: one per split."""
        return self.table[self.table.bodypart == "all"].set_index("split")

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
    """Predict every image of the split stored with the model; save and return the errors.

    Writes ``evaluation.csv`` (the table: splits train, test and, for models that
    kept videos out of training, novel) and ``predictions.h5`` to
    ``project.evaluation_dir(...)``. ``pcutoff``: None for the config's
    (:func:`kit.project.config.resolve_pcutoff`); ``variant`` names a model trained with
    ``TrainConfig.variant`` (e.g. "-n54").
    """
    train_fraction = project.training_fractions[0] if train_fraction is None else train_fraction
    pcutoff = resolve_pcutoff(pcutoff, project)
    model_dir = project.model_dir(shuffle, train_fraction, variant=variant)
    predictor = Predictor(model_dir)
    split = load_split(model_dir / "split.json")
    labels = load_labels(project)
    tables, predicted = [], []
    for name, images in (("train", split.train), ("test", split.test), ("novel", split.novel)):
        images = [i for i in images if i in labels.index]
        if images:
            points, truth = _predict(project, predictor, labels.loc[images], batch_size)
            tables.append(error_table(truth, points, predictor.bodyparts, pcutoff, name))
            predicted.append(predictions_frame(points, images, f"kit_{model_dir.name}",
                                               predictor.bodyparts))
    folder = project.evaluation_dir(shuffle, train_fraction, variant=variant)
    folder.mkdir(parents=True, exist_ok=True)
    table = pd.concat(tables, ignore_index=True)
    table.insert(0, "train_steps", predictor.train_steps)
    with atomic_path(folder / "evaluation.csv") as tmp:
        table.to_csv(tmp, index=False)
    predictions = pd.concat(predicted)
    write_h5(predictions, folder / "predictions.h5")
    truth = labels.loc[predictions.index, pd.IndexSlice[:, predictor.bodyparts, :]]
    return Evaluation(table, predictions, truth, tuple(split.test), pcutoff, folder,
                      predictor.bodyparts)


def _predict(project: Project, predictor: Predictor, labels: pd.DataFrame,
             batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Predictions (N, 1, K, 3) for the labeled images of ``labels`` and their labels
    (N, 1, K, 2) (single animal), labels outside their image set to NaN with a warning."""
    images = list(labels.index)
    loaded = [load_image(project.image_path(i)) for i in images]
    points = predictor.predict_images(loaded, batch_size)
    truth = labels_to_array(labels, predictor.bodyparts)
    outside = labels_outside(truth, [image.shape[:2] for image in loaded])
    if outside.any():  # as in training: a mistake, not an error of the network
        warnings.warn(
            f"{outside.sum()} label(s) of {project.labeled_data_root} lie outside their "
            f"image and are not counted: {[images[i] for i in np.flatnonzero(outside.any(1))]}"
            ". Fix them in the labeler (notebooks/02_label_frames.ipynb).", stacklevel=3)
        truth = np.where(outside[..., None], np.nan, truth)
    return points, truth[:, None]
