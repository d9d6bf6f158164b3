"""The losses on unlabeled frames for several animals, on the assembled animals.

One animal's keypoints are each map's peak (:class:`kit.net.unlabeled_losses.Keypoints`);
several animals' maps have a peak per animal, and which peaks make one animal is the
assembly's answer (:func:`kit.net.assembly.poses_from_maps`, along the part-affinity
fields), which no gradient passes through. So each step runs in two parts:

1. before the step, the network as it stands reads the unlabeled frames of the batch:
   their animals are assembled as video analysis assembles them, and the animals of each
   pair's second frame are put in the order of the first's (the Hungarian method on their
   keypoints' mean distance, :func:`kit.net.assembly.match_animals`). Each animal's
   keypoints become the targets' *anchors*: the map cell of each keypoint and its score
   (:class:`AnimalAnchors`, called by :meth:`kit.net.unlabeled.WithUnlabeled.complete_targets`);
2. in the step, each anchored keypoint is read again from the maps, differentiably: the
   soft-argmax in a window around its cell (:func:`kit.net.soft_argmax.soft_argmax_at`);
   the temporal loss compares each animal with itself in the next frame
   (:class:`AnimalTemporalLoss`), the pose-subspace loss each animal with the subspace of
   the labeled animals' poses (:class:`AnimalSubspaceLoss`). They are the single animal's
   losses (:mod:`kit.net.unlabeled_losses`) on every assembled animal.

A keypoint the assembly did not find counts in neither loss; an animal counts in the
pose-subspace loss when every body part the subspace reads was found. The anchors come from
the weights of this very step and the batch's own BatchNorm statistics, as the step computes
its maps (early in a training from scratch the moving statistics are far off: read in
inference mode, a network that finds the animals in training mode found none); the extra
forward pass of the batch costs about a third of a step. The views loss (one animal filmed
in two views) has no several-animal form.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import layers, ops

from kit.net.assembly import AssemblyConfig, match_animals, poses_from_maps
from kit.net.model import BatchStatisticsReader
from kit.net.predict import head_maps
from kit.net.soft_argmax import soft_argmax_at
from kit.net.targets import STRIDE, TargetConfig
from kit.net.subspaces import PoseSubspace
from kit.net.unlabeled_losses import (
    UNLABELED_OUTPUTS,
    PoseSubspaceLoss,
    TemporalLoss,
    unlabeled_outputs,
)

MISSING = -1.0  # an anchor's score where the assembly found no keypoint
ANCHOR_CHANNELS = 4  # row, column, score (MISSING: none), the row's flag


@keras.saving.register_keras_serializable(package="kit")
class AnimalMaps(layers.Layer):
    """Score-map logits (B, h, w, K) and locref (B, h, w, 2K) -> (B, h, w, 3K) float32:
    what the several-animal losses read their anchored keypoints from."""

    def __init__(self, **kwargs):
        super().__init__(dtype="float32", **{k: v for k, v in kwargs.items() if k != "dtype"})

    def call(self, logits, locref):
        """Both maps, float32, one after the other along the channels."""
        return ops.concatenate([ops.cast(logits, "float32"), ops.cast(locref, "float32")], -1)

    def compute_output_shape(self, logits_shape, locref_shape):
        """(B, h, w, 3K)."""
        return (*logits_shape[:3], logits_shape[-1] + locref_shape[-1])


def anchored_points(y_true, y_pred, stride: int, locref_stdev: float):
    """The anchored keypoints (B, A, K, 2) read from :class:`AnimalMaps`' ``y_pred`` around
    the cells of ``y_true`` (B, A, K, :data:`ANCHOR_CHANNELS`), their scores (B, A, K) and
    the rows' flags (B,)."""
    maps, anchors = ops.cast(y_pred, "float32"), ops.cast(y_true, "float32")
    k = ops.shape(maps)[-1] // 3
    points = soft_argmax_at(maps[..., :k], anchors[..., :2], maps[..., k:], stride, locref_stdev)
    return points, anchors[..., 2], anchors[:, 0, 0, 3]


@keras.saving.register_keras_serializable(package="kit")
class AnimalTemporalLoss(TemporalLoss):
    """:class:`~kit.net.unlabeled_losses.TemporalLoss` on every assembled animal: each
    anchored keypoint against the same animal's in the next frame; ``y_pred``
    :class:`AnimalMaps`', ``y_true`` the anchors (B, A, K, 4), flagged on each pair's first
    row."""

    def __init__(self, epsilon_px: float = 0.0, min_confidence: float = 0.0,  # size: Keras
                 stride: int = STRIDE, locref_stdev: float = TargetConfig.locref_stdev,
                 name: str = "temporal", **kwargs):  # rebuilds a loss from these (get_config)
        super().__init__(epsilon_px, min_confidence, name=name, **kwargs)
        self.stride, self.locref_stdev = int(stride), float(locref_stdev)

    def call(self, y_true, y_pred):
        """The hinge of the jumps of every animal's found keypoints, as one animal's."""
        points, scores, flags = anchored_points(y_true, y_pred, self.stride, self.locref_stdev)
        batch = ops.shape(points)[0]  # not found: score MISSING, below any min_confidence
        return self.hinge(ops.reshape(points, (batch, -1, 2)), ops.reshape(scores, (batch, -1)),
                          flags)

    def get_config(self):
        """The tolerance, threshold and map geometry (for saving)."""
        return {**super().get_config(), "stride": self.stride, "locref_stdev": self.locref_stdev}


@keras.saving.register_keras_serializable(package="kit")
class AnimalSubspaceLoss(PoseSubspaceLoss):
    """:class:`~kit.net.unlabeled_losses.PoseSubspaceLoss` on every assembled animal that
    has all the body parts ``columns``; ``y_pred`` :class:`AnimalMaps`', ``y_true`` the
    anchors (B, A, K, 4)."""

    def __init__(self, mean, components, tolerance_px: float, columns=(),  # size: Keras
                 stride: int = STRIDE, locref_stdev: float = TargetConfig.locref_stdev,
                 name: str = "pca", **kwargs):  # rebuilds a loss from these (get_config)
        super().__init__(mean, components, tolerance_px, columns, name=name, **kwargs)
        self.stride, self.locref_stdev = int(stride), float(locref_stdev)

    def call(self, y_true, y_pred):
        """The hinge of the distances from the subspace of the complete animals' keypoints."""
        points, scores, flags = anchored_points(y_true, y_pred, self.stride, self.locref_stdev)
        found = ops.take(scores, self.columns, axis=2) if self.columns else scores
        complete = ops.cast(ops.all(found >= 0, axis=2), "float32")  # (B, A)
        k = ops.shape(points)[2]
        return self.hinge(ops.reshape(points, (-1, k, 2)),
                          ops.reshape(flags[:, None] * complete, (-1,)))

    def get_config(self):
        """The subspace and map geometry (for saving)."""
        return {**super().get_config(), "stride": self.stride, "locref_stdev": self.locref_stdev}


def with_animal_losses(model: keras.Model, config, subspaces: dict[str, PoseSubspace],
                       view_pairs=([], [])) -> tuple[keras.Model, dict, dict]:
    """:func:`kit.net.unlabeled_losses.with_unlabeled_losses` for a several-animal network:
    an output per loss (:class:`AnimalMaps`' maps), its loss and weight."""
    names = unlabeled_outputs(config)  # no views: kit.net.unlabeled.with_unlabeled refuses them
    maps = AnimalMaps(name="animal_maps")(model.get_layer("part_pred").output,
                                          model.get_layer("locref").output)
    extra = [layers.Identity(name=name, dtype="float32")(maps) for name in names]
    geometry = {"stride": config.targets.stride, "locref_stdev": config.targets.locref_stdev}
    losses = {"temporal": lambda s: AnimalTemporalLoss(
                  config.temporal_epsilon_px, config.temporal_min_confidence, **geometry),
              "pca": lambda s: AnimalSubspaceLoss(s.mean, s.components, s.tolerance_px,
                                                  s.columns, **geometry)}
    weights = {"temporal": config.temporal_loss_weight, "pca": config.pca_loss_weight}
    return (keras.Model(model.input, list(model.outputs) + extra, name=model.name),
            {n: losses[n](subspaces.get(n)) for n in names}, {n: float(weights[n]) for n in names})


def anchors_of(poses: np.ndarray, stride: int, map_hw: tuple[int, int]) -> np.ndarray:
    """Anchors (N, A, K, 3): each keypoint's map cell (row, column; the cell whose centre is
    nearest) and score, :data:`MISSING` where ``poses`` (N, A, K, 3) has none."""
    found = np.isfinite(poses[..., :2]).all(-1)
    xy = np.nan_to_num(poses[..., :2])
    col = np.clip(np.round((xy[..., 0] - stride / 2) / stride), 0, map_hw[1] - 1)
    row = np.clip(np.round((xy[..., 1] - stride / 2) / stride), 0, map_hw[0] - 1)
    return np.stack([row, col, np.where(found, poses[..., 2], MISSING)], axis=-1)


class AnimalAnchors:
    """Fills the several-animal losses' targets before each step (:meth:`fill`).

    Args:
        pose: what assembly needs of the model (:func:`kit.net.assembly.poses_from_maps`):
            bodyparts, individuals, unique_bodyparts, paf_graph, stride, locref_stdev.
        outputs: the loss outputs to fill (``temporal``, ``pca``).
        assembly: thresholds and matching of the assembly (video analysis's defaults).
    """

    def __init__(self, pose: dict[str, Any], outputs: tuple[str, ...],
                 assembly: AssemblyConfig = AssemblyConfig()):
        self.pose, self.outputs, self.assembly = pose, outputs, assembly
        self.num_animals = len(pose["individuals"])
        self.num_parts = len(pose["bodyparts"])
        self.reader: BatchStatisticsReader | None = None  # the model's, made once

    def read(self, model: keras.Model, images: np.ndarray) -> list[np.ndarray]:
        """``model``'s outputs on ``images`` as the training step computes them
        (:class:`kit.net.model.BatchStatisticsReader`)."""
        if self.reader is None or self.reader.model is not model:
            self.reader = BatchStatisticsReader(model)
        return self.reader(images)

    def placeholder(self, flags: np.ndarray) -> np.ndarray:
        """Targets (B, A, K, 4) with no anchor found yet and the rows' ``flags`` (B, 1)."""
        anchors = np.zeros((len(flags), self.num_animals, self.num_parts, ANCHOR_CHANNELS),
                           np.float32)
        anchors[..., 2] = MISSING
        anchors[..., 3] = np.asarray(flags, np.float32).reshape(-1, 1, 1)
        return anchors

    def assemble(self, model: keras.Model, images: np.ndarray, first: int
                 ) -> tuple[np.ndarray, tuple[int, int]]:
        """The animals (N, A, K, 3) that ``model`` (its pose heads, as the step computes
        them: :meth:`read` of the whole batch) finds in
        ``images[first:]`` (pairs of consecutive frames), each pair's second frame's
        animals in the first's order (:func:`kit.net.assembly.match_animals`); and the maps'
        size (h, w)."""
        outputs = dict(zip(model.output_names, self.read(model, images)))
        maps = head_maps({n: o[first:] for n, o in outputs.items()
                          if n not in UNLABELED_OUTPUTS}, list(outputs))
        poses = poses_from_maps(maps, self.pose, self.assembly)[0][:, :self.num_animals]
        for t in range(0, len(poses) - 1, 2):
            poses[t + 1] = poses[t + 1][match_animals(poses[t], poses[t + 1])]
        return poses, maps["part_pred"].shape[1:3]

    def fill(self, model: keras.Model, images: np.ndarray, targets: dict[str, np.ndarray],
             first: int) -> dict[str, np.ndarray]:
        """``targets`` with the anchors of the animals in ``images[first:]`` (the unlabeled
        pairs) read by ``model`` as it stands."""
        if not self.outputs or first >= len(images):
            return targets
        poses, map_hw = self.assemble(model, images, first)
        anchors = anchors_of(poses, int(self.pose["stride"]), map_hw)
        filled = dict(targets)
        for name in self.outputs:
            filled[name] = targets[name].copy()
            filled[name][first:, ..., :3] = anchors
        return filled
