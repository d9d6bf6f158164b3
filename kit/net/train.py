"""Training: one network per (project, iteration, shuffle, train_fraction).

Everything a run needs to be reproduced or resumed lives in its model folder
(:class:`kit.net.model_folder.ModelFolder`, which names its files): the settings, the
train/test split, checkpoints ``ckpt-<step>.keras`` (model + optimizer, while the run lasts),
the train log (losses, and the fraction of time the steps waited for data), and at the end
the final model and its :class:`kit.net.model_folder.PoseConfig` (what prediction needs).
An interrupted run started again with the same settings resumes from its last
checkpoint and draws the same batches it would have drawn.

A multi-animal project (``project.layout``) trains DeepLabCut 2.2+'s bottom-up network:
score maps and locref of every individual's labels, part-affinity fields along the graph
(the config's skeleton, else the minimum spanning tree of the labels' mean part distances:
:func:`kit.net.ma_targets.minimum_spanning_graph`) and, with ``identity: true`` in the
config, identity maps; the pose config then records the graph and individuals.

The settings, ``TrainConfig``, are defined in :mod:`kit.net.train_config`; import them from
here with the training they drive: ``from kit.net.train import TrainConfig, train``.
"""

from __future__ import annotations

import dataclasses
import shutil
import sys
import time
import warnings
from pathlib import Path

import keras
import numpy as np
import pandas as pd
from tqdm import tqdm

from kit.net.backbones import get_backbone
from kit.net.data import MultiAnimalDataset, PoseDataset, prefetch
from kit.net.heads import head_losses
from kit.net.ma_targets import MultiAnimalSpec, minimum_spanning_graph, skeleton_graph
from kit.net.model import build_model, resolve_weights
from kit.net.model_folder import ModelFolder
from kit.net.optimizer import finalize_weights, make_optimizer
from kit.net.pseudo_labels import pseudo_label_step, with_pseudo_labels
from kit.net.run_files import (append_log, list_checkpoints, recalibrate_on_training_batches,
                               remove_stale_temporaries, save_checkpoint, save_final)
from kit.net.sides import mirror_permutation
from kit.net.train_config import EAGER_STEPS, TrainConfig, computing_settings
from kit.net.unlabeled import WithUnlabeled, with_unlabeled
from kit.net.unlabeled_animals import with_animal_losses
from kit.net.unlabeled_losses import with_unlabeled_losses
from kit.project import Project
from kit.project.labels import labels_to_array, load_labels
from kit.project.splits import Split, make_split, video_of


def _check_saved_config(model_dir: Path, config: TrainConfig) -> None:
    folder = ModelFolder(model_dir)
    if folder.has_train_config():
        # Settings added to kit since that run was saved take their defaults (also those
        # inside augment and targets).
        old = {**TrainConfig().to_dict()}
        for key, value in folder.load_train_config_dict().items():
            old[key] = {**old[key], **value} if isinstance(old.get(key), dict) else value
        old, new = computing_settings(old), computing_settings(config.to_dict())
        if old != new:
            diff = {k: (old.get(k), v) for k, v in new.items() if old.get(k) != v}
            raise ValueError(
                f"{model_dir} holds a run with other settings (saved, given): {diff}. "
                "Use another shuffle number, or delete that folder to start over."
            )
    else:
        folder.save_train_config_dict(config.to_dict())


def get_split(project: Project, config: TrainConfig, labels: pd.DataFrame) -> Split:
    """The split stored with the model, or a new one (:func:`draw_split`, saved)."""
    folder = ModelFolder(config.model_dir(project))
    if folder.has_split():
        return folder.load_split()
    split = draw_split(project, config, labels)
    folder.save_split(split)
    return split


def draw_split(project: Project, config: TrainConfig, labels: pd.DataFrame) -> Split:
    """The split ``config`` draws from the frames of ``labels`` (nothing is saved).

    With ``config.train_size`` the split's ``train`` holds just the frames trained on (the
    first of the seeded order); its test set is the shuffle's, shared by every training size.
    """
    try:
        split = make_split(list(labels.index), config.train_fraction, config.shuffle,
                           config.seed, config.test_videos, config.split_method,
                           config.validation_fraction)
    except ValueError as e:  # name the project: make_split only sees image names
        raise ValueError(f"{project.labeled_data_root}: {e}") from e
    if config.train_size:
        if config.train_size > len(split.train):
            raise ValueError(
                f"train_size={config.train_size} is more than the {len(split.train)} training "
                f"frames of train_fraction={config.train_fraction}. Choose a smaller train_size."
            )
        split = dataclasses.replace(split, train=split.train[: config.train_size])
    return split


def _bodyparts(project: Project, config: TrainConfig) -> list[str]:
    if project.layout is not None and config.bodyparts:
        raise ValueError(f"bodyparts={config.bodyparts!r}: a multi-animal project trains on all "
                         f"its body parts {project.bodyparts}. Leave bodyparts empty.")
    unknown = [b for b in config.bodyparts if b not in project.bodyparts]
    if unknown:
        raise ValueError(f"bodyparts {unknown} are not in {project.config_path}: "
                         f"{project.bodyparts}. Received: bodyparts={config.bodyparts!r}.")
    return [b for b in project.bodyparts if b in config.bodyparts] or project.bodyparts


def _compiled_model(num_bodyparts: int, config: TrainConfig, spec: MultiAnimalSpec | None = None,
                    dataset: PoseDataset | None = None) -> keras.Model:
    keras.utils.set_random_seed(config.seed)
    weights = resolve_weights(config.weights, config.net_type)
    is_kit_model = weights is not None and weights.endswith(".keras")
    previous_policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy(config.precision)  # layers keep the policy they are built with
    try:
        model = build_model(num_bodyparts, None if is_kit_model else weights,
                            net_type=config.net_type,
                            num_limbs=len(spec.paf_graph) if spec else 0,
                            num_identities=spec.num_identities if spec else 0)
    finally:
        keras.config.set_dtype_policy(previous_policy)
    if is_kit_model:
        model.load_weights(weights)
    # Each head's loss and weight from its record (kit.net.heads), by output name.
    losses, loss_weights = head_losses(model.output_names, lambda key: getattr(config, key))
    if isinstance(dataset, WithUnlabeled):  # the losses on unlabeled frames, by output name
        add_losses = with_unlabeled_losses if spec is None else with_animal_losses
        model, more, more_weights = add_losses(model, config, dataset.subspaces,
                                               dataset.view_pairs)
        losses, loss_weights = {**losses, **more}, {**loss_weights, **more_weights}
    model.compile(
        optimizer=make_optimizer(config),
        loss=losses,
        loss_weights=loss_weights,
        jit_compile=config.jit_compile,
    )
    return model


def train(project: Project, config: TrainConfig, verbose: int = 1) -> Path:
    """Train (or resume training) the network of ``config``; return its model folder.

    Every ``config.steps_per_checkpoint`` steps the model and optimizer are saved
    (``checkpoints/ckpt-<step>.keras``, atomically; only the newest kept) and the mean
    losses since the previous checkpoint appended to ``train_log.csv``. When the final
    model is written the checkpoint is deleted, unless ``config.keep_checkpoints``.

    Raises ValueError if the model folder holds a run with other settings, and (before
    anything is written or built) RuntimeError/FileNotFoundError if the initial weights
    cannot be had. A finished run is not trained again.
    """
    model_dir = config.model_dir(project)
    if not _started(model_dir):
        resolve_weights(config.weights, config.net_type)  # fail now, not after the datasets
    bodyparts = _bodyparts(project, config)
    _check_saved_config(model_dir, config)
    if ModelFolder(model_dir).is_trained():
        return model_dir
    dataset = _training_data(project, config, model_dir, bodyparts)
    remove_stale_temporaries(model_dir)
    checkpoints = list_checkpoints(ModelFolder(model_dir).checkpoints_dir)
    if checkpoints:
        model = keras.saving.load_model(checkpoints[-1])
        start = int(checkpoints[-1].stem.split("-")[1])
        if verbose:
            print(f"Resuming from {checkpoints[-1].name} (step {start} of {config.train_steps}).")
    else:
        model, start = _compiled_model(len(bodyparts), config, dataset.spec, dataset), 0
    model.run_eagerly = config.run_eagerly is True or (
        config.run_eagerly == "auto" and keras.backend.backend() == "tensorflow"
        and config.train_steps - start <= EAGER_STEPS)
    switch = pseudo_label_step(project, config)  # self-training: labels it makes itself
    _fit(model, dataset, config, model_dir, range(start, switch), verbose)
    if switch < config.train_steps:
        dataset = with_pseudo_labels(project, config, model, dataset, model_dir, bodyparts)
        _fit(model, dataset, config, model_dir, range(max(start, switch), config.train_steps),
             verbose)
    finalize_weights(model)  # the moving average of the weights, where it is kept
    recalibrate_on_training_batches(model, dataset, config)
    save_final(model, project, config, dataset, model_dir, bodyparts)
    if not config.keep_checkpoints:
        remove_checkpoints(model_dir)
    return model_dir


def seconds_per_step(project: Project, config: TrainConfig, steps: int = 20,
                     warmup: int = 5) -> float:
    """Wall seconds one optimizer step of ``config`` takes on this machine, its batches made
    ahead as in :func:`train`: the median of ``steps`` steps after ``warmup`` (compilation)
    from the initial weights, compiled unless ``run_eagerly`` is True. Nothing is trained or
    saved but the split (as :func:`train` would save it): to give runs of unequal step
    costs the same time."""
    bodyparts = _bodyparts(project, config)
    dataset = _training_data(project, config, config.model_dir(project), bodyparts)
    model = _compiled_model(len(bodyparts), config, dataset.spec, dataset)
    model.run_eagerly = config.run_eagerly is True  # "auto" would run so few steps eagerly
    batches = prefetch(dataset.__getitem__, range(warmup + steps), config.num_workers)
    times = []
    try:
        for _ in range(warmup + steps):
            start = time.perf_counter()
            images, targets = next(batches)
            model.train_on_batch(images, dataset.complete_targets(model, images, targets))
            times.append(time.perf_counter() - start)
    finally:
        batches.close()
    return float(np.median(times[warmup:]))


def calibration_batches(project: Project, config: TrainConfig,
                        num_batches: int | None = None) -> list[np.ndarray]:
    """The augmented training batches (images only, float32 (B, H, W, 3)) that :func:`train`
    recalibrates BatchNorm with before saving the final model (batch indices past the last
    step; ``config.batchnorm_batches`` of them by default): to score a checkpoint as its
    final model would be (:func:`kit.net.model.recalibrate_batchnorm`)."""
    dataset = _training_data(project, config, config.model_dir(project),
                             _bodyparts(project, config))
    count = config.batchnorm_batches if num_batches is None else num_batches
    return [dataset[i][0] for i in range(config.train_steps, config.train_steps + count)]


def _started(model_dir: Path) -> bool:
    """Whether the run has a final model or a checkpoint (its initial weights are used up)."""
    folder = ModelFolder(model_dir)
    return folder.is_trained() or bool(list_checkpoints(folder.checkpoints_dir))


def _training_data(project: Project, config: TrainConfig, model_dir: Path,
                   bodyparts: list[str]) -> PoseDataset:
    """The batches of the split's training frames; raises if its frames lost their labels."""
    labels = load_labels(project)
    if len(labels) == 0:
        raise ValueError(
            f"No labeled frames in {project.labeled_data_root}: label some frames first "
            "(notebooks/02_label_frames.ipynb), then train."
        )
    split = get_split(project, config, labels)
    unlabeled = [name for name in split.train if name not in labels.index]
    if unlabeled:
        raise ValueError(
            f"{ModelFolder(model_dir).split_file} trains on {len(unlabeled)} frame(s) that no label file "
            f"holds any more: {unlabeled[:5]}. Restore their labels (a .bak file keeps the "
            "previous version), or train under another shuffle number.")
    train_labels = labels.loc[list(split.train)]
    paths = [project.image_path(name) for name in train_labels.index]
    points = labels_to_array(train_labels, bodyparts, project.layout)  # (N, [rows,] K, 2)
    stride = get_backbone(config.net_type).output_stride
    swapped = mirror_permutation(bodyparts, warn=config.augment.enabled and config.augment.mirror)
    if project.layout is None:
        dataset = PoseDataset(paths, points, config, swapped, stride)
    else:
        dataset = MultiAnimalDataset(paths, points, config, _multianimal_spec(project, points),
                                     swapped, stride)
    _check_training_labels(project, train_labels, points, dataset, bodyparts)
    if not config.unlabeled_pairs:
        return dataset
    return with_unlabeled(project, config, split, dataset, bodyparts)


def _multianimal_spec(project: Project, points: np.ndarray) -> MultiAnimalSpec:
    """The graph (the skeleton, else the labels' minimum spanning tree) and identity head."""
    layout = project.layout
    if project.skeleton:
        graph = skeleton_graph(project.skeleton, layout.bodyparts, layout.multianimal_bodyparts)
    else:
        graph = minimum_spanning_graph(points, len(layout.multianimal_bodyparts))
    if not graph:
        raise ValueError(
            f"{project.config_path}: no part-affinity edge joins two of the multianimalbodyparts "
            f"{list(layout.multianimal_bodyparts)} (skeleton {project.skeleton}; or, without a "
            "skeleton, no two of them are labeled on one animal). A multi-animal network needs "
            "at least two multianimalbodyparts and a skeleton or labels that join them.")
    return MultiAnimalSpec(tuple(layout.individuals), tuple(layout.unique_bodyparts),
                           tuple(graph), bool(project.config.get("identity", False)))


def _label_files(project: Project, images) -> list[str]:
    return [str(project.labels_file(v)) for v in sorted({video_of(i) for i in images})]


def _check_training_labels(project: Project, labels: pd.DataFrame, given: np.ndarray,
                           dataset: PoseDataset, bodyparts: list[str]) -> None:
    """Warn about labels outside their image (left out of training); raise if none is usable.
    ``given``: ``labels`` as an array (N, [rows,] K, 2), before the outside ones were NaN."""
    images = list(labels.index)
    parts = bodyparts if project.layout is None else [  # several animals: "mouse1/snout"
        f"{individual}/{part}" for individual in project.layout.table_individuals
        for part in bodyparts]
    given = given.reshape(len(images), len(parts), 2)
    outside_all = dataset.outside.reshape(len(images), len(parts))
    for video in sorted({video_of(i) for i in images}):
        rows = [f"{name} {part!r} (x={x:.1f}, y={y:.1f})"
                for (name, points, outside) in zip(images, given, outside_all)
                if video_of(name) == video
                for part, (x, y), out in zip(parts, points, outside) if out]
        if rows:
            warnings.warn(
                f"{project.labels_file(video)}: {len(rows)} label(s) lie outside their image "
                f"and are left out of training: {'; '.join(rows[:10])}. Move them onto the "
                "body part, or mark them not visible, in the labeler (notebooks/02_label_frames.ipynb).",
                stacklevel=3)
    if not np.isfinite(dataset.points).all(axis=-1).any():
        raise ValueError(
            f"None of the {len(images)} training frames has a usable label (every body part "
            f"is NaN, i.e. not visible, or outside the image) in {_label_files(project, images)}. "
            "Label some frames first (notebooks/02_label_frames.ipynb), then train."
        )


def _interval_totals() -> dict[str, float]:
    """What :func:`_fit` adds up over one checkpoint interval: seconds waiting for batches,
    seconds of whole steps, and the steps."""
    return {"wait": 0.0, "step": 0.0, "steps": 0}


def _fit(model, dataset: PoseDataset, config: TrainConfig, model_dir: Path, steps: range,
         verbose: int) -> None:
    """The training loop: ``train_on_batch`` per step (it runs on every Keras backend, and
    on TensorFlow avoids the tf.data thread contention that made ``fit`` 1.8x slower on CPU),
    its batches made ahead on ``config.num_workers`` threads (:func:`kit.net.data.prefetch`).

    Each log row holds the mean losses of its steps, ``data_wait_fraction``: of the time
    from asking for a batch to the end of its step (checkpoints left out), the fraction spent
    waiting for the batch, and ``seconds_per_step``: that time per step. ``steps``: those
    to take, the last one saved whether or not it ends an interval."""
    every = config.steps_per_checkpoint
    sums: dict[str, float] = {}
    seconds = _interval_totals()
    bar = tqdm(total=config.train_steps, initial=steps.start, disable=not verbose or not steps,
               unit="step", desc="training", mininterval=10.0, file=sys.stdout)
    batches = prefetch(dataset.__getitem__, steps, config.num_workers)
    try:
        for step in steps:
            asked = time.perf_counter()
            images, targets = next(batches)
            got = time.perf_counter()
            targets = dataset.complete_targets(model, images, targets)
            losses = model.train_on_batch(images, targets, return_dict=True)
            seconds["wait"] += got - asked
            seconds["step"] += time.perf_counter() - asked
            seconds["steps"] += 1
            for name, value in losses.items():
                sums[name] = sums.get(name, 0.0) + float(value)
            bar.update(1)
            bar.set_postfix(loss=f"{float(losses['loss']):.4f}", refresh=False)
            if (step + 1) % every == 0 or step + 1 == steps.stop:
                done = seconds["steps"]  # a short last interval: fewer than every
                row = {"step": step + 1, **{k: v / done for k, v in sums.items()},
                       "learning_rate": float(model.optimizer.learning_rate),
                       "data_wait_fraction": seconds["wait"] / max(seconds["step"], 1e-12),
                       "seconds_per_step": seconds["step"] / done}
                append_log(ModelFolder(model_dir).train_log_file, row)
                save_checkpoint(model, ModelFolder(model_dir).checkpoints_dir, step + 1)
                sums, seconds = {}, _interval_totals()
    finally:
        batches.close()  # stops the workers, also on an error or Ctrl-C
        bar.close()


def read_train_log(model_dir: str | Path) -> pd.DataFrame:
    """The mean losses between checkpoints: columns ``step``, ``loss``, ``part_pred_loss``,
    ``locref_loss`` (multi-animal: ``paf_loss``, and ``identity_loss`` with identities;
    with ``unlabeled_pairs``: ``temporal_loss``, ``pca_loss``, ``views_loss``),
    ``learning_rate``, ``data_wait_fraction`` (of the steps' time, waiting
    for batches) and ``seconds_per_step`` (both absent in logs of older runs)."""
    return pd.read_csv(ModelFolder(model_dir).train_log_file)


def training_seconds(model_dir: str | Path) -> float:
    """Seconds the run's optimizer steps took in all, from its log (``seconds_per_step`` of
    each checkpoint interval times its steps: batches and steps, not building the model or
    saving checkpoints); NaN for a run without a log or a log of before that column."""
    has_log = ModelFolder(model_dir).train_log_file.is_file()
    log = read_train_log(model_dir) if has_log else pd.DataFrame()
    if "seconds_per_step" not in log or log.empty:
        return float("nan")
    steps = log["step"].diff().fillna(log["step"].iloc[0])
    return float((steps * log["seconds_per_step"]).sum(min_count=len(log)))


def remove_checkpoints(model_dir: str | Path) -> None:
    """Delete a finished run's checkpoints (the final model holds the final weights)."""
    folder = ModelFolder(model_dir)
    if not folder.is_trained():
        raise ValueError(f"{model_dir} has no final model ({folder.model_file.name}) yet; its "
                         "checkpoints are still needed.")
    shutil.rmtree(folder.checkpoints_dir, ignore_errors=True)
