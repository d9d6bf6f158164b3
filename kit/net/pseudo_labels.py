"""Self-training on the project's videos: the network labels frames itself and trains on.

At ``pseudo_label_at`` of the run (a share of ``train_steps``), the network in training
labels ``pseudo_label_frames`` frames of the project's videos, and the rest of the run
trains on its labeled frames and those. Each body part of a pseudo-labeled frame is kept
where its likelihood reaches ``pseudo_label_min_likelihood``; one below is left out of the
loss, as a missing label is (not taught as "not visible"). This is the pseudo-labeling of
DeepLabCut's SuperAnimal video adaptation (Ye et al., Nature Communications 2024) and of
Lightning Pose's distillation of smoothed ensemble predictions, for a network trained on
the project's own labels: it shows the network the video it will analyse, with the
augmentation of every labeled frame.

The frames are drawn as the unlabeled losses' pairs are
(:func:`kit.net.unlabeled.unlabeled_pair_starts`: never a test frame nor within
``unlabeled_margin_frames`` of one, nothing of ``test_videos``, with the blocks split
nothing of a video's test stretch), spread at random (the run's seed) over every usable
frame. Before labeling them, BatchNorm's moving statistics are set from augmented batches
(:func:`kit.net.model.recalibrate_batchnorm`, as the final model's are; training reads the
batches' own statistics, so the steps after are unchanged by it). The frames and their
labels are written into the model folder (``pseudo-labels/``: PNG frames and
``pseudo_labels.csv``, the table last): a run resumed after that point trains on the same
frames, and a user can look at what the network taught itself. The labeled frames keep
half of the draws (:data:`LABELED_SHARE`): however many frames are pseudo-labeled, they do
not crowd out the human labels. One animal per frame; several animals are refused (their
assembled animals would need identities across the batch's frames).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from kit.net.data import PoseDataset
from kit.net.model_folder import ModelFolder
from kit.net.predict import Predictor
from kit.net.run_files import pose_config, recalibrate_on_training_batches
from kit.net.unlabeled import unlabeled_pair_starts
from kit.net.unlabeled_losses import pose_outputs_only
from kit.project import Project, atomic_write_text
from kit.project.splits import Split
from kit.project.video import read_frames, save_image

LABELED_SHARE = 0.5  # of the draws of each batch's frames, once pseudo-labeled frames join
FOLDER = "pseudo-labels"
TABLE = "pseudo_labels.csv"
RECORD = "labeling.json"  # its seconds (outside the optimizer steps), frames, points kept


def pseudo_label_step(project: Project, config) -> int:
    """The step after which the run trains on pseudo-labeled frames too (``train_steps``:
    never, ``pseudo_label_frames`` 0). Raises for several animals, before any step."""
    if not config.pseudo_label_frames:
        return config.train_steps
    if project.layout is not None:
        raise ValueError(
            f"pseudo_label_frames={config.pseudo_label_frames}: self-training labels one animal "
            f"per frame, and {project.config_path} is a multi-animal project. Set "
            "pseudo_label_frames=0, or use unlabeled_pairs (its losses work on assembled "
            "animals).")
    return min(config.train_steps - 1, max(1, round(config.pseudo_label_at * config.train_steps)))


def pseudo_label_sources(project: Project, split: Split, config) -> list[tuple[Path, int]]:
    """(video, frame index) of the frames to label, sorted: ``pseudo_label_frames`` drawn
    (the run's seed) from every frame the unlabeled pairs may start at."""
    try:
        starts = unlabeled_pair_starts(project, split, config.test_videos,
                                       config.unlabeled_margin_frames)
    except ValueError as e:
        raise ValueError(f"pseudo_label_frames={config.pseudo_label_frames}: {e} (Or set "
                         "pseudo_label_frames=0.)") from e
    candidates = [(path, int(t)) for path, frames in starts.items() for t in frames]
    rng = np.random.default_rng([config.seed, 7])
    count = min(config.pseudo_label_frames, len(candidates))
    chosen = rng.choice(len(candidates), count, replace=False)
    return sorted(candidates[i] for i in chosen)


def label_frames(predictor: Predictor, frames: list[np.ndarray], min_likelihood: float
                 ) -> tuple[np.ndarray, np.ndarray]:
    """The frames' points (N, K, 2), NaN where the likelihood is below ``min_likelihood``,
    and the likelihoods (N, K)."""
    poses = predictor.predict_images(frames)[:, 0]  # one animal: one row
    points = poses[..., :2].copy()
    points[~(poses[..., 2] >= min_likelihood)] = np.nan
    return points, poses[..., 2]


def _table(names: list[str], bodyparts: list[str], points: np.ndarray,
           likelihood: np.ndarray) -> pd.DataFrame:
    rows = {"image": np.repeat(names, len(bodyparts)),
            "bodypart": np.tile(bodyparts, len(names)),
            "x": points[..., 0].ravel(), "y": points[..., 1].ravel(),
            "likelihood": likelihood.ravel()}
    return pd.DataFrame(rows)


def load_pseudo_labels(model_dir: str | Path, bodyparts: list[str]
                       ) -> tuple[list[Path], np.ndarray] | None:
    """A run's pseudo-labeled frames and points (N, K, 2) (NaN: left out), or None if it has
    none yet."""
    folder = Path(model_dir) / FOLDER
    if not (folder / TABLE).is_file():
        return None
    table = pd.read_csv(folder / TABLE)
    names = list(dict.fromkeys(table["image"]))
    xy = table.set_index(["image", "bodypart"])[["x", "y"]]
    points = np.stack([xy.loc[name].reindex(bodyparts).to_numpy() for name in names])
    return [folder / name for name in names], points


def make_pseudo_labels(project: Project, config, model, dataset: PoseDataset,
                       model_dir: Path, bodyparts: list[str]
                       ) -> tuple[list[Path], np.ndarray]:  # size: the run's pieces
    """Label the run's frames with ``model`` (the network in training) and write them into
    ``model_dir/pseudo-labels/``; kept ones are read back instead."""
    found = load_pseudo_labels(model_dir, bodyparts)
    if found is not None:
        return found
    start = time.perf_counter()
    recalibrate_on_training_batches(model, dataset, config, max(1, config.batchnorm_batches))
    predictor = Predictor.of_network(pose_outputs_only(model),
                                     pose_config(project, config, dataset, bodyparts))
    sources = pseudo_label_sources(project, ModelFolder(model_dir).load_split(), config)
    frames: dict[tuple[Path, int], np.ndarray] = {}
    for video in dict.fromkeys(path for path, _ in sources):
        read = read_frames(video, [t for path, t in sources if path == video])
        frames.update({(video, t): image for t, image in read.items()})
    images = [frames[source] for source in sources]
    points, likelihood = label_frames(predictor, images, config.pseudo_label_min_likelihood)
    folder = Path(model_dir) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"{path.stem}-{t:06d}.png" for path, t in sources]
    for name, image in zip(names, images):
        save_image(folder / name, image)
    atomic_write_text(folder / RECORD, json.dumps({
        "seconds": time.perf_counter() - start, "frames": len(names),
        "kept_share": float(np.isfinite(points[..., 0]).mean())}, indent=1))
    atomic_write_text(folder / TABLE, _table(names, bodyparts, points, likelihood)
                      .to_csv(index=False))
    return [folder / name for name in names], points


def labeling_seconds(model_dir: str | Path) -> float:
    """Seconds the run spent making its pseudo-labels (0 if it made none; NaN if unrecorded)."""
    folder = Path(model_dir) / FOLDER
    if not folder.is_dir():
        return 0.0
    record = folder / RECORD
    return float(json.loads(record.read_text())["seconds"]) if record.is_file() else float("nan")


def with_pseudo_labels(project: Project, config, model, dataset: PoseDataset,
                       model_dir: Path, bodyparts: list[str]
                       ) -> PoseDataset:  # size: the run's pieces
    """``dataset`` with the run's pseudo-labeled frames added (:func:`make_pseudo_labels`),
    drawn ``1 - LABELED_SHARE`` of the time."""
    paths, points = make_pseudo_labels(project, config, model, dataset, model_dir, bodyparts)
    usable = np.isfinite(points).all(axis=-1).any(axis=-1)  # a frame with a kept point
    if usable.any():
        dataset.add_images([p for p, keep in zip(paths, usable) if keep], points[usable],
                           1.0 - LABELED_SHARE)
    return dataset
