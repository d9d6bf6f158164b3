"""What a training run writes in its model folder (:mod:`kit.net.train`): its checkpoints
(written atomically, the newest kept), its train log, and the final model with its pose
config. Each write is atomic: a run killed at any moment leaves at most a temporary, which
:func:`remove_stale_temporaries` deletes when it resumes."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import keras
import pandas as pd

from kit.net.backbones import get_backbone
from kit.net.data import prefetch
from kit.net.heads import head_names
from kit.net.model import recalibrate_batchnorm
from kit.net.model_folder import ModelFolder, PoseConfig
from kit.net.two_views import training_points, with_view_prior
from kit.net.unlabeled_losses import pose_outputs_only
from kit.project import atomic_path


def list_checkpoints(folder: Path) -> list[Path]:
    """Checkpoints in ``folder``, oldest first."""
    found = [p for p in folder.glob("ckpt-*.keras") if re.fullmatch(r"ckpt-\d+\.keras", p.name)]
    return sorted(found, key=lambda p: int(p.stem.split("-")[1]))


def remove_stale_temporaries(model_dir: Path) -> None:
    """Delete the temporary files of a run that was killed while saving (atomic_path's
    ``.tmp<pid>-*``; a checkpoint's is hundreds of MB). Nothing else writes this folder now."""
    for folder in (model_dir, ModelFolder(model_dir).checkpoints_dir):
        for stale in folder.glob(".tmp*"):
            stale.unlink(missing_ok=True)


def append_log(path: Path, row: dict[str, float]) -> None:
    """Append ``row`` (a step's mean losses and timings) to the train log at ``path``."""
    log = pd.read_csv(path) if path.exists() else pd.DataFrame()
    log = log[log["step"] < row["step"]] if len(log) else log  # drop rows a crash left ahead
    log = pd.concat([log, pd.DataFrame([row])], ignore_index=True)
    with atomic_path(path) as tmp:
        log.to_csv(tmp, index=False)


def save_checkpoint(model, folder: Path, step: int) -> None:
    """Save atomically, then delete the older ones: a whole checkpoint is on disk at every
    moment, and a killed run leaves at most a temporary (removed when it resumes)."""
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / f"ckpt-{step:08d}.keras") as tmp:
        model.save(tmp)
    for old in list_checkpoints(folder)[:-1]:
        old.unlink()


def recalibrate_on_training_batches(model, dataset, config, count: int | None = None) -> None:
    """Set BatchNorm's moving statistics (:func:`kit.net.model.recalibrate_batchnorm`) from
    ``count`` (default ``config.batchnorm_batches``) fresh augmented batches, indices past the
    last step: the training distribution. Before the final model is saved, and before a run
    labels video frames mid-way (:mod:`kit.net.pseudo_labels`)."""
    count = config.batchnorm_batches if count is None else count
    extra = range(config.train_steps, config.train_steps + count)
    recalibrate_batchnorm(
        model, (images for images, _ in prefetch(dataset.__getitem__, extra, config.num_workers)))


def pose_config(project, config, dataset, bodyparts) -> PoseConfig:
    """What prediction needs of the run's network (its final model's pose config)."""
    spec = dataset.spec
    return PoseConfig(
        bodyparts=tuple(bodyparts),
        net_type=config.net_type,
        backbone_stride=get_backbone(config.net_type).output_stride,
        stride=config.targets.stride,
        heads=tuple(head_names(len(spec.paf_graph), spec.num_identities) if spec
                    else head_names()),
        locref_stdev=config.targets.locref_stdev,
        global_scale=config.augment.global_scale,
        train_steps=config.train_steps,
        crop_hw=tuple(dataset.crop_hw),
        iteration=project.iteration,
        keras_backend=keras.backend.backend(),
        paf_width=config.targets.paf_width,
        **({} if spec is None else {
            "multianimal": True, "individuals": tuple(spec.individuals),
            "unique_bodyparts": tuple(spec.unique_bodyparts),
            "paf_graph": tuple(tuple(edge) for edge in spec.paf_graph),
            "identity": spec.identity}),
    )


def save_final(model, project, config, dataset, model_dir: Path, bodyparts) -> None:
    """Write the pose config (with ``view_pairs``, the ``two_views`` decoder:
    :mod:`kit.net.two_views`; its ``test_scales``) and the final model (pose heads only, no
    optimizer)."""
    folder = ModelFolder(model_dir)
    pose = pose_config(project, config, dataset, bodyparts)
    pose = dataclasses.replace(pose, test_scales=config.test_scales,
                               test_rotations=config.test_rotations,
                               test_mirror=config.test_mirror)
    if config.view_pairs and dataset.spec is None:  # a mirror rig: its views decoded together
        pose = with_view_prior(pose, training_points(project, folder, bodyparts),
                               config.view_pairs)
    folder.save_pose_config(pose)
    # The same layers without the optimizer: a third of the size (the checkpoints keep
    # the optimizer for resuming; weights=<final model> continues training from this).
    inference = pose_outputs_only(model)  # without the unlabeled losses' outputs
    with atomic_path(folder.model_file) as tmp:
        inference.save(tmp)
