"""The heads of the pose network: score maps and location refinement, on any backbone.

Each head is one transposed convolution from the backbone's features (stride 16 for the
atrous ResNets: 2x; stride 32 for MobileNetV2 and EfficientNet: 4x) to the maps' stride
(8, ``kit.net.targets.STRIDE``), as DeepLabCut's. A multi-animal network adds, the same
way, part-affinity fields ``paf`` (2 channels per edge of its graph) and optionally
``identity`` (one channel per animal); see :mod:`kit.net.ma_targets` for what they hold.
"""

from __future__ import annotations

import keras
from keras import layers

from kit.net.targets import STRIDE

HEADS = ("part_pred", "locref")  # the model's outputs, in this order
PAF, IDENTITY = "paf", "identity"  # a multi-animal model's further outputs, in this order


def head_names(num_limbs: int = 0, num_identities: int = 0) -> list[str]:
    """The model's outputs in order: ``part_pred``, ``locref``, then ``paf`` if it has
    part-affinity fields (``num_limbs`` edges) and ``identity`` if ``num_identities``."""
    return [*HEADS, *([PAF] if num_limbs else []), *([IDENTITY] if num_identities else [])]


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


def pose_heads(features, num_bodyparts: int, backbone_stride: int, stride: int = STRIDE,
               num_limbs: int = 0, num_identities: int = 0) -> tuple:
    """The heads on a backbone's features, at ``stride`` input pixels per cell, in the order
    of :func:`head_names`: score-map logits (N, h, w, K) ``part_pred``, location refinement
    (N, h, w, 2K) ``locref``; with ``num_limbs``, part-affinity fields (N, h, w, 2E) ``paf``;
    with ``num_identities``, identity logits (N, h, w, I) ``identity``."""
    if num_bodyparts < 1 or num_limbs < 0 or num_identities < 0:
        raise ValueError(f"num_bodyparts must be >= 1, num_limbs and num_identities >= 0. "
                         f"Received: {num_bodyparts}, {num_limbs}, {num_identities}.")
    factor = upsampling_factor(backbone_stride, stride)
    # A prior of ~1% positives on the score maps keeps the first steps from being spent
    # on unlearning "everything is a body part" (focal-loss init).
    part_pred = _deconv(features, num_bodyparts, factor, "part_pred",
                        bias_initializer=keras.initializers.Constant(-4.6))
    locref = _deconv(features, 2 * num_bodyparts, factor, "locref")
    heads = [part_pred, locref]
    if num_limbs:
        heads.append(_deconv(features, 2 * num_limbs, factor, PAF))
    if num_identities:
        heads.append(_deconv(features, num_identities, factor, IDENTITY,
                             bias_initializer=keras.initializers.Constant(-4.6)))
    return tuple(heads)
