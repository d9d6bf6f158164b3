"""Predicting each image at several scales and taking the median (test-time augmentation).

A network trained with random rescaling (``AugmentConfig.scale_range``) finds a body part at
any of those scales, and its mistakes at one scale are often not made at another: a paw it
takes for the other paw at the model's scale it finds at 15% more. A model whose pose config
lists ``test_scales`` (factors of its ``global_scale``, e.g. ``(0.85, 1.0, 1.15)``) predicts
every image once per factor, each decoded by the model's decoder (the ``two_views``
subspace rescaled to that scale's map pixels), and reports per body part the median of x,
of y and of the likelihood over the scales: one far miss among three is outvoted. Analysis
and evaluation take three times as long; live prediction stays at one scale (latency).
Single-animal models only (several animals' rows would have to be matched across scales).
Set with :func:`use_test_scales`, or ``TrainConfig.test_scales`` for a model being trained.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from kit.net.images import scale_image
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


def decode_at_scales(predictor, images: np.ndarray):
    """The :class:`kit.net.decoders.Decoded` of a batch of images at full resolution (N, H,
    W, 3) by ``predictor`` (a :class:`kit.net.predict.Predictor`) at each of its
    ``test_scales``: poses (N, 1, K, 3) in the images' pixels, each value the median over the
    scales."""
    per_scale = []
    for factor in predictor.test_scales:
        pose = at_scale(predictor.pose, factor)
        scaled = np.stack([scale_image(image, pose.global_scale) for image in images])
        decoded = predictor.decoder(predictor.maps_scaled(scaled), pose, predictor.assembly)
        decoded.poses[..., :2] /= pose.global_scale
        per_scale.append(decoded.poses)
    return dataclasses.replace(decoded, poses=np.median(np.stack(per_scale), axis=0))


def use_test_scales(folder: str | ModelFolder, scales=SUGGESTED_SCALES) -> PoseConfig:
    """Make a trained single-animal model predict at each of ``scales`` (factors of its
    global_scale) and take the median; ``()`` or ``(1.0,)`` back to one scale. Rewrites its
    pose config (evaluation, analysis and the notebooks read it from there)."""
    folder = ModelFolder(folder)
    pose = folder.load_pose_config()
    pose = dataclasses.replace(pose, test_scales=tuple(float(s) for s in scales))  # checked
    folder.save_pose_config(pose)
    return pose
