"""Predicting each image at several scales and taking the median (test-time augmentation).

A network trained with random rescaling (``AugmentConfig.scale_range``) finds a body part at
any of those scales, and its mistakes at one scale are often not made at another: a paw it
takes for the other paw at the model's scale it finds at 15% more. A model whose pose config
lists ``test_scales`` (factors of its ``global_scale``, e.g. ``(0.85, 1.0, 1.15)``) predicts
every image once per factor, each decoded by the model's decoder (the ``two_views``
subspace rescaled to that scale's map pixels), and reports per body part the median of x,
of y and of the likelihood over the scales: one far miss among three is outvoted. Analysis
and evaluation take as many times as long as there are passes; live prediction stays at one
scale (latency). A model trained with rotations over the full circle (``rotation_deg=180``,
an animal filmed from above) can also predict each image turned by ``test_rotations``
(multiples of 90 degrees: exact, no interpolation), every scale at every turn. Single-animal
models only (several animals' rows would have to be matched across passes), and no turns for
``two_views`` (a mirror's views do not turn). Set with :func:`use_test_scales`, or
``TrainConfig.test_scales`` / ``test_rotations`` for a model being trained.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from kit.net.images import check_passes, scale_image
from kit.net.model_folder import ModelFolder, PoseConfig

SUGGESTED_SCALES = (0.85, 1.0, 1.15)  # within kit's training scale_range (0.5, 1.25)


def at_scale(pose: PoseConfig, factor: float) -> PoseConfig:
    """``pose`` for maps of images resized by ``global_scale * factor``: what its decoder
    holds in map pixels (the ``two_views`` subspace's mean and tolerance) multiplied by
    ``factor`` (the subspace's directions do not change)."""
    return dataclasses.replace(
        pose, global_scale=pose.global_scale * factor,
        view_mean=tuple(v * factor for v in pose.view_mean),
        view_tolerance_px=pose.view_tolerance_px * factor)


def turned_back(points: np.ndarray, degrees: int, height: int, width: int) -> np.ndarray:
    """``points`` (..., >= 2) x, y found in an image turned by ``np.rot90(image, degrees //
    90)`` (counterclockwise), in the pixels of the ``height`` x ``width`` image before it was
    turned (pixel centres at whole numbers, so a turn maps them exactly)."""
    x, y = points[..., 0].copy(), points[..., 1].copy()
    back = {0: (x, y), 90: (width - 1 - y, x), 180: (width - 1 - x, height - 1 - y),
            270: (y, height - 1 - x)}[degrees % 360]
    out = np.array(points, dtype=np.float64)
    out[..., 0], out[..., 1] = back
    return out


def decode_at_scales(predictor, images: np.ndarray):
    """The :class:`kit.net.decoders.Decoded` of a batch of images at full resolution (N, H,
    W, 3) by ``predictor`` (a :class:`kit.net.predict.Predictor`) at each of its
    ``test_scales`` and ``test_rotations``: poses (N, 1, K, 3) in the images' pixels, each
    value the median over the passes."""
    passes, (height, width) = [], images.shape[1:3]
    for degrees in predictor.test_rotations:
        turned = np.rot90(images, degrees // 90, axes=(1, 2))
        for factor in predictor.test_scales:
            pose = at_scale(predictor.pose, factor)
            scaled = np.stack([scale_image(image, pose.global_scale) for image in turned])
            decoded = predictor.decoder(predictor.maps_scaled(scaled), pose, predictor.assembly)
            decoded.poses[..., :2] /= pose.global_scale
            passes.append(turned_back(decoded.poses, degrees, height, width))
    return dataclasses.replace(decoded, poses=np.median(np.stack(passes), axis=0))


def use_test_scales(folder: str | ModelFolder, scales=SUGGESTED_SCALES,
                    rotations=()) -> PoseConfig:
    """Make a trained single-animal model predict at each of ``scales`` (factors of its
    global_scale), each image also turned by each of ``rotations`` (degrees, multiples of 90;
    a model trained with ``rotation_deg=180`` only), and take the median; ``()`` back to one
    pass. Rewrites its pose config (evaluation, analysis and the notebooks read it there)."""
    folder = ModelFolder(folder)
    check_passes(scales, rotations, folder.load_train_config().augment.rotation_deg)
    pose = dataclasses.replace(folder.load_pose_config(),  # PoseConfig checks them
                               test_scales=tuple(float(s) for s in scales),
                               test_rotations=tuple(int(r) for r in rotations))
    folder.save_pose_config(pose)
    return pose
