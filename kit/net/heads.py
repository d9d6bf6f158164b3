"""The heads of the pose network: score maps and location refinement, on any backbone.

Each head is one transposed convolution from the backbone's features (stride 16 for the
atrous ResNets: 2x; stride 32 for MobileNetV2 and EfficientNet: 4x) to the maps' stride
(8, ``kit.net.targets.STRIDE``), as DeepLabCut's. Later
heads (part-affinity fields, identities) go here the same way.
"""

from __future__ import annotations

import keras
from keras import layers

from kit.net.targets import STRIDE

HEADS = ("part_pred", "locref")  # the model's outputs, in this order


def upsampling_factor(backbone_stride: int, stride: int = STRIDE) -> int:
    """How much the heads enlarge the features: ``backbone_stride / stride``."""
    if backbone_stride < stride or backbone_stride % stride:
        raise ValueError(
            f"The backbone's output stride must be a multiple of the maps' stride {stride}. "
            f"Received: backbone_stride={backbone_stride}."
        )
    return backbone_stride // stride


def _deconv(features, filters: int, factor: int, name: str, **kwargs):
    # A 3x3 kernel covers stride 1 and 2 (today's head); larger strides need a kernel of at
    # least the stride, or cells are left out. float32: stable losses under mixed precision.
    return layers.Conv2DTranspose(
        filters, 3 if factor <= 2 else 2 * factor, strides=factor, padding="same", name=name,
        dtype="float32", **kwargs,
    )(features)


def pose_heads(features, num_bodyparts: int, backbone_stride: int, stride: int = STRIDE):
    """Score-map logits (N, h, w, K) ``part_pred`` and location refinement (N, h, w, 2K)
    ``locref`` from a backbone's features, at ``stride`` input pixels per cell."""
    if num_bodyparts < 1:
        raise ValueError(f"num_bodyparts must be >= 1. Received: {num_bodyparts}.")
    factor = upsampling_factor(backbone_stride, stride)
    # A prior of ~1% positives on the score maps keeps the first steps from being spent
    # on unlearning "everything is a body part" (focal-loss init).
    part_pred = _deconv(features, num_bodyparts, factor, "part_pred",
                        bias_initializer=keras.initializers.Constant(-4.6))
    locref = _deconv(features, 2 * num_bodyparts, factor, "locref")
    return part_pred, locref
