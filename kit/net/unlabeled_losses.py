"""Losses on unlabeled frames (Lightning Pose's idea, Biderman et al. 2024), in ``keras.ops``.

A network trained with them reads its keypoints differentiably (:func:`kit.net.soft_argmax.
soft_argmax` of the score maps and locref, the :class:`Keypoints` layer) and is penalised,
on frame pairs of the project's videos that nobody labeled (:mod:`kit.net.unlabeled`), for

- ``temporal``: keypoints that jump between consecutive frames by more than
  ``temporal_epsilon_px`` (epsilon-insensitive: the mean over pairs and body parts of
  ``max(0, |p_t - p_t+1| - epsilon)``, pixels of the crop; parts below
  ``temporal_min_confidence`` in either frame count 0);
- ``pca``: poses far from the subspace the labeled poses span (:func:`kit.net.subspaces.fit_pose_subspace`:
  PCA of the augmented labeled poses, each centred on its mean keypoint, so translation is
  left out and rotation and scale, which are linear in the centred pose, stay inside);
  each keypoint's residual beyond the labels' own 95th percentile counts;
- ``views``: on a rig that films the animal from two views in one frame (a mirror), the
  body parts seen in both (``TrainConfig.view_pairs``) disagreeing: each pair's two points
  (x1, y1, x2, y2) lie near a 3-dimensional subspace (two views of a point in 3D;
  :func:`kit.net.subspaces.fit_view_subspace`, Lightning Pose's multi-view PCA loss), and each pair's
  residual beyond its own labels' 95th percentile counts (a tail's middle, which labelers
  place on other points of the tail in the two views, is held to its own spread, not the
  paws'; a loss saved before per-pair tolerances: each view's beyond the pooled one).

Each is an extra model output (``temporal``, ``pca``, ``views``: the same keypoints and
confidences (B, K, 3)) while its weight is > 0, so Keras reports each loss under its own
name (``temporal_loss``, ``pca_loss``, ``views_loss`` in ``train_log.csv``, ramped-up
values); their ``y_true`` (B, 1) flags the rows
they apply to with the ramp-up's share of the weight (``TrainConfig.unlabeled_rampup``). The saved final
model keeps only the pose heads (:func:`pose_outputs_only`): prediction is unchanged.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

from kit.net.soft_argmax import soft_argmax
from kit.net.subspaces import PoseSubspace

UNLABELED_OUTPUTS = ("temporal", "pca", "views")  # after the pose heads, in this order


@keras.saving.register_keras_serializable(package="kit")
class Keypoints(layers.Layer):
    """Score-map logits (B, h, w, K) and locref (B, h, w, 2K) -> keypoints (B, K, 3): x, y
    in input pixels (:func:`kit.net.soft_argmax.soft_argmax`), then the part's confidence,
    the sigmoid of its highest logit (no gradient: it only chooses what a loss counts)."""

    def __init__(self, stride: int, locref_stdev: float, **kwargs):
        super().__init__(dtype="float32", **{k: v for k, v in kwargs.items() if k != "dtype"})
        self.stride, self.locref_stdev = stride, locref_stdev

    def call(self, logits, locref):
        """The soft-argmax keypoints and their confidences."""
        points = soft_argmax(logits, locref, self.stride, self.locref_stdev)
        peaks = ops.sigmoid(ops.max(ops.cast(logits, "float32"), axis=(1, 2)))  # (B, K)
        return ops.concatenate([ops.cast(points, "float32"),
                                ops.stop_gradient(peaks)[..., None]], axis=-1)

    def compute_output_shape(self, logits_shape, locref_shape):
        """(B, K, 3)."""
        return (logits_shape[0], logits_shape[-1], 3)

    def get_config(self):
        """The stride and locref scale (for saving)."""
        return {**super().get_config(), "stride": self.stride, "locref_stdev": self.locref_stdev}


def _norm(vectors):
    """Euclidean norm over the last axis, with a gradient at 0."""
    return ops.sqrt(ops.sum(ops.square(vectors), axis=-1) + 1e-12)


def _masked_mean(values, flags):
    """Mean of ``values`` (B, K) over the rows whose flag (B,) is > 0, each weighed by its
    flag (the ramp-up's share of the loss weight)."""
    rows = ops.sum(ops.cast(flags > 0, "float32"))
    count = rows * ops.cast(ops.shape(values)[-1], "float32")
    return ops.sum(values * flags[:, None]) / ops.maximum(count, 1.0)


def _points_and_confidence(y_pred):
    """(B, K, 2) positions and (B, K) confidences of :class:`Keypoints`' output (a (B, K, 2)
    input has no confidences: 1 everywhere)."""
    values = ops.cast(y_pred, "float32")
    if values.shape[-1] == 2:
        return values, ops.ones_like(values[..., 0])
    return values[..., :2], values[..., 2]


@keras.saving.register_keras_serializable(package="kit")
class TemporalLoss(keras.losses.Loss):
    """Keypoint jumps between consecutive frames above ``epsilon_px``: ``y_pred`` (B, K, 2)
    or :class:`Keypoints`' (B, K, 3); ``y_true`` (B, 1) is 1 on row r when row r + 1 holds
    the next frame of the same place. A part counts where its confidence is at least
    ``min_confidence`` in both frames (Lightning Pose's ``prob_threshold``): a part out of
    view has no position to keep still."""

    def __init__(self, epsilon_px: float = 0.0, min_confidence: float = 0.0,
                 name: str = "temporal", **kwargs):
        super().__init__(name=name, **kwargs)
        self.epsilon_px, self.min_confidence = float(epsilon_px), float(min_confidence)

    def call(self, y_true, y_pred):
        """The mean of max(0, |p_t - p_t+1| - epsilon) over the flagged pairs and the body
        parts confident in both frames."""
        return self.hinge(*_points_and_confidence(y_pred), ops.reshape(y_true, (-1,)))

    def hinge(self, points, confidence, flags):
        """The loss of keypoints (B, K, 2), their confidences (B, K) and the rows' flags (B,)."""
        jumps = _norm(points[1:] - points[:-1])  # (B - 1, K)
        seen = ops.cast(ops.minimum(confidence[1:], confidence[:-1]) >= self.min_confidence,
                        "float32")
        flags = ops.cast(flags, "float32")[:-1]
        return _masked_mean(ops.maximum(jumps - self.epsilon_px, 0.0) * seen, flags)

    def get_config(self):
        """The tolerance and threshold (for saving)."""
        return {**super().get_config(), "epsilon_px": self.epsilon_px,
                "min_confidence": self.min_confidence}


@keras.saving.register_keras_serializable(package="kit")
class PoseSubspaceLoss(keras.losses.Loss):
    """Keypoint residuals beyond the subspace's tolerance: ``y_pred`` (B, K, 2) (or with
    confidences, (B, K, 3)), ``y_true``
    (B, 1) 1 on the rows it applies to; the mean of max(0, residual - tolerance) over those
    rows and the body parts ``columns`` (() all)."""

    def __init__(self, mean, components, tolerance_px: float, columns=(), name: str = "pca",
                 **kwargs):
        super().__init__(name=name, **kwargs)
        self.mean = np.asarray(mean, dtype=np.float32)
        self.components = np.asarray(components, dtype=np.float32).reshape(len(self.mean), -1)
        self.tolerance_px = float(tolerance_px)
        self.columns = [int(i) for i in columns]

    def rows(self, points):
        """The subspace's rows of keypoints (B, K, 2), and how many rows each pose gives."""
        points = ops.take(points, self.columns, axis=1) if self.columns else points
        centred = points - ops.mean(points, axis=1, keepdims=True)
        return ops.reshape(centred, (-1, self.mean.shape[0])), 1

    def call(self, y_true, y_pred):
        """The mean hinge of the keypoints' distances from the subspace."""
        return self.hinge(_points_and_confidence(y_pred)[0], ops.reshape(y_true, (-1,)))

    def hinge(self, points, flags):
        """The loss of keypoints (B, K, 2) and the rows' flags (B,)."""
        rows, per_pose = self.rows(points)
        offsets = rows - self.mean
        rest = offsets - ops.matmul(ops.matmul(offsets, self.components), self.components.T)
        distances = _norm(ops.reshape(rest, (-1, self.mean.shape[0] // 2, 2)))
        flags = ops.cast(flags, "float32")
        flags = ops.repeat(flags, per_pose) if per_pose > 1 else flags
        return _masked_mean(self.beyond(distances), flags)

    def beyond(self, distances):
        """The rows' points' distances (R, D / 2) beyond the tolerance (0 within it)."""
        return ops.maximum(distances - self.tolerance_px, 0.0)

    def get_config(self):
        """The subspace (for saving)."""
        return {**super().get_config(), "mean": self.mean.tolist(), "columns": self.columns,
                "components": self.components.tolist(), "tolerance_px": self.tolerance_px}


@keras.saving.register_keras_serializable(package="kit")
class ViewsLoss(PoseSubspaceLoss):
    """Two views of the body parts ``first[i]`` and ``second[i]`` disagreeing: each pair's
    residual from the view subspace (:func:`fit_view_subspace`) beyond its own tolerance
    (``pair_tolerances_px``, the pair's labels' spread, as the ``two_views`` decoder holds
    it), the mean over the flagged rows and pairs; without them (a loss saved before), each
    view's residual beyond ``tolerance_px``, the mean over rows, pairs and views."""

    def __init__(self, mean, components, tolerance_px: float, first, second,  # size: Keras
                 pair_tolerances_px=(), name: str = "views", **kwargs):  # rebuilds from these
        super().__init__(mean, components, tolerance_px, name=name, **kwargs)
        self.columns = []  # its rows are the pairs' (rows)
        self.first, self.second = [int(i) for i in first], [int(i) for i in second]
        self.pair_tolerances_px = [float(t) for t in pair_tolerances_px]
        if self.pair_tolerances_px and len(self.pair_tolerances_px) != len(self.first):
            raise ValueError(f"Need one tolerance per view pair ({len(self.first)}). Received: "
                             f"pair_tolerances_px={self.pair_tolerances_px}.")

    def rows(self, points):
        """(B * P, 4) rows x1, y1, x2, y2, and P rows per pose."""
        both = ops.concatenate([ops.take(points, self.first, axis=1),
                                ops.take(points, self.second, axis=1)], axis=-1)
        return ops.reshape(both, (-1, 4)), len(self.first)

    def beyond(self, distances):
        """With ``pair_tolerances_px``: each row's (B * P, 2 views' distances) pair residual,
        sqrt(d1**2 + d2**2), beyond its pair's tolerance (row b * P + p: pair p's), as the
        ``two_views`` decoder measures and holds it; else each view's beyond the pooled one."""
        if not self.pair_tolerances_px:
            return super().beyond(distances)
        tolerances = np.asarray(self.pair_tolerances_px, np.float32)[None, :]
        residuals = ops.reshape(_norm(distances), (-1, len(self.first)))
        return ops.reshape(ops.maximum(residuals - tolerances, 0.0), (-1, 1))

    def get_config(self):
        """The subspace, pairs and their tolerances (for saving)."""
        config = {**super().get_config(), "first": self.first, "second": self.second,
                  "pair_tolerances_px": self.pair_tolerances_px}
        config.pop("columns")
        return config


def _weights(config) -> dict[str, float]:
    return {"temporal": config.temporal_loss_weight, "pca": config.pca_loss_weight,
            "views": config.views_loss_weight if config.view_pairs else 0.0}


def unlabeled_outputs(config) -> tuple[str, ...]:
    """The unlabeled losses a ``TrainConfig`` turns on (weight > 0, ``unlabeled_pairs`` > 0;
    ``views`` with ``view_pairs``), in :data:`UNLABELED_OUTPUTS` order."""
    weights = _weights(config)
    return tuple(n for n in UNLABELED_OUTPUTS if config.unlabeled_pairs and weights[n] > 0)


def with_unlabeled_losses(model: keras.Model, config, subspaces: dict[str, PoseSubspace],
                          view_pairs: tuple[list[int], list[int]] = ([], []),
                          ) -> tuple[keras.Model, dict, dict]:
    """``model`` plus an output per loss of :func:`unlabeled_outputs` (its soft-argmax
    keypoints (B, K, 2), by the loss's name), and those outputs' Keras ``loss`` and
    ``loss_weights``. ``config``: a ``TrainConfig`` (``targets.stride``, ``temporal_*``,
    the weights); ``subspaces``: {"pca": :func:`fit_pose_subspace`'s, "views":
    :func:`fit_view_subspace`'s} for those losses; ``view_pairs``: the views loss's body-part
    indices (first views, second views)."""
    names = unlabeled_outputs(config)
    points = Keypoints(config.targets.stride, config.targets.locref_stdev, name="keypoints")(
        model.get_layer("part_pred").output, model.get_layer("locref").output)
    extra = [layers.Identity(name=name, dtype="float32")(points) for name in names]
    losses = {"temporal": lambda s: TemporalLoss(config.temporal_epsilon_px,
                                                 config.temporal_min_confidence),
              "pca": lambda s: PoseSubspaceLoss(s.mean, s.components, s.tolerance_px, s.columns),
              "views": lambda s: ViewsLoss(s.mean, s.components, s.tolerance_px, *view_pairs,
                                          s.pair_tolerances_px)}
    weights = _weights(config)
    return (keras.Model(model.input, list(model.outputs) + extra, name=model.name),
            {n: losses[n](subspaces.get(n)) for n in names}, {n: float(weights[n]) for n in names})


def pose_outputs_only(model: keras.Model) -> keras.Model:
    """The same layers with only the pose heads' outputs (what is saved and predicts)."""
    outputs = [out for name, out in zip(model.output_names, model.outputs)
               if name not in UNLABELED_OUTPUTS]
    return keras.Model(model.inputs, outputs, name=model.name)
