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
from kit.project.analysis_file import (
    predictions_frame,
)
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
    """Mean Euclidean error per body part and over all parts.

    Args:
        labels: (N, K, 2) x, y, image pixels, NaN = missing (not counted).
        predictions: (N, K, 3) x, y, likelihood.
        bodyparts: the K names.
        pcutoff: for ``rmse_px_pcutoff``, only predictions with likelihood >= pcutoff count.
        split: value of the ``split`` column.

    Returns:
        One row per body part plus one named "all": ``split, bodypart, num_labels,
        rmse_px, num_above_pcutoff, rmse_px_pcutoff`` (NaN where nothing counts).
    """
    if not 0 <= pcutoff <= 1:
        raise ValueError(f"pcutoff must be in [0, 1]. Received: pcutoff={pcutoff!r}.")
    dist = np.linalg.norm(predictions[..., :2] - labels, axis=-1)  # (N, K), NaN if missing
    labeled = np.isfinite(dist)
    confident = labeled & (predictions[..., 2] >= pcutoff)
    rows = []
    for name, cols in [*((b, [k]) for k, b in enumerate(bodyparts)), ("all", slice(None))]:
        d, m, c = dist[:, cols], labeled[:, cols], confident[:, cols]
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
    predictions: pd.DataFrame  # DeepLabCut layout: (scorer, bodyparts, coords x/y/likelihood)
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
    ``project.evaluation_dir(...)``. ``pcutoff`` defaults to the config's;
    ``variant`` names a model trained with ``TrainConfig.variant`` (e.g. "-n54").
    """
    train_fraction = project.training_fractions[0] if train_fraction is None else train_fraction
    pcutoff = project.pcutoff if pcutoff is None else float(pcutoff)
    if not 0 <= pcutoff <= 1:
        raise ValueError(f"pcutoff must be in [0, 1]. Received: pcutoff={pcutoff!r}.")
    model_dir = project.model_dir(shuffle, train_fraction, variant=variant)
    predictor = Predictor(model_dir)
    bodyparts = predictor.bodyparts
    split = load_split(model_dir / "split.json")
    labels = load_labels(project)
    tables, predicted = [], []
    for name, images in (("train", split.train), ("test", split.test), ("novel", split.novel)):
        images = [i for i in images if i in labels.index]
        if not images:
            continue
        loaded = [load_image(project.image_path(i)) for i in images]
        points = predictor.predict_images(loaded, batch_size)
        truth = labels_to_array(labels.loc[images], bodyparts)
        outside = labels_outside(truth, [image.shape[:2] for image in loaded])
        if outside.any():  # as in training: a mistake, not an error of the network
            warnings.warn(
                f"{outside.sum()} label(s) of {project.labeled_data_root} lie outside their "
                f"image and are not counted: {[images[i] for i in np.flatnonzero(outside.any(1))]}"
                ". Fix them in the labeler (notebooks/02_label_frames.ipynb).", stacklevel=2)
            truth = np.where(outside[..., None], np.nan, truth)
        tables.append(error_table(truth, points, bodyparts, pcutoff, name))
        predicted.append(predictions_frame(points, images, f"kit_{model_dir.name}", bodyparts))
    folder = project.evaluation_dir(shuffle, train_fraction, variant=variant)
    folder.mkdir(parents=True, exist_ok=True)
    table = pd.concat(tables, ignore_index=True)
    table.insert(0, "train_steps", predictor.train_steps)
    with atomic_path(folder / "evaluation.csv") as tmp:
        table.to_csv(tmp, index=False)
    predictions = pd.concat(predicted)
    write_h5(predictions, folder / "predictions.h5")
    truth = labels.loc[predictions.index, pd.IndexSlice[:, bodyparts, :]]
    return Evaluation(table, predictions, truth, tuple(split.test), pcutoff, folder, bodyparts)


