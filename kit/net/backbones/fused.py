"""MobileNetV2 with its stride-8 features added back, ``mobilenet_v2_1.0_fpn``: maps at
stride 8 from a network whose last features are 32 pixels square.

A mobile backbone's last stage sees the whole animal at stride 32; the heads of
:mod:`kit.net.heads` then enlarge those features 4x, and location refinement has to place a
point within an 8-pixel cell from features 32 pixels apart. This backbone adds one step of
a feature pyramid (Lin et al. 2017; DeepLabCut's multi-scale DLCRNet fuses its stride-8
features the same way): the last features, projected to ``FUSED_CHANNELS`` and enlarged 4x by
a transposed convolution, plus the stride-8 block's (``block_5_add``) projected alike, then
a ReLU. Its output stride is 8, so the heads are one 3x3 convolution on the fused features.

The MobileNetV2 layers keep Keras's names (ImageNet weights copy over by name; the fused
layers, ``fpn_*``, start from random weights). Images of any multiple of 8 pixels: Keras's
stride-32 features of such an image cover ``floor(size / 32)`` cells, so once enlarged they
are extended by their last row and column and cut to the stride-8 grid
(:class:`MatchCells`).
"""

from __future__ import annotations

import dataclasses
import functools

import keras
from keras import layers, ops

from kit.net.backbones.mobilenet import MOBILENET_V2_1_0

FUSED_CHANNELS = 128
LATERAL_LAYER = "block_5_add"  # MobileNetV2's last stride-8 features


@keras.saving.register_keras_serializable(package="kit")
class MatchCells(layers.Layer):
    """``(coarse, fine)`` -> ``coarse`` extended by its last row and column, three times
    (an image of a multiple of 8 pixels has up to three stride-8 cells beyond its last
    stride-32 cell), and cut to ``fine``'s rows and columns (the top-left cells stay where
    they are)."""

    def call(self, coarse, fine):
        """Coarse features enlarged (N, h', w', C) -> (N, h, w, C) with fine's h, w."""
        coarse = ops.concatenate([coarse] + [coarse[:, -1:]] * 3, axis=1)
        coarse = ops.concatenate([coarse] + [coarse[:, :, -1:]] * 3, axis=2)
        shape = ops.shape(fine)
        return coarse[:, :shape[1], :shape[2]]

    def compute_output_shape(self, coarse_shape, fine_shape):
        """Coarse's batch and channels, fine's rows and columns."""
        return (coarse_shape[0], fine_shape[1], fine_shape[2], coarse_shape[3])


def mobilenet_v2_fused(x, alpha: float):
    """Preprocessed images (N, H, W, 3), H and W multiples of 8 -> fused features
    (N, H / 8, W / 8, ``FUSED_CHANNELS``)."""
    network = keras.applications.MobileNetV2(include_top=False, weights=None, alpha=alpha,
                                             input_tensor=x)
    fine = network.get_layer(LATERAL_LAYER).output
    top = layers.Conv2D(FUSED_CHANNELS, 1, name="fpn_top")(network.output)
    enlarged = layers.Conv2DTranspose(FUSED_CHANNELS, 8, strides=4, padding="same",
                                      name="fpn_up")(top)
    enlarged = MatchCells(name="fpn_match")(enlarged, fine)
    lateral = layers.Conv2D(FUSED_CHANNELS, 1, name="fpn_lateral")(fine)
    return layers.ReLU(name="fpn_relu")(layers.Add(name="fpn_add")([enlarged, lateral]))


# MobileNetV2 1.0's declaration (preprocessing, ImageNet weights) with the fused builder
MOBILENET_V2_1_0_FPN = dataclasses.replace(
    MOBILENET_V2_1_0, name="mobilenet_v2_1.0_fpn", output_stride=8,
    build=functools.partial(mobilenet_v2_fused, alpha=1.0))
