"""How far the test error holds: error against the distance to the nearest training frame.

Frames of one video a few frames apart look alike, so a test frame next to a training
frame is nearly a training frame: DeepLabCut's random split (``split_method="random"``)
puts almost every test frame there, and its test error says how well the network
interpolates between its training frames, not how it does on the rest of the video. On
real animals the two differ several-fold (1.3 px near the training frames, 11 px on a
later stretch of the same recording). This module groups the errors that evaluation
measured by the distance, in frames, from each image to the nearest training frame of
its video (frame numbers read from the image names,
:func:`kit.project.splits.frame_number`): the rows far from training, and novel videos,
are the numbers to believe for analysing new footage.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from kit.project import atomic_path
from kit.project.analysis_file import poses_from_table, predictions_frame, select_individuals
from kit.project.multianimal import SINGLE
from kit.project.splits import Split, frame_number, video_of
from kit.results.evaluate import Evaluation
from kit.results.evaluate_ma import align_to_truth, oks_map

TRAINING = "training frames"  # distance 0: the frames trained on, for reference
NOVEL = "novel videos"  # no training frame in the video (test_videos, or a video all test)
UNREAD = "no frame number"  # test images whose name holds no number (not img0042.png)
# (row name, fewest frames, most frames) from the nearest training frame of the same video;
# the first also holds a test frame whose number a training frame shares (distance 0)
DISTANCE_BINS = (("1-2", 0, 2), ("3-5", 3, 5), ("6-10", 6, 10), ("11-30", 11, 30),
                 ("31-100", 31, 100), (">100", 101, math.inf))
ROWS = (TRAINING, *(name for name, _, _ in DISTANCE_BINS), NOVEL, UNREAD)


def frames_to_training(split: Split, images: Sequence[str] | None = None) -> pd.Series:
    """Distance in frames from each image to the nearest training frame of its video.

    Args:
        split: the model's split (its ``train``: the frames trained on).
        images: the images to measure (default: every frame of the split).

    Returns:
        float per image name: 0 for training frames; NaN where the image's video has no
        training frame with a frame number, or the image's name holds none.
    """
    images = (list(split.train + split.validation + split.test + split.novel)
              if images is None else list(images))
    numbers = {name: frame_number(name) for name in (*images, *split.train)}
    trained: dict[str, list[int]] = {}
    for name in split.train:
        if numbers[name] is not None:
            trained.setdefault(video_of(name), []).append(numbers[name])
    trained_sorted = {video: np.sort(frames) for video, frames in trained.items()}
    train_set, out = set(split.train), {}
    for name in images:
        frames = trained_sorted.get(video_of(name))
        if name in train_set:
            out[name] = 0.0
        elif frames is None or numbers[name] is None:
            out[name] = np.nan
        else:
            out[name] = float(np.abs(frames - numbers[name]).min())
    return pd.Series(out, name="frames_to_training", dtype=float)


def distance_rows(split: Split, images: Sequence[str]) -> pd.Series:
    """The row of :data:`ROWS` of each image (training frames, a distance bin, novel videos,
    or no frame number in the name)."""
    distance = frames_to_training(split, images)
    rows = pd.Series(NOVEL, index=distance.index, name="frames_to_training")
    for name, low, high in DISTANCE_BINS:
        rows[(distance >= low) & (distance <= high)] = name
    rows[[frame_number(name) is None for name in distance.index]] = UNREAD
    rows[list(set(split.train) & set(distance.index))] = TRAINING
    return rows


def matched_animals(predictions: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """``predictions`` with only the predicted animals matched to a labeled animal, each in
    that animal's columns (:func:`~kit.results.evaluate_ma.align_to_truth`), NaN elsewhere.

    ``evaluate`` saves the extra animals too, in free columns, and a free column may be a
    missed labeled animal's: its extra animal is no prediction of that animal. Unique body
    parts (``single``) and single-animal tables are returned as they are.

    Args:
        predictions: an :class:`~kit.results.evaluate.Evaluation`'s predictions table
            (either layout), rows the image names.
        labels: its labels table, the same rows or more.
    """
    pred, bodyparts, individuals = poses_from_table(predictions)
    if individuals is None:
        return predictions
    truth, _, truth_individuals = poses_from_table(labels.loc[predictions.index], bodyparts)
    truth = select_individuals(truth, truth_individuals, individuals)
    animals = [i for i, name in enumerate(individuals) if name != SINGLE]
    pred = pred.copy()  # poses_from_table may return a view of the table
    pred[:, animals] = align_to_truth(pred[:, animals], truth[:, animals],
                                      extra=False)[:, :len(animals)]
    scorer = predictions.columns.get_level_values(0)[0]
    return predictions_frame(pred, predictions.index, scorer, bodyparts, individuals).reindex(
        columns=predictions.columns)


def point_errors(predictions: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """Error of every labeled point: columns ``image, individual, bodypart, error_px``.

    Args:
        predictions: an :class:`~kit.results.evaluate.Evaluation`'s predictions table
            (either layout; multi-animal: each labeled animal's error is to the predicted
            animal matched to it, :func:`matched_animals`), rows the image names.
        labels: its labels table, the same rows or more.
    """
    labels = labels.loc[predictions.index]
    pred, bodyparts, pred_individuals = poses_from_table(matched_animals(predictions, labels))
    truth, _, truth_individuals = poses_from_table(labels, bodyparts)
    truth = select_individuals(truth, truth_individuals, pred_individuals)
    error = np.linalg.norm(pred[..., :2] - truth[..., :2], axis=-1)  # (N, I, K), NaN: unlabeled
    frames, individuals, parts = np.nonzero(np.isfinite(truth[..., :2]).all(-1))
    names = pred_individuals or ["single animal"]
    return pd.DataFrame({
        "image": np.asarray(predictions.index)[frames],
        "individual": np.asarray(names, dtype=object)[individuals],
        "bodypart": np.asarray(bodyparts, dtype=object)[parts],
        "error_px": error[frames, individuals, parts],  # NaN: labeled, not predicted
    })


def generalization_table(errors: pd.DataFrame, split: Split) -> pd.DataFrame:
    """The errors grouped by distance to training (one row per non-empty row of :data:`ROWS`).

    Args:
        errors: one row per labeled point, with columns ``image`` and ``error_px``
            (:func:`point_errors`); points not predicted (NaN) are not counted.
        split: the model's split.

    Returns:
        Indexed by ``frames_to_training``: ``num_frames, num_labels, mean_px, median_px,
        p90_px`` (pixels).
    """
    errors = errors[np.isfinite(errors["error_px"])]
    rows = distance_rows(split, errors["image"].unique())
    grouped = errors.assign(row=errors["image"].map(rows)).groupby("row")
    table = pd.DataFrame({
        "num_frames": grouped["image"].nunique(),
        "num_labels": grouped["error_px"].size(),
        "mean_px": grouped["error_px"].mean(),
        "median_px": grouped["error_px"].median(),
        "p90_px": grouped["error_px"].quantile(0.9),
    })
    order = [row for row in ROWS if row in table.index]
    return table.loc[order].rename_axis("frames_to_training")


def animal_poses(predictions: pd.DataFrame, labels: pd.DataFrame
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Several animals: the predicted and labeled poses (F, I, K, 3) of the animals (not the
    unique body parts) on ``predictions``' images, the labels in the predictions' animal
    order: what :func:`~kit.results.evaluate_ma.oks_map` scores."""
    animals = labels.columns.get_level_values(1)  # (scorer, individuals, bodyparts, coords)
    columns = labels.columns[animals != SINGLE]
    bodyparts = list(dict.fromkeys(columns.get_level_values(2)))
    pred, _, pred_individuals = poses_from_table(predictions, bodyparts)
    truth, _, truth_individuals = poses_from_table(labels.loc[predictions.index], bodyparts)
    keep = [i for i, name in enumerate(pred_individuals) if name != SINGLE]
    truth = select_individuals(truth, truth_individuals, [pred_individuals[i] for i in keep])
    return pred[:, keep], truth


def oks_by_distance(predictions: pd.DataFrame, labels: pd.DataFrame, split: Split
                    ) -> pd.DataFrame:
    """Several animals: OKS mAP and mAR (percent, :func:`~kit.results.evaluate_ma.oks_map`)
    of the images of each row of :data:`ROWS` (the animals, not the unique body parts)."""
    pred, truth = animal_poses(predictions, labels)
    rows = distance_rows(split, list(predictions.index)).to_numpy()
    return pd.DataFrame({row: oks_map(pred[rows == row], truth[rows == row])
                         for row in ROWS if (rows == row).any()}).T.rename_axis(
        "frames_to_training")


def generalization(evaluation: Evaluation) -> pd.DataFrame:
    """:func:`generalization_table` of an evaluation, with OKS mAP and mAR per row for
    several animals; written to ``generalization.csv`` in the evaluation folder."""
    if evaluation.split is None:
        raise ValueError("This evaluation holds no split: make it with "
                         "kit.results.evaluate.evaluate (it reads the split saved with the model).")
    errors = point_errors(evaluation.predictions, evaluation.labels)
    table = generalization_table(errors, evaluation.split)
    if evaluation.oks is not None:
        table = table.join(oks_by_distance(evaluation.predictions, evaluation.labels,
                                           evaluation.split))
    with atomic_path(evaluation.folder / "generalization.csv") as tmp:
        table.to_csv(tmp)
    return table
