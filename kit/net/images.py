"""Images resized as the network saw them in training: pure NumPy and OpenCV, no Keras, so
the live predictor's ONNX path (:mod:`kit.live`) runs where Keras is not installed."""

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
