"""Predicting each image at several scales and taking the median (test-time augmentation).

A network trained with random rescaling (``AugmentConfig.scale_range``) finds a body part at
any of those scales, and its mistakes at one scale are often not made at another: a paw it
takes for the other paw at the model's scale it finds at 15% more. A model whose pose config
lists ``test_scales`` (factors of its ``global_scale``, e.g. ``(0.85, 1.0, 1.15)``) predicts
every image once per factor, each decoded by the model's decoder (the ``two_views``
subspace rescaled to that scale's map pixels), and reports per body part the median of x,
of y and of the likelihood over the scales: one far miss among three is outvoted. Analysis
and evaluation take as many times as long as there are passes; live prediction takes one
pass unless asked (``LiveConfig.test_passes``: latency). A model trained with rotations
over the full circle (``rotation_deg=180``, an animal filmed from above) can also predict
each image turned by ``test_rotations`` (multiples of 90 degrees: exact, no
interpolation), every scale at every turn; no turns for
``two_views`` (a mirror's views do not turn). An animal filmed from above looks like an animal
mirrored: ``test_mirror`` adds every pass again on the image flipped left to right, its
points flipped back and its left and right parts swapped (``leftear`` <-> ``rightear``, as
:func:`kit.net.sides.mirror_permutation` pairs them for mirrored training crops; the flip test
of human pose estimation), for a model trained on mirrored crops (``mirror=True``: one that
never saw a mirrored animal misses it by tens of pixels), not for ``two_views``. Several
animals: each pass's animals are matched to those of the pass that found the most keypoints
(Hungarian, on their mean distance, within an animal's size) and the median taken per
animal; a body part counts as found where half the passes or more found it
(:func:`median_of_passes`). Set with :func:`use_test_scales`, or ``TrainConfig.test_scales``
/ ``test_rotations`` / ``test_mirror`` for a model being trained.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable

import numpy as np

from kit.net.assembly import matched_pairs, present
from kit.net.images import check_passes, scale_image
from kit.net.model_folder import ModelFolder, PoseConfig
from kit.net.sides import mirror_permutation

SUGGESTED_SCALES = (0.85, 1.0, 1.15)  # within kit's training scale_range (0.5, 1.25)


def at_scale(pose: PoseConfig, factor: float) -> PoseConfig:
    """``pose`` for maps of images resized by ``global_scale * factor``: what its decoder
    holds in map pixels (the ``two_views`` subspace's mean and tolerances, its views'
    boundary's offset) multiplied by ``factor`` (directions do not change)."""
    return dataclasses.replace(
        pose, global_scale=pose.global_scale * factor,
        view_mean=tuple(v * factor for v in pose.view_mean),
        view_tolerance_px=pose.view_tolerance_px * factor,
        view_tolerances_px=tuple(t * factor for t in pose.view_tolerances_px),
        view_boundary=(*pose.view_boundary[:2], pose.view_boundary[2] * factor)
        if pose.view_boundary else ())


def at_offset(pose: PoseConfig, dx: float, dy: float) -> PoseConfig:
    """``pose`` for maps of a crop whose top-left corner lies at (``dx``, ``dy``) in the map
    pixels of the image it was fitted on (live prediction's dynamic cropping): the
    ``two_views`` subspace's mean and the views' boundary moved with it."""
    if not pose.view_mean or (dx, dy) == (0, 0):
        return pose
    x1, y1, x2, y2 = pose.view_mean
    boundary = pose.view_boundary
    return dataclasses.replace(
        pose, view_mean=(x1 - dx, y1 - dy, x2 - dx, y2 - dy),
        view_boundary=(*boundary[:2], boundary[2] - boundary[0] * dx - boundary[1] * dy)
        if boundary else ())


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


def has_passes(pose: PoseConfig) -> bool:
    """Whether ``pose`` asks for more than one upright pass at its own scale."""
    return bool(set(pose.test_scales) - {1.0} or set(pose.test_rotations) - {0}
                or pose.test_mirror)


def passes_of(pose: PoseConfig) -> list[tuple[bool, int, float]]:
    """The passes of ``pose``'s ``test_scales``, ``test_rotations`` and ``test_mirror``:
    (flipped left to right, turn in degrees, scale factor), each scale at each turn, the
    unflipped image first."""
    return [(flip, degrees, factor) for flip in ((False, True) if pose.test_mirror else (False,))
            for degrees in pose.test_rotations or (0,) for factor in pose.test_scales or (1.0,)]


def passes_text(pose: PoseConfig) -> str:
    """The passes of ``pose`` in words, e.g. "scales 0.85/1/1.15, turns 0/180, mirrored"."""
    scales, turns = pose.test_scales or (1.0,), pose.test_rotations or (0,)
    return (f"scales {'/'.join(f'{s:g}' for s in scales)}"
            + (f", turns {'/'.join(map(str, turns))}" if turns != (0,) else "")
            + (", mirrored" if pose.test_mirror else ""))


def decode_at_scales(predictor, images: np.ndarray):
    """The :class:`kit.net.decoders.Decoded` of a batch of images at full resolution (N, H,
    W, 3) by ``predictor`` (a :class:`kit.net.predict.Predictor`) at each pass of its pose
    config (:func:`passes_of`): poses (N, rows, K, 3) in the images' pixels, the passes'
    median (:func:`decode_passes`)."""
    def decode(scaled, pose):
        return predictor.decoder(predictor.maps_scaled(scaled), pose, predictor.assembly)

    return decode_passes(images, predictor.pose, decode)


def decode_passes(images: np.ndarray, pose: PoseConfig, decode: Callable):
    """Images (N, H, W, 3) decoded once per pass of ``pose`` (:func:`passes_of`: flipped or
    not, turned, scaled by a factor of ``pose.global_scale``) by ``decode(scaled images,
    the pose at that scale)`` (a :class:`kit.net.decoders.Decoded` in the scaled images'
    pixels, e.g. the network's maps through the model's decoder): the passes' median
    (:func:`median_of_passes`) in the images' pixels, a flipped pass's left and right
    parts swapped back, animals dropped the passes' median. One way for evaluation,
    analysis (:class:`kit.net.predict.Predictor`) and live prediction."""
    passes, identities, dropped, (height, width) = [], [], [], images.shape[1:3]
    swapped = mirror_permutation(pose.bodyparts)
    for flip, degrees, factor in passes_of(pose):
        turned = np.rot90(images[:, :, ::-1] if flip else images, degrees // 90, axes=(1, 2))
        scaled_pose = at_scale(pose, factor)
        scaled = np.stack([scale_image(image, scaled_pose.global_scale) for image in turned])
        decoded = decode(scaled, scaled_pose)
        decoded.poses[..., :2] /= scaled_pose.global_scale
        points = turned_back(decoded.poses, degrees, height, width)
        if flip:
            points[..., 0] = width - 1 - points[..., 0]
            points = points[..., swapped, :]
        passes.append(points)
        identities.append(decoded.identity)
        dropped.append(decoded.num_dropped)
    animals = len(pose.individuals) if pose.multianimal else 1
    poses, identity = median_of_passes(
        np.stack(passes), animals, None if identities[0] is None else np.stack(identities))
    return dataclasses.replace(decoded, poses=poses, identity=identity,
                               num_dropped=np.median(dropped, axis=0).astype(np.int64))


def median_of_passes(passes: np.ndarray, animals: int = 1, identity: np.ndarray | None = None
                     ) -> tuple[np.ndarray, np.ndarray | None]:
    """Poses (N, R, K, 3) and identity scores (N, R, I) or None: each the median over the
    passes ``passes`` (P, N, R, K, 3) of x, y and score, per body part, and of ``identity``
    (P, N, R, I).

    With several ``animals`` (the first rows; a last ``single`` row stays where it is) each
    pass's animals are first put in the rows of the pass that found the most keypoints in
    the frame (:func:`aligned_rows`). A body part is found where at least half the passes
    found it: x, y the median of theirs, its score the median of all (0 where not found);
    NaN elsewhere. One animal, found in every pass: the plain median of each value. Rows
    best first (the mean score of their body parts), as the decoders give them.
    """
    passes = np.array(passes, dtype=np.float64)
    identity = None if identity is None else np.array(identity, dtype=np.float64)
    if animals > 1:
        for n in range(passes.shape[1]):
            frame = passes[:, n, :animals]
            reference = frame[np.isfinite(frame[..., :2]).all(-1).sum((1, 2)).argmax()].copy()
            for p in range(len(frame)):
                rows = aligned_rows(reference, frame[p])
                frame[p] = _take(frame[p], rows)
                if identity is not None:
                    identity[p, n, :animals] = _take(identity[p, n, :animals], rows)
                empty = ~present(reference)
                reference[empty] = frame[p][empty]
    found = np.isfinite(passes[..., :2]).all(-1)  # (P, N, R, K)
    scores = np.median(np.where(found, passes[..., 2], 0.0), axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a body part or row no pass found
        poses = np.concatenate([np.nanmedian(passes[..., :2], axis=0), scores[..., None]], -1)
        poses[2 * found.sum(0) < len(passes)] = np.nan
        identity = None if identity is None else np.nanmedian(identity, axis=0)
        mean_scores = np.nan_to_num(np.nanmean(poses[:, :animals, :, 2], axis=-1), nan=-1.0)
    if animals > 1:  # best first, as the decoders give them
        order = np.argsort(-mean_scores, axis=1, kind="stable")
        poses[:, :animals] = np.take_along_axis(poses[:, :animals], order[..., None, None], 1)
        if identity is not None:
            identity[:, :animals] = np.take_along_axis(identity[:, :animals],
                                                       order[..., None], 1)
    return poses, identity


def aligned_rows(reference: np.ndarray, animals: np.ndarray) -> np.ndarray:
    """For each row of ``reference`` (A, K, >= 2: x, y, ...), the row of ``animals`` (A, K,
    >= 2) that holds the same animal, or -1: the Hungarian matching on the mean distance of
    the keypoints both have, a pair kept within the reference animal's size
    (:func:`kit.net.assembly.matched_pairs`); an animal matching none goes to an empty row
    of ``reference``, in order, while there is one."""
    rows = np.full(len(reference), -1)
    for i, row in matched_pairs(animals, reference):
        rows[row] = i
    free = iter(np.flatnonzero(~present(reference)))
    for i in np.flatnonzero(present(animals) & ~np.isin(np.arange(len(animals)), rows)):
        row = next(free, None)
        if row is not None:
            rows[row] = i
    return rows


def _take(rows_of: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``rows_of[rows]``, NaN where ``rows`` is -1."""
    out = rows_of[np.maximum(rows, 0)].copy()
    out[rows < 0] = np.nan
    return out


def use_test_scales(folder: str | ModelFolder, scales=SUGGESTED_SCALES,
                    rotations=(), mirror: bool = False) -> PoseConfig:
    """Make a trained model predict at each of ``scales`` (factors of its global_scale),
    each image also turned by each of ``rotations`` (degrees, multiples of 90; a model
    trained with ``rotation_deg=180`` only) and, with ``mirror``, flipped left to right as
    well (a model trained with ``mirror=True`` only), and take the median; ``()`` and no
    mirror: back to one pass. Rewrites its pose config (evaluation, analysis and the
    notebooks read it there)."""
    folder = ModelFolder(folder)
    augment = folder.load_train_config().augment
    check_passes(scales, rotations, augment.rotation_deg, mirror=bool(mirror),
                 trained_mirrored=augment.mirror)
    pose = dataclasses.replace(folder.load_pose_config(),  # PoseConfig checks them
                               test_scales=tuple(float(s) for s in scales),
                               test_rotations=tuple(int(r) for r in rotations),
                               test_mirror=bool(mirror))
    folder.save_pose_config(pose)
    return pose
