"""ResNet-50 and ResNet-101 with an atrous last stage (stride 16), DeepLabCut's
``resnet_50`` and ``resnet_101``.

Written as Keras writes ``keras/src/applications/resnet.py``: a straight chain of named
layers, named as Keras's own ResNet-50/101, so ImageNet weights (or any Keras ResNet
weights file) copy over by name. Only ``keras.layers``/``keras.ops``.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from kit.net.backbones.base import Backbone

WEIGHTS_FILE = "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
WEIGHTS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/resnet/" + WEIGHTS_FILE
WEIGHTS_HASH = "4d473c1dd8becc155b73f8504c6f6626"  # keras.applications.resnet.WEIGHTS_HASHES
WEIGHTS_FILE_101 = "resnet101_weights_tf_dim_ordering_tf_kernels_notop.h5"
WEIGHTS_HASH_101 = "88cf7a10940856eca736dc7b7e228a21"
_BN_EPS = 1.001e-5


@keras.saving.register_keras_serializable(package="kit")
class CaffePreprocess(layers.Layer):
    """RGB pixels 0-255 -> the input Keras's ResNet-50 expects (BGR, ImageNet mean removed)."""

    def call(self, x):
        """RGB pixels 0-255 -> BGR minus ImageNet's channel means (Caffe's preprocessing)."""
        x = ops.cast(x, self.compute_dtype)
        mean = ops.convert_to_tensor([103.939, 116.779, 123.68], dtype=self.compute_dtype)
        return ops.flip(x, axis=-1) - mean


# Keras's residual_block_v1 plus a dilation: its arguments are the block's shape, as in
# keras/src/applications/resnet.py (six, read at the call sites below).
def _block(x, filters: int, stride: int, dilation: int, conv_shortcut: bool, name: str):
    """Keras's ``residual_block_v1``, with an optional dilation of the 3x3 convolution."""
    if conv_shortcut:
        shortcut = layers.Conv2D(4 * filters, 1, strides=stride, name=name + "_0_conv")(x)
        shortcut = layers.BatchNormalization(epsilon=_BN_EPS, name=name + "_0_bn")(shortcut)
    else:
        shortcut = x
    x = layers.Conv2D(filters, 1, strides=stride, name=name + "_1_conv")(x)
    x = layers.BatchNormalization(epsilon=_BN_EPS, name=name + "_1_bn")(x)
    x = layers.Activation("relu", name=name + "_1_relu")(x)
    x = layers.Conv2D(
        filters, 3, padding="same", dilation_rate=dilation, name=name + "_2_conv"
    )(x)
    x = layers.BatchNormalization(epsilon=_BN_EPS, name=name + "_2_bn")(x)
    x = layers.Activation("relu", name=name + "_2_relu")(x)
    x = layers.Conv2D(4 * filters, 1, name=name + "_3_conv")(x)
    x = layers.BatchNormalization(epsilon=_BN_EPS, name=name + "_3_bn")(x)
    x = layers.Add(name=name + "_add")([shortcut, x])
    return layers.Activation("relu", name=name + "_out")(x)


def _stack(x, filters: int, blocks: int, stride: int, dilation: int, name: str):
    x = _block(x, filters, stride, dilation, True, name + "_block1")
    for i in range(2, blocks + 1):
        x = _block(x, filters, 1, dilation, False, f"{name}_block{i}")
    return x


def resnet_50(x):
    """Preprocessed images (N, H, W, 3) -> features (N, ceil(H / 16), ceil(W / 16), 2048)."""
    return _resnet(x, (3, 4, 6, 3))


def resnet_101(x):
    """Preprocessed images (N, H, W, 3) -> features (N, ceil(H / 16), ceil(W / 16), 2048)."""
    return _resnet(x, (3, 4, 23, 3))


def _resnet(x, blocks: tuple[int, int, int, int]):
    x = layers.ZeroPadding2D(padding=((3, 3), (3, 3)), name="conv1_pad")(x)
    x = layers.Conv2D(64, 7, strides=2, name="conv1_conv")(x)
    x = layers.BatchNormalization(epsilon=_BN_EPS, name="conv1_bn")(x)
    x = layers.Activation("relu", name="conv1_relu")(x)
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)), name="pool1_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    x = _stack(x, 64, blocks[0], stride=1, dilation=1, name="conv2")
    x = _stack(x, 128, blocks[1], stride=2, dilation=1, name="conv3")
    x = _stack(x, 256, blocks[2], stride=2, dilation=1, name="conv4")
    # Atrous last stage (DeepLabCut's output stride 16): stride 1, dilation 2.
    return _stack(x, 512, blocks[3], stride=1, dilation=2, name="conv5")


def _keras_resnet50(path: str) -> keras.Model:
    return keras.applications.ResNet50(include_top=False, weights=path, input_shape=(None, None, 3))


def _keras_resnet101(path: str) -> keras.Model:
    return keras.applications.ResNet101(include_top=False, weights=path,
                                        input_shape=(None, None, 3))


RESNET_50 = Backbone(
    name="resnet_50", build=resnet_50, output_stride=16,
    preprocess=lambda: CaffePreprocess(name="preprocess"),
    weights_file=WEIGHTS_FILE, weights_url=WEIGHTS_URL, weights_hash=WEIGHTS_HASH,
    weights_source=_keras_resnet50,
)
RESNET_101 = Backbone(
    name="resnet_101", build=resnet_101, output_stride=16,
    preprocess=lambda: CaffePreprocess(name="preprocess"),
    weights_file=WEIGHTS_FILE_101,
    weights_url=WEIGHTS_URL.replace(WEIGHTS_FILE, WEIGHTS_FILE_101),
    weights_hash=WEIGHTS_HASH_101, weights_source=_keras_resnet101,
)
