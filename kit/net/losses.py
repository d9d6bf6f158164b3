"""The heads' losses (DeepLabCut's), in ``keras.ops``: every Keras backend.

Each ``y_true`` packs (targets, weights) on the channel axis, as :mod:`kit.net.data` makes
them; :data:`kit.net.heads.HEADS_BY_NAME` says which head trains with which.
"""

from __future__ import annotations

import keras
from keras import ops


def _sum_by_nonzero_weights(loss, weights):
    """TF1's SUM_BY_NONZERO_WEIGHTS reduction, which DeepLabCut's losses use."""
    count = ops.sum(ops.cast(weights > 0, "float32"))
    return ops.sum(loss * weights) / ops.maximum(count, 1.0)


@keras.saving.register_keras_serializable(package="kit")
def scoremap_loss(y_true, y_pred):
    """Weighted sigmoid cross-entropy. ``y_true`` packs (targets, weights) on the channel axis."""
    k = ops.shape(y_pred)[-1]
    target, weights = y_true[..., :k], y_true[..., k:]
    z = ops.cast(y_pred, "float32")
    bce = ops.maximum(z, 0.0) - z * target + ops.log1p(ops.exp(-ops.abs(z)))
    return _sum_by_nonzero_weights(bce, weights)


@keras.saving.register_keras_serializable(package="kit")
def locref_loss(y_true, y_pred):
    """Huber loss (delta 1) inside the disks. ``y_true`` packs (targets, weights)."""
    c = ops.shape(y_pred)[-1]
    target, weights = y_true[..., :c], y_true[..., c:]
    diff = ops.abs(ops.cast(y_pred, "float32") - target)
    huber = ops.where(diff <= 1.0, 0.5 * ops.square(diff), diff - 0.5)
    return _sum_by_nonzero_weights(huber, weights)


@keras.saving.register_keras_serializable(package="kit")
def paf_loss(y_true, y_pred):
    """Part-affinity fields: Huber loss (delta 1), as DeepLabCut's ``pairwise_huber_loss``
    (its default), weighted and reduced as :func:`locref_loss`. ``y_true`` packs (targets,
    weights); the training weighs it by ``pairwise_loss_weight``."""
    return locref_loss(y_true, y_pred)


@keras.saving.register_keras_serializable(package="kit")
def identity_loss(y_true, y_pred):
    """Identity maps: weighted sigmoid cross-entropy, as :func:`scoremap_loss` (DeepLabCut
    trains them as extra score-map channels)."""
    return scoremap_loss(y_true, y_pred)
