"""MobileNetV2 (``keras.applications.MobileNetV2``) at width 1.0, 0.5 and 0.35, DeepLabCut's
``mobilenet_v2_1.0``, ``mobilenet_v2_0.5`` and ``mobilenet_v2_0.35``.

Keras's own network, built on the preprocessed tensor so its named layers sit in kit's model
(ImageNet weights copy over by name). Keras's MobileNetV2 takes no dilation, so its last
stage keeps stride 32 and the heads enlarge its features 4x (``kit.net.heads``).
"""

from __future__ import annotations

import functools

import keras
from keras import layers

from kit.net.backbones.base import Backbone

WEIGHTS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/"


def mobilenet_v2(x, alpha: float):
    """Preprocessed images (N, H, W, 3), H and W multiples of 32 -> features
    (N, H / 32, W / 32, 1280)."""
    return keras.applications.MobileNetV2(include_top=False, weights=None, alpha=alpha,
                                          input_tensor=x).output


def _keras_mobilenet_v2(path: str, alpha: float) -> keras.Model:
    return keras.applications.MobileNetV2(include_top=False, weights=path, alpha=alpha,
                                          input_shape=(None, None, 3))


def _preprocess() -> layers.Layer:
    # keras.applications.mobilenet_v2.preprocess_input ("tf" mode): 0-255 -> -1..1.
    return layers.Rescaling(1 / 127.5, offset=-1.0, name="preprocess")


def _mobilenet_v2(name: str, alpha: float) -> Backbone:
    # Keras's cache file name for 224-pixel weights without the classifier.
    weights_file = f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{alpha}_224_no_top.h5"
    return Backbone(
        name=name, build=functools.partial(mobilenet_v2, alpha=alpha), output_stride=32,
        preprocess=_preprocess, weights_file=weights_file,
        weights_url=WEIGHTS_URL + weights_file,  # Keras gives no hash for these
        weights_source=functools.partial(_keras_mobilenet_v2, alpha=alpha),
    )


MOBILENET_V2_1_0 = _mobilenet_v2("mobilenet_v2_1.0", 1.0)
MOBILENET_V2_0_5 = _mobilenet_v2("mobilenet_v2_0.5", 0.5)
MOBILENET_V2_0_35 = _mobilenet_v2("mobilenet_v2_0.35", 0.35)
