"""What a backbone declares: :class:`Backbone` (kept apart from the registry so that
backbone modules can import it without importing each other)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import keras


@dataclass(frozen=True)
class Backbone:
    """A feature extractor of the pose network, named by DeepLabCut's ``net_type``.

    Attributes:
        name: the ``net_type``, e.g. ``"resnet_50"``.
        build: preprocessed images (N, H, W, 3) -> features (N, H / s, W / s, C) with s =
            ``output_stride``, for H and W multiples of s (training crops are; the
            predictors pad other images to them, :func:`kit.net.images.pad_to_stride`): a
            straight chain of named Keras layers.
        output_stride: s, input pixels per feature cell; the heads bring it to 8.
        preprocess: makes the first layer (named ``"preprocess"``): RGB pixels 0-255 ->
            what ``build`` expects.
        weights_file: file name of the ImageNet weights in Keras's cache
            (``~/.keras/models/``); "" if the backbone has none.
        weights_url: where Keras downloads ``weights_file`` from.
        weights_hash: the file's hash (md5 or sha256), checked by ``keras.utils.get_file``.
        weights_source: path of a weights file -> a Keras model holding those weights under
            ``build``'s layer names (they are copied over by name).
    """

    name: str
    build: Callable[[keras.KerasTensor], keras.KerasTensor]
    output_stride: int
    preprocess: Callable[[], keras.layers.Layer]
    weights_file: str = ""
    weights_url: str = ""
    weights_hash: str | None = None
    weights_source: Callable[[str], keras.Model] | None = None

    def __post_init__(self):
        if self.output_stride < 8 or self.output_stride % 8:
            raise ValueError(
                f"output_stride must be a multiple of 8 (the heads' stride). Received: "
                f"{self.name}: output_stride={self.output_stride}."
            )


def is_pretrained_file(path: str) -> bool:
    """Whether ``path`` names a backbone pretrained on a project's frames, as
    :func:`kit.net.pretrain.pretrain` writes them (Keras's ``.weights.h5``)."""
    return str(path).endswith(".weights.h5")
