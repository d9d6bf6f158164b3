"""The pose network: a backbone (:mod:`kit.net.backbones`, by ``net_type``) + heads
(:mod:`kit.net.heads`), its initial weights, losses, and BatchNorm handling.

Only ``keras.ops``/``keras.layers``: the model runs on TensorFlow, JAX and PyTorch.
"""

from __future__ import annotations

import os
from pathlib import Path

import keras
import numpy as np
from keras import layers

from kit.net.backbones import Backbone, get_backbone  # registers kit's layers for load_model
from kit.net.heads import pose_heads
from kit.net.losses import identity_loss, locref_loss, paf_loss, scoremap_loss
from kit.net.pretrain import is_pretrained_file, pretrained_source

__all__ = ["build_model", "fold_batchnorm", "identity_loss", "locref_loss", "paf_loss",
           "recalibrate_batchnorm", "resolve_weights", "scoremap_loss"]  # losses: kit.net.losses


def build_model(num_bodyparts: int, weights: str | os.PathLike | None = None,
                name: str | None = None, net_type: str = "resnet_50", num_limbs: int = 0,
                num_identities: int = 0) -> keras.Model:
    """Build the pose network for images of any size.

    Args:
        num_bodyparts: K, the number of score maps.
        weights: backbone initialisation: ``"imagenet"`` (Keras's cache in
            ``~/.keras/models``, downloaded there if missing), the path of a weights file
            of the backbone (for ResNet-50 a Keras ``.h5``, without top), or ``None``/""
            (random, train from scratch).
        name: model name; default ``kit_<net_type without underscores>`` ("kit_resnet50").
        net_type: the backbone, a name of :data:`kit.net.backbones.BACKBONES`.
        num_limbs: E, edges of a multi-animal network's graph (0: single-animal network).
        num_identities: I, identity channels of a multi-animal network (0: none).

    Returns:
        A model from RGB images (N, H, W, 3), pixels 0-255, to
        ``[part_pred, locref]``: score-map logits (N, h, w, K) and location-refinement
        maps (N, h, w, 2K), with h, w = ``targets.map_shape(H, W, backbone.output_stride)``;
        then, with ``num_limbs``, part-affinity fields ``paf`` (N, h, w, 2E) and, with
        ``num_identities``, identity logits ``identity`` (N, h, w, I)
        (:func:`kit.net.heads.head_names`; channels as :mod:`kit.net.ma_targets`).
    """
    backbone = get_backbone(net_type)
    inputs = keras.Input(shape=(None, None, 3), name="image")
    features = backbone.build(backbone.preprocess()(inputs))
    heads = pose_heads(features, num_bodyparts, backbone.output_stride,
                       num_limbs=num_limbs, num_identities=num_identities)
    default_name = "kit_" + "".join(c for c in net_type if c.isalnum())  # kit_mobilenetv2035
    # The outputs in head order, each named by its head (output_names): losses and targets
    # go by those names. (A dict of outputs would come out sorted by name, in the
    # exported ONNX file too, and so swap what runtimes read by position.)
    model = keras.Model(inputs, list(heads.values()), name=name or default_name)
    path = resolve_weights(weights, net_type)
    if path is not None:
        load_backbone_weights(model, path, backbone)
    return model


def keras_cache_dir() -> Path:
    """Where Keras keeps downloaded weights: ``$KERAS_HOME/models``, else ``~/.keras/models``."""
    return Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras") / "models"


def resolve_weights(weights: str | os.PathLike | None, net_type: str = "resnet_50") -> str | None:
    """The weights file a training starts from, checked before any work is done.

    ``"imagenet"`` becomes the backbone's file in Keras's cache (downloaded the normal Keras
    way, ``keras.utils.get_file``, if missing); a path must exist; ``None`` or "" stays None.
    Raises FileNotFoundError / RuntimeError naming the file, the cache folder and the fix.
    """
    if weights is None or weights == "":
        return None
    backbone = get_backbone(net_type)
    if weights != "imagenet":
        if not Path(weights).is_file():
            raise FileNotFoundError(
                f"No weights file at {weights}. Received: weights={weights!r}. Pass the path of "
                f"a weights file of {net_type} (e.g. {backbone.weights_file or 'a .h5'}) or of a "
                "kit model (.keras), 'imagenet', or train from scratch with weights=\"\" "
                "(notebooks) / weights=None (TrainConfig)."
            )
        return str(weights)
    if not backbone.weights_file:
        raise ValueError(f"net_type {net_type!r} has no ImageNet weights. Received: "
                         "weights='imagenet'. Pass a weights file, or weights=None.")
    cache = keras_cache_dir()
    try:
        return keras.utils.get_file(backbone.weights_file, backbone.weights_url,
                                    cache_dir=str(cache.parent), cache_subdir=cache.name,
                                    file_hash=backbone.weights_hash)
    except Exception as e:  # Keras raises a bare Exception when the download fails.
        raise RuntimeError(
            f"The ImageNet weights of {net_type} could not be had: {backbone.weights_file} is "
            f"not in Keras's cache folder {cache}/ and downloading it failed ({e}). "
            f"Without internet access, copy {backbone.weights_file} into {cache}/ or pass its "
            "path as weights=...; or train from scratch with weights=\"\" (notebooks) / "
            "weights=None (TrainConfig)."
        ) from e


def load_backbone_weights(model: keras.Model, path: str | os.PathLike,
                          backbone: Backbone) -> int:
    """Copy the weights of the file at ``path`` into ``model``'s backbone by layer name;
    return the number of layers copied."""
    if is_pretrained_file(path):  # a backbone pretrained on the project's frames
        source = pretrained_source(path, backbone.name)
    elif backbone.weights_source is None:
        raise ValueError(f"net_type {backbone.name!r} declares no weights_source, so it cannot "
                         f"load {path}. Train it from scratch (weights=None).")
    else:
        source = backbone.weights_source(str(path))
    copied = 0
    for layer in source.layers:
        # A Normalization is preprocessing the backbone fixes itself (EfficientNet's:
        # ImageNet's statistics), not something a weights file decides.
        if layer.weights and not isinstance(layer, layers.Normalization):
            model.get_layer(layer.name).set_weights(layer.get_weights())
            copied += 1
    return copied


def _batchnorms(model: keras.Model) -> list:
    return [layer for layer in model.layers if isinstance(layer, layers.BatchNormalization)]


class BatchStatisticsReader:
    """``reader(images)``: ``model``'s outputs (a list of arrays) as a training step computes
    them, BatchNorm with the batch's own statistics (early in a training from scratch the
    moving statistics are far off, :func:`recalibrate_batchnorm`), leaving the moving
    statistics as they are; compiled once (``predict_on_batch`` of a model that calls
    ``model`` in training mode), not eager. The weights are ``model``'s own, as they stand."""

    def __init__(self, model: keras.Model):
        self.model = model
        self.reader = _TrainingMode(model)

    def __call__(self, images: np.ndarray) -> list[np.ndarray]:
        """The outputs of ``images`` (B, H, W, 3) float32."""
        outputs = self.reader.predict_on_batch(images)
        return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


class _TrainingMode(keras.Model):
    """Calls ``inner`` in training mode with every BatchNorm's momentum 1 (moving statistics
    kept: ``moving * 1 + batch * 0``; a compiled call keeps the momentum it was traced with)."""

    def __init__(self, inner: keras.Model):
        super().__init__(name=f"{inner.name}_batch_statistics")
        self.inner = inner

    def call(self, images, training=None):
        norms = _batchnorms(self.inner)
        momenta = [layer.momentum for layer in norms]
        try:
            for layer in norms:
                layer.momentum = 1.0
            return self.inner(images, training=True)
        finally:
            for layer, momentum in zip(norms, momenta):
                layer.momentum = momentum


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
        batches (Iterable[np.ndarray]): iterable of float32 images (B, H, W, 3) drawn like the training batches.

    Returns:
        The number of batches used.
    """
    norms = _batchnorms(model)
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


@keras.saving.register_keras_serializable(package="kit")
class FoldedBatchNorm(layers.Layer):
    """What a BatchNormalization becomes once folded into its convolution: nothing.

    (``layers.Identity`` would do, but it does not take the ``training``/``mask`` arguments
    the normalization was called with in the graph being cloned.)
    """

    def call(self, x, training=None, mask=None):
        """The identity: the BatchNorm is folded into the convolution before it."""
        return x


FOLDABLE = (layers.Conv2D, layers.DepthwiseConv2D)  # exact types: subclasses may differ


def conv_batchnorm_pairs(model: keras.Model) -> dict[str, layers.BatchNormalization]:
    """{convolution name: the BatchNormalization it alone feeds}, found in the graph
    (Conv2D and DepthwiseConv2D, as MobileNetV2 and EfficientNet have)."""
    pairs = {}
    for norm in model.layers:
        if (not isinstance(norm, layers.BatchNormalization) or len(norm._inbound_nodes) != 1
                or not (norm.center and norm.scale) or norm.axis not in (-1, 3)):
            continue
        conv = norm.input._keras_history.operation
        if (type(conv) in FOLDABLE and len(conv._inbound_nodes) == 1
                and len(conv._outbound_nodes) == 1):
            pairs[conv.name] = norm
    return pairs


def fold_batchnorm(model: keras.Model) -> keras.Model:
    """The same network for inference with every BatchNormalization that follows a
    convolution folded into it (w * g / sqrt(v + eps), (b - m) * g / sqrt(v + eps) + beta):
    equal outputs up to float rounding, fewer passes over the feature maps.

    Any backbone: the Conv2D -> BatchNormalization pairs are found in the graph
    (:func:`conv_batchnorm_pairs`); each folded normalization becomes a :class:`FoldedBatchNorm`
    (a no-op) of the same name, and its convolution gets a bias. A fixed Normalization
    (EfficientNet's input) becomes the same arithmetic with constants (:func:`_as_rescaling`).

    Args:
        model: a trained model (its moving statistics are used); it is not changed.
    """
    pairs = conv_batchnorm_pairs(model)
    folded_norms = {norm.name for norm in pairs.values()}

    def clone(layer):
        if layer.name in folded_norms:
            return FoldedBatchNorm(name=layer.name)
        if isinstance(layer, layers.Normalization) and not layer.invert:
            return _as_rescaling(layer)
        config = layer.get_config()
        if layer.name in pairs:
            config["use_bias"] = True
        return layer.__class__.from_config(config)

    folded = keras.models.clone_model(model, clone_function=clone)
    for layer in folded.layers:
        if not layer.weights:
            continue
        weights = model.get_layer(layer.name).get_weights()
        if layer.name in pairs:
            weights = _folded(weights, pairs[layer.name],
                              isinstance(layer, layers.DepthwiseConv2D))
        layer.set_weights(weights)
    return folded


def _as_rescaling(norm: layers.Normalization) -> layers.Rescaling:
    """A fixed Normalization ((x - mean) / max(sqrt(var), eps), EfficientNet's input) as the
    same arithmetic with constants, x * scale + offset: Keras's Normalization computes with
    tensors it copies from its weights, which an ONNX export turns into missing inputs."""
    mean = keras.ops.convert_to_numpy(norm.mean).astype("float64")
    std = np.maximum(np.sqrt(keras.ops.convert_to_numpy(norm.variance).astype("float64")),
                     keras.backend.epsilon())
    return layers.Rescaling(scale=(1 / std).astype("float32"),
                            offset=(-mean / std).astype("float32"), name=norm.name)


def _folded(conv_weights: list, norm: layers.BatchNormalization, depthwise: bool) -> list:
    """A convolution's [kernel, bias] with ``norm`` folded in (computed in float64).

    Conv2D kernels are (kh, kw, in, out); DepthwiseConv2D kernels (kh, kw, in, multiplier),
    whose output channel ``i * multiplier + m`` is input ``i``'s m-th filter.
    """
    kernel = conv_weights[0]
    bias = conv_weights[1] if len(conv_weights) > 1 else kernel.dtype.type(0)
    gamma, beta, mean, var = (w.astype("float64") for w in norm.get_weights())
    scale = gamma / (var + norm.epsilon) ** 0.5
    if depthwise:
        scale_kernel = scale.reshape(kernel.shape[2:])  # (in, multiplier), output order
    else:
        scale_kernel = scale
    return [(kernel * scale_kernel).astype(kernel.dtype),
            ((bias - mean) * scale + beta).astype(kernel.dtype)]
