"""Images resized and padded as the network saw them in training: pure NumPy and OpenCV, no
Keras, so the live predictor's ONNX path (:mod:`kit.live`) runs where Keras is not
installed."""

from __future__ import annotations

import math

import cv2
import numpy as np


def scale_image(image: np.ndarray, scale: float) -> np.ndarray:
    """Resize by ``scale`` with the convention training uses (pixel (x, y) -> (s x, s y))."""
    if scale == 1.0:
        return image
    h, w = image.shape[:2]
    matrix = np.array([[scale, 0, 0], [0, scale, 0]], dtype=np.float64)
    return cv2.warpAffine(image, matrix, (math.ceil(w * scale), math.ceil(h * scale)),
                          flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def pad_to_stride(images: np.ndarray, stride: int) -> np.ndarray:
    """(N, h, w, C) images padded with black at the bottom and right to multiples of the
    backbone's output ``stride``, as every training crop is (black beyond the image, too).

    Without it a backbone whose padding rounds down (Keras's MobileNetV2 and EfficientNet,
    stride 32) has maps that end short of the image: on a 244x238 image, 224 pixels of
    cells, and every body part in the last 20 pixels was read from the last cells (the
    mirror mouse's noses, 15-22 px off). Positions are unchanged: the padding is after the
    image's last pixel."""
    pad_h, pad_w = -images.shape[1] % stride, -images.shape[2] % stride
    if not (pad_h or pad_w):
        return images
    return np.pad(images, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)))


def check_passes(scales, rotations, rotation_deg: float = 180.0, two_views: bool = False,
                 mirror: bool = False, trained_mirrored: bool = True) -> None:
    """Raise ValueError unless a model can be given images at ``scales`` (factors of its
    global_scale), turned by ``rotations`` (degrees) and, with ``mirror``, flipped left to
    right, for the passes of :mod:`kit.net.test_scales`: scales positive, rotations
    multiples of 90, a turn only for a model trained with rotations up to ``rotation_deg``
    180, a flip only for one trained on mirrored crops (``trained_mirrored``), neither for a
    model that decodes a mirror's ``two_views``."""
    turned = any(r % 360 for r in rotations)
    if (any(s <= 0 for s in scales) or any(r % 90 for r in rotations)
            or (turned and (rotation_deg < 180 or two_views))
            or (mirror and (two_views or not trained_mirrored))):
        raise ValueError(
            f"test_scales={tuple(scales)}, test_rotations={tuple(rotations)}, test_mirror="
            f"{mirror}: scales are positive factors, e.g. (0.85, 1.0, 1.15), rotations "
            "multiples of 90 degrees; a turned image needs a model trained with "
            f"rotation_deg=180 (this one: {rotation_deg}), a flipped one a model trained with "
            f"mirror=True (this one: {trained_mirrored}: a model that never saw a mirrored "
            "animal misses it by tens of pixels); a model that decodes two_views (this one: "
            f"{two_views}) takes neither turns nor flips (a mirror rig's views would trade "
            "places). Leave test_scales and test_rotations empty and test_mirror False to "
            "predict once.")
