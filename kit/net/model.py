"""The pose network: ResNet-50 (last stage atrous, stride 16) + a deconvolution head.

Written as Keras writes ``keras/src/applications/resnet.py``: a straight chain of
named layers. Backbone layer names equal Keras's own ResNet-50, so ImageNet
weights (or any Keras ResNet-50 weights file) copy over by name. Only
``keras.ops``/``keras.layers``: the model runs on TensorFlow, JAX and PyTorch.
"""

from __future__ import annotations

import os
from pathlib import Path

import keras
from keras import layers, ops

IMAGENET_FILE = "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
_BN_EPS = 1.001e-5


@keras.saving.register_keras_serializable(package="kit")
class CaffePreprocess(layers.Layer):
    """RGB pixels 0-255 -> the input Keras's ResNet-50 expects (BGR, ImageNet mean removed)."""

    def call(self, x):
        x = ops.cast(x, self.compute_dtype)
        mean = ops.convert_to_tensor([103.939, 116.779, 123.68], dtype=self.compute_dtype)
        return ops.flip(x, axis=-1) - mean


def _norm(x, name: str, batchnorm: bool):
    """BatchNormalization ``name``, or nothing where it is folded into the convolution."""
    return layers.BatchNormalization(epsilon=_BN_EPS, name=name)(x) if batchnorm else x


def _block(x, filters: int, stride: int, dilation: int, conv_shortcut: bool, name: str,
           batchnorm: bool = True):
    """Keras's ``residual_block_v1``, with an optional dilation of the 3x3 convolution."""
    if conv_shortcut:
        shortcut = layers.Conv2D(4 * filters, 1, strides=stride, name=name + "_0_conv")(x)
        shortcut = _norm(shortcut, name + "_0_bn", batchnorm)
    else:
        shortcut = x
    x = layers.Conv2D(filters, 1, strides=stride, name=name + "_1_conv")(x)
    x = _norm(x, name + "_1_bn", batchnorm)
    x = layers.Activation("relu", name=name + "_1_relu")(x)
    x = layers.Conv2D(
        filters, 3, padding="same", dilation_rate=dilation, name=name + "_2_conv"
    )(x)
    x = _norm(x, name + "_2_bn", batchnorm)
    x = layers.Activation("relu", name=name + "_2_relu")(x)
    x = layers.Conv2D(4 * filters, 1, name=name + "_3_conv")(x)
    x = _norm(x, name + "_3_bn", batchnorm)
    x = layers.Add(name=name + "_add")([shortcut, x])
    return layers.Activation("relu", name=name + "_out")(x)


def _stack(x, filters: int, blocks: int, stride: int, dilation: int, name: str,
           batchnorm: bool = True):
    x = _block(x, filters, stride, dilation, True, name + "_block1", batchnorm)
    for i in range(2, blocks + 1):
        x = _block(x, filters, 1, dilation, False, f"{name}_block{i}", batchnorm)
    return x


def build_model(
    num_bodyparts: int, weights: str | os.PathLike | None = None, name: str = "kit_resnet50",
    batchnorm: bool = True,
) -> keras.Model:
    """Build the pose network for images of any size.

    Args:
        num_bodyparts: K, the number of score maps.
        weights: backbone initialisation: ``"imagenet"`` (Keras's download or its
            cache in ``~/.keras/models``), the path of a Keras ResNet-50 weights
            file (``.h5``, without top), or ``None`` (random, train from scratch).
        name: model name.
        batchnorm: False leaves out the BatchNormalization layers (for
            :func:`fold_batchnorm`: inference only, their affine maps live in the convolutions).

    Returns:
        A model from RGB images (N, H, W, 3), pixels 0-255, to
        ``[part_pred, locref]``: score-map logits (N, h, w, K) and
        location-refinement maps (N, h, w, 2K), with h, w = ``targets.map_shape(H, W)``.
    """
    if num_bodyparts < 1:
        raise ValueError(f"num_bodyparts must be >= 1. Received: {num_bodyparts}.")
    inputs = keras.Input(shape=(None, None, 3), name="image")
    x = CaffePreprocess(name="preprocess")(inputs)
    x = layers.ZeroPadding2D(padding=((3, 3), (3, 3)), name="conv1_pad")(x)
    x = layers.Conv2D(64, 7, strides=2, name="conv1_conv")(x)
    x = _norm(x, "conv1_bn", batchnorm)
    x = layers.Activation("relu", name="conv1_relu")(x)
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)), name="pool1_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    x = _stack(x, 64, 3, stride=1, dilation=1, name="conv2", batchnorm=batchnorm)
    x = _stack(x, 128, 4, stride=2, dilation=1, name="conv3", batchnorm=batchnorm)
    x = _stack(x, 256, 6, stride=2, dilation=1, name="conv4", batchnorm=batchnorm)
    # Atrous last stage (DeepLabCut's output stride 16): stride 1, dilation 2.
    x = _stack(x, 512, 3, stride=1, dilation=2, name="conv5", batchnorm=batchnorm)
    # A prior of ~1% positives on the score maps keeps the first steps from
    # being spent on unlearning "everything is a body part" (focal-loss init).
    part_pred = layers.Conv2DTranspose(
        num_bodyparts, 3, strides=2, padding="same", name="part_pred",
        bias_initializer=keras.initializers.Constant(-4.6), dtype="float32",
    )(x)
    locref = layers.Conv2DTranspose(
        2 * num_bodyparts, 3, strides=2, padding="same", name="locref", dtype="float32",
    )(x)
    model = keras.Model(inputs, [part_pred, locref], name=name)
    if weights is not None:
        load_backbone_weights(model, weights)
    return model


def load_backbone_weights(model: keras.Model, weights: str | os.PathLike) -> int:
    """Copy ResNet-50 weights into ``model``'s backbone by layer name; return layers copied."""
    if weights != "imagenet" and not Path(weights).is_file():
        raise FileNotFoundError(
            f"No weights file at {weights}. Received: weights={weights!r}. Pass the path of a "
            f"Keras ResNet-50 weights file (e.g. {IMAGENET_FILE}), 'imagenet', or weights=None "
            "to train from scratch."
        )
    try:
        source = keras.applications.ResNet50(
            include_top=False, weights=weights, input_shape=(None, None, 3)
        )
    except Exception as e:  # Keras raises a bare Exception when the download fails.
        cache = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models"
        raise RuntimeError(
            f"ResNet-50 weights could not be loaded (weights={weights!r}): {e}\n"
            f"For ImageNet weights without internet access, copy {IMAGENET_FILE} into "
            f"{cache}/ (Keras's cache) or pass its path as weights=...; to train from "
            "scratch pass weights=None."
        ) from e
    copied = 0
    for layer in source.layers:
        if layer.weights:
            model.get_layer(layer.name).set_weights(layer.get_weights())
            copied += 1
    return copied


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


def recalibrate_batchnorm(model: keras.Model, batches) -> int:
    """Set every BatchNormalization's moving statistics to their average over ``batches``.

    During a short training from scratch the weights change faster than the moving
    averages (momentum 0.99) follow, so inference-mode outputs can be far off while
    training-mode outputs are fine ("precise BatchNorm", Wu & Johnson 2021). Each
    batch is run in training mode with the momentum set so the moving statistics
    become the running mean of the batches' statistics. No weight is trained.
    Use batches of the training distribution (augmented crops): statistics of
    other images (e.g. whole frames without the crops' padding) shift the features
    away from what the weights learned (measured: test error 13 -> 35 px).

    Args:
        batches: iterable of float32 images (B, H, W, 3) drawn like the training batches.

    Returns:
        The number of batches used.
    """
    norms = [layer for layer in model.layers if isinstance(layer, layers.BatchNormalization)]
    momenta = [layer.momentum for layer in norms]
    count = 0
    try:
        for count, batch in enumerate(batches, start=1):
            for layer in norms:
                layer.momentum = (count - 1) / count  # the first batch replaces, then averages
            model(batch, training=True)
    finally:
        for layer, momentum in zip(norms, momenta):
            layer.momentum = momentum
    return count


def fold_batchnorm(model: keras.Model) -> keras.Model:
    """The same network for inference with every BatchNormalization folded into the
    convolution before it (w * g / sqrt(v + eps), (b - m) * g / sqrt(v + eps) + beta):
    equal outputs up to float rounding, fewer passes over the feature maps.

    Args:
        model: a model of :func:`build_model` (trained; its moving statistics are used).
    """
    num_bodyparts = model.get_layer("part_pred").filters
    folded = build_model(num_bodyparts, name=model.name, batchnorm=False)
    for layer in folded.layers:
        if not layer.weights:
            continue
        weights = model.get_layer(layer.name).get_weights()
        if layer.name.endswith("_conv"):
            norm = model.get_layer(layer.name[: -len("_conv")] + "_bn")
            gamma, beta, mean, var = (w.astype("float64") for w in norm.get_weights())
            scale = gamma / (var + norm.epsilon) ** 0.5
            kernel, bias = weights
            weights = [(kernel * scale).astype(kernel.dtype),
                       ((bias - mean) * scale + beta).astype(bias.dtype)]
        layer.set_weights(weights)
    return folded
