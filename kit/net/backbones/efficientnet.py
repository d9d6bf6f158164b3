"""EfficientNet-B0 to B3 (``keras.applications.EfficientNetB0`` ...), DeepLabCut's
``efficientnet-b0`` ... ``efficientnet-b3``.

Keras's own network, built on the input tensor so its named layers sit in kit's model
(ImageNet weights copy over by name). Keras's EfficientNet holds its preprocessing itself
(``keras.applications.efficientnet.preprocess_input`` is the identity): a Rescaling
(1/255) and a Normalization, which kit sets to ImageNet's mean and standard deviation at
build time instead of taking them from a weights file (Keras's files hold the deviation
where the variance belongs, keras issue tensorflow/tensorflow#49930). Keras's EfficientNet
takes no dilation, so its last stage keeps stride 32 and the heads enlarge its features 4x.
"""

from __future__ import annotations

import functools

import keras
import numpy as np
from keras import layers

from kit.net.backbones.base import Backbone

WEIGHTS_URL = "https://storage.googleapis.com/keras-applications/"
# keras.applications.efficientnet.WEIGHTS_HASHES, the files without the classifier.
WEIGHTS_HASHES = {
    "b0": "50bc09e76180e00e4465e1a485ddc09d",
    "b1": "74c4e6b3e1f6a1eea24c589628592432",
    "b2": "111f8e2ac8aa800a7a99e3239f7bfb39",
    "b3": "af6d107764bb5b1abb91932881670226",
}
APPLICATIONS = {"b0": "EfficientNetB0", "b1": "EfficientNetB1", "b2": "EfficientNetB2",
                "b3": "EfficientNetB3"}
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # RGB, of pixels / 255
IMAGENET_STD = (0.229, 0.224, 0.225)


def efficientnet(x, variant: str):
    """Images (N, H, W, 3), RGB 0-255, H and W multiples of 32 -> features
    (N, H / 32, W / 32, C): C = 1280 (b0, b1), 1408 (b2), 1536 (b3)."""
    application = getattr(keras.applications, APPLICATIONS[variant])
    model = application(include_top=False, weights=None, input_tensor=x)
    norm = next(layer for layer in model.layers if isinstance(layer, layers.Normalization))
    mean, variance, count = norm.get_weights()
    norm.set_weights([np.reshape(IMAGENET_MEAN, mean.shape).astype(mean.dtype),
                      np.reshape(np.square(IMAGENET_STD), variance.shape).astype(variance.dtype),
                      count])
    norm.finalize_state()  # a Normalization computes with what this copies from its weights
    return model.output


def _keras_efficientnet(path: str, variant: str) -> keras.Model:
    application = getattr(keras.applications, APPLICATIONS[variant])
    return application(include_top=False, weights=path, input_shape=(None, None, 3))


def _efficientnet(variant: str) -> Backbone:
    weights_file = f"efficientnet{variant}_notop.h5"  # Keras's cache file name
    return Backbone(
        name=f"efficientnet-{variant}", build=functools.partial(efficientnet, variant=variant),
        output_stride=32, preprocess=lambda: layers.Identity(name="preprocess"),
        weights_file=weights_file, weights_url=WEIGHTS_URL + weights_file,
        weights_hash=WEIGHTS_HASHES[variant],
        weights_source=functools.partial(_keras_efficientnet, variant=variant),
    )


EFFICIENTNET_B0 = _efficientnet("b0")
EFFICIENTNET_B1 = _efficientnet("b1")
EFFICIENTNET_B2 = _efficientnet("b2")
EFFICIENTNET_B3 = _efficientnet("b3")
