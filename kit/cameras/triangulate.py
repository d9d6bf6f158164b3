"""Triangulation: every camera's 2D analysis -> one 3D point per frame and body part.

Each view's point is undistorted to normalized camera coordinates, then the 3D point is the
direct linear transform (DLT) solution over the views whose likelihood reaches
``pcutoff``. Two methods (``TriangulateConfig.method``): ``"weighted"`` (default) weights
each view's two equations by its likelihood and scales them so that they measure pixels;
``"anipose"`` reproduces aniposelib's ``CameraGroup.triangulate(points, undistort=True)``
(OpenCV's ``undistortPoints``, unweighted equations in normalized coordinates). With
``consensus`` on,
every subset of at least two cameras is tried (RANSAC over camera subsets, exhaustively:
rigs have few cameras) and a point keeps the largest subset whose views all reproject
within ``threshold_px``, so one wrong view cannot drag it away. Every point keeps its mean
reprojection error over the views used (pixels) and their number.

Several animals: every camera's multi-animal analysis is matched to the others by its
individuals' names (:func:`load_views`), and each individual is triangulated apart; arrays
carry kit's individuals axis, ``(num_frames, num_individuals, num_bodyparts, .)``.

Optional afterwards: smoothing over time with kit's 2D filters run on x, y and z, and a
post-hoc adjustment towards constant limb lengths (:func:`constrain_lengths`).
"""

from __future__ import annotations

import glob
import itertools
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import pandas as pd

from kit.cameras.calibration_file import Calibration, Camera
from kit.cameras.pose_tables import read_points_2d
from kit.results.filters import FilterConfig, filter_points


@dataclass(frozen=True)
class TriangulateConfig:
    """Settings of :func:`triangulate`.

    Attributes:
        pcutoff: views with likelihood below it are left out.
        consensus: try every subset of >= 2 cameras and keep the largest consistent one.
        threshold_px: reprojection error (pixels) above which a view disagrees (consensus).
        method: how the DLT weighs the views it uses (those with likelihood >= pcutoff and
            finite x, y), one of :data:`METHODS`:
            ``"weighted"``: each view's equations times its likelihood, rescaled by
            focal / depth so that residuals are pixels (fair to cameras of different focal
            lengths or distances); ``"anipose"``: aniposelib 0.8's ``triangulate`` exactly,
            i.e. ``cv2.undistortPoints`` (its 5 iterations) to normalized coordinates, then
            per point the unweighted rows x P[2] - P[0], y P[2] - P[1] (P = [R | t]) of every
            used view, SVD, last right-singular vector. Likelihood only selects the views.
    """

    pcutoff: float = 0.6
    consensus: bool = False
    threshold_px: float = 10.0
    method: str = "weighted"

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {sorted(METHODS)}. "
                             f"Received: method={self.method!r}.")
        if not 0 <= self.pcutoff <= 1 or not self.threshold_px > 0:
            raise ValueError(f"Need pcutoff in [0, 1] and threshold_px > 0. Received: "
                             f"pcutoff={self.pcutoff}, threshold_px={self.threshold_px}.")


METHODS = {
    "weighted": "likelihood-weighted rows measuring pixels (kit's default)",
    "anipose": "aniposelib's CameraGroup.triangulate: unweighted, normalized coordinates",
}


def _dlt(rows: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """(M, 3) least-squares points of DLT rows (2C, M, 4) each scaled by ``scale`` (C, M)."""
    a = np.moveaxis(rows * np.concatenate([scale, scale])[..., None], 0, 1)  # (M, 2C, 4)
    homogeneous = np.linalg.svd(a)[2][:, -1]
    with np.errstate(invalid="ignore", divide="ignore"):
        return homogeneous[:, :3] / homogeneous[:, 3:]


def triangulate_dlt(normalized: np.ndarray, extrinsics: np.ndarray, weights: np.ndarray,
                    focal: np.ndarray | None = None) -> np.ndarray:
    """Weighted DLT of many points at once.

    A DLT row's residual is the point's depth times its error in normalized coordinates;
    given ``focal`` it is solved twice, the second time with each camera's rows scaled by
    focal / depth (depths from the first solution), so the residuals are errors in pixels
    and cameras of very different focal lengths or distances count fairly.

    Args:
        normalized: (C, M, 2) undistorted normalized coordinates (x/z, y/z) per camera.
        extrinsics: (C, 3, 4) world -> camera [R | t].
        weights: (C, M) >= 0; 0 leaves a view out (its coordinates may then be NaN).
        focal: (C,) focal length of each camera, pixels; None: one solution, unscaled rows.

    Returns:
        (M, 3) world points; NaN where fewer than two views have weight.
    """
    xy = np.nan_to_num(normalized)
    rows = np.concatenate([xy[..., :1] * extrinsics[:, None, 2] - extrinsics[:, None, 0],
                           xy[..., 1:] * extrinsics[:, None, 2] - extrinsics[:, None, 1]])
    points = _dlt(rows, weights)
    if focal is not None:
        depth = np.einsum("cj,mj->cm", extrinsics[:, 2, :3], points) + extrinsics[:, 2, 3:]
        with np.errstate(invalid="ignore", divide="ignore"):
            scale = weights * np.asarray(focal)[:, None] / np.abs(depth)
        ok = np.isfinite(scale).all(axis=0)
        points[ok] = _dlt(rows[:, ok], scale[:, ok])
    points[(weights > 0).sum(axis=0) < 2] = np.nan
    return points


def reprojection_errors(cameras: Sequence[Camera], points: np.ndarray, pixels: np.ndarray
                        ) -> np.ndarray:
    """(C, ...) distance in pixels between world points (..., 3) projected into each camera
    and the observed pixels (C, ..., 2); NaN where either is missing."""
    return np.stack([np.linalg.norm(cam.project(points) - obs, axis=-1)
                     for cam, obs in zip(cameras, pixels)])


def _solve(cameras, normalized, pixels, weights, focal):
    """Points (M, 3), mean error over used views (M,), views used (M,); ``focal`` as
    :func:`triangulate_dlt` takes it."""
    points = triangulate_dlt(normalized, np.array([c.extrinsics for c in cameras]), weights, focal)
    used = weights > 0
    errors = np.where(used, reprojection_errors(cameras, points, pixels), 0.0)
    views = used.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(views >= 2, errors.sum(axis=0) / views, np.nan)
    return points, mean, np.where(views >= 2, views, 0), np.where(used, errors, 0.0)


def _consensus(cameras, normalized, pixels, weights, focal, threshold_px):
    """Per point, the largest subset of cameras whose used views all reproject within
    ``threshold_px`` (ties: lowest error); where none agrees, the best pair."""
    num_cameras, num_points = weights.shape
    best = (np.full((num_points, 3), np.nan), np.full(num_points, np.nan),
            np.zeros(num_points, int))
    best_key = np.full(num_points, -np.inf)
    for size in range(2, num_cameras + 1):
        for subset in itertools.combinations(range(num_cameras), size):
            mask = np.zeros((num_cameras, 1))
            mask[list(subset)] = 1
            points, mean, views, errors = _solve(cameras, normalized, pixels, weights * mask,
                                                 focal)
            agree = (errors < threshold_px).all(axis=0) & (views >= 2)
            key = np.where(views >= 2, agree * 1e6 + views * 1e3 - np.minimum(mean, 999), -np.inf)
            better = key > best_key
            best_key[better] = key[better]
            for kept, new in zip(best, (points, mean, views)):
                kept[better] = new[better]
    return best


def triangulate(calibration: Calibration, points_2d: np.ndarray, config: TriangulateConfig
                ) -> np.ndarray:
    """3D points from every camera's 2D points.

    Args:
        points_2d: (num_cameras, num_frames, num_individuals, num_bodyparts, 3) x, y
            (pixels), likelihood, cameras in ``calibration``'s order, individuals matched
            across cameras (see :func:`load_views`); NaN = missing. Any shape
            (num_cameras, ..., 3) works, e.g. without the individuals axis.

    Returns:
        (num_frames, num_individuals, num_bodyparts, 5) (the shape of ``points_2d`` without
        its camera axis): x, y, z (world units), mean reprojection error (pixels) and number
        of views used; NaN, NaN, NaN, NaN, 0 where under two views.
    """
    points_2d = np.asarray(points_2d, dtype=np.float64)
    cameras = list(calibration.cameras)
    if points_2d.ndim < 3 or points_2d.shape[0] != len(cameras) or points_2d.shape[-1] != 3:
        raise ValueError(f"points_2d must have shape ({len(cameras)}, num_frames, "
                         f"num_individuals, num_bodyparts, 3). Received: {points_2d.shape}.")
    shape = points_2d.shape[1:-1]
    pixels = points_2d[..., :2].reshape(len(cameras), -1, 2)
    likelihood = points_2d[..., 2].reshape(len(cameras), -1)
    ok = (likelihood >= config.pcutoff) & np.isfinite(pixels).all(axis=2)
    if config.method == "anipose":
        weights, focal = ok.astype(np.float64), None
        normalized = np.stack([_opencv_undistort(c, p) for c, p in zip(cameras, pixels)])
    else:
        weights = np.where(ok, likelihood, 0.0)
        focal = np.array([c.matrix[[0, 1], [0, 1]].mean() for c in cameras])
        normalized = np.stack([c.undistort(p) for c, p in zip(cameras, pixels)])
    if config.consensus:
        points, mean, views = _consensus(cameras, normalized, pixels, weights, focal,
                                         config.threshold_px)
    else:
        points, mean, views, _ = _solve(cameras, normalized, pixels, weights, focal)
    out = np.concatenate([points, mean[:, None], views[:, None]], axis=1)
    return out.reshape(*shape, 5)


def _opencv_undistort(camera: Camera, pixels: np.ndarray) -> np.ndarray:
    """(M, 2) pixels -> normalized coordinates by ``cv2.undistortPoints`` (no P; OpenCV's
    default 5 iterations, as aniposelib); NaN stays NaN."""
    finite = np.isfinite(pixels).all(axis=1)
    out = np.full(pixels.shape, np.nan)
    if finite.any():
        out[finite] = cv2.undistortPoints(np.ascontiguousarray(pixels[finite, None]),
                                          camera.matrix, camera.distortions).reshape(-1, 2)
    return out


def _read_view(path, bodyparts, individuals) -> tuple[np.ndarray, list[str], list[str] | None]:
    """One analysis as (num_frames, num_individuals, num_bodyparts, 3), body parts and
    individuals in the given order (None: the file's), matched by name; raises naming the
    file if they differ."""
    points, parts, names = read_points_2d(path)
    if bodyparts is not None and set(parts) != set(bodyparts):
        raise ValueError(f"{path} has body parts {parts}; other files have {bodyparts}.")
    if bodyparts is not None and (names is None) != (individuals is None):
        raise ValueError(f"{path} is {'single' if names is None else 'multi'}-animal, other "
                         f"files are not (individuals {individuals}). Triangulate analyses of "
                         "one kind: all single-animal, or all multi-animal.")
    if names is not None and individuals is not None and set(names) != set(individuals):
        raise ValueError(f"{path} has individuals {names}; other files have {individuals}. "
                         "Individuals are matched across cameras by name: track every "
                         "camera's video with the same names (identity or relabeled tracks).")
    bodyparts, individuals = bodyparts or parts, individuals or names
    points = points[:, :, [parts.index(b) for b in bodyparts]]
    if names is not None:
        points = points[:, [names.index(i) for i in individuals]]
    return points, bodyparts, individuals


def load_views(calibration: Calibration, paths: Sequence[Sequence[str | os.PathLike]]
               ) -> tuple[np.ndarray, list[str], list[str] | None]:
    """Every camera's 2D analysis, individuals matched across cameras by name.

    Args:
        paths: per camera (calibration order), one analysis file, or several (an ensemble
            of networks): then x, y and likelihood are each their median over the files.
            Single- or multi-animal (DeepLabCut's ``single`` individual, holding unique body
            parts, is one more individual), all of one kind.

    Returns:
        ``(points, bodyparts, individuals)``: points (num_cameras, num_frames,
        num_individuals, num_bodyparts, 3) x, y (pixels), likelihood, NaN where an
        individual has no such body part; body parts and individuals in the first file's
        order (all files must have the same); individuals None for single-animal files.
    """
    if len(paths) != len(calibration.cameras):
        raise ValueError(f"Need one list of analysis files per camera {calibration.names}. "
                         f"Received: {len(paths)} lists.")
    per_camera, bodyparts, individuals = [], None, None
    for name, files in zip(calibration.names, paths):
        if not files:
            raise ValueError(f"No analysis file for camera {name!r}. Check the file pattern.")
        tables = []
        for path in files:
            points, bodyparts, individuals = _read_view(path, bodyparts, individuals)
            tables.append(points)
        if len({len(t) for t in tables} | {len(t) for t in per_camera}) > 1:
            raise ValueError(f"Camera {name!r}: analyses have different numbers of frames "
                             f"({[len(t) for t in tables]}). Analyze the same synchronized videos.")
        per_camera.append(np.median(tables, axis=0))
    return np.stack(per_camera), bodyparts, individuals


def smooth_3d(points_3d: np.ndarray, config: FilterConfig) -> np.ndarray:
    """Filter x, y and z over time with kit's 2D filters (:func:`kit.results.filters.filter_points`),
    each individual apart.

    Args:
        points_3d: (num_frames, num_individuals, num_bodyparts, 5) as :func:`triangulate`
            returns ((num_frames, num_bodyparts, 5) also works).

    Returns:
        the same shape: x, y, z filtered (gaps up to ``config.max_gap`` frames filled),
        error and views as triangulated (NaN and 0 where filled). ``config.pcutoff`` is not
        used: a point is missing when it has no coordinates.
    """
    flat = points_3d.ndim == 3
    points = points_3d[:, None] if flat else points_3d  # kit's (frames, individuals, parts, .)
    present = np.isfinite(points[..., :3]).all(axis=-1).astype(np.float64)
    settings = FilterConfig(config.method, config.window, config.order, 0.5, config.max_gap)
    x, y, z = (points[..., i] for i in range(3))
    planar = filter_points(np.stack([x, y, present], axis=-1), settings)
    height = filter_points(np.stack([z, z, present], axis=-1), settings)
    out = points.copy()
    out[..., :2], out[..., 2] = planar[..., :2], height[..., 0]
    return out[:, 0] if flat else out


def limb_lengths(points_3d: np.ndarray, bodyparts: Sequence[str],
                 skeleton: Sequence[Sequence[str]]) -> np.ndarray:
    """Median length of each skeleton edge over frames, world units: (num_individuals,
    num_edges) for points (num_frames, num_individuals, num_bodyparts, >=3); (num_edges,)
    for points (num_frames, num_bodyparts, >=3). NaN for an individual without the edge."""
    index = [(bodyparts.index(a), bodyparts.index(b)) for a, b in skeleton]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an individual without the edge
        lengths = [np.nanmedian(np.linalg.norm(points_3d[..., a, :3] - points_3d[..., b, :3],
                                               axis=-1), axis=0) for a, b in index]
    return np.stack(lengths, axis=-1) if lengths else np.zeros(points_3d.shape[1:-2] + (0,))


def constrain_lengths(points_3d: np.ndarray, bodyparts: Sequence[str],
                      skeleton: Sequence[Sequence[str]], lengths: np.ndarray | None = None,
                      iterations: int = 50) -> np.ndarray:
    """Optional, post hoc: move points so that skeleton edges keep their lengths.

    Each edge's two ends are moved along the edge, in proportion to their reprojection
    errors (the worse point moves more), until its length is ``lengths`` (default: the
    median over frames per individual, :func:`limb_lengths`); repeated ``iterations`` times
    over all edges, which converges to lengths that agree for chains and trees.

    Args:
        points_3d: (num_frames, num_individuals, num_bodyparts, 5) as :func:`triangulate`
            returns (or (num_frames, num_bodyparts, 5)).
        lengths: (num_edges,) for every individual, or (num_individuals, num_edges).

    Returns:
        a copy with x, y, z adjusted (error and views unchanged).
    """
    unknown = [b for edge in skeleton for b in edge if b not in bodyparts]
    if unknown:
        raise ValueError(f"Skeleton body parts {unknown} are not in {list(bodyparts)}.")
    lengths = limb_lengths(points_3d, bodyparts, skeleton) if lengths is None else lengths
    lengths = np.asarray(lengths, np.float64)
    out = points_3d.copy()
    error = np.nan_to_num(points_3d[..., 3], nan=1.0) + 1e-9
    for _ in range(iterations):
        for e, (a, b) in enumerate(skeleton):
            i, j = bodyparts.index(a), bodyparts.index(b)
            delta = out[..., j, :3] - out[..., i, :3]
            current = np.linalg.norm(delta, axis=-1, keepdims=True)
            share = error[..., i, None] / (error[..., i, None] + error[..., j, None])
            with np.errstate(invalid="ignore", divide="ignore"):
                correction = np.nan_to_num(delta * (1 - lengths[..., e, None] / current))
            out[..., i, :3] += share * correction
            out[..., j, :3] -= (1 - share) * correction
    return out


def find_analyses(pattern: str, cameras: Sequence[str]) -> list[list[str]]:
    """Per camera, the 2D analysis files matching ``pattern`` with ``{camera}`` replaced by its
    name (a glob; several files: an ensemble, see :func:`load_views`)."""
    if "{camera}" not in pattern:
        raise ValueError(f"pattern must contain '{{camera}}'. Received: pattern={pattern!r}.")
    found = [sorted(glob.glob(pattern.replace("{camera}", name))) for name in cameras]
    missing = [name for name, files in zip(cameras, found) if not files]
    if missing:
        raise FileNotFoundError(f"No analysis files for cameras {missing}: nothing matches "
                                f"{pattern!r}. Check the pattern and the camera names.")
    return found


def summary(points_3d: np.ndarray, bodyparts: Sequence[str],
            individuals: Sequence[str] | None = None) -> pd.DataFrame:
    """Per body part (and individual): fraction of frames triangulated, median reprojection
    error (pixels), mean number of views used (over triangulated frames).

    Args:
        points_3d: (num_frames, num_individuals, num_bodyparts, 5) as :func:`triangulate`
            returns; (num_frames, num_bodyparts, 5) also works.
        individuals: the individuals' names (rows indexed by individual and body part);
            None for one individual (rows indexed by body part).
    """
    points = points_3d.reshape(len(points_3d), -1, points_3d.shape[-1])
    if individuals is None:
        index = pd.Index(list(bodyparts), name="bodypart")
    else:
        index = pd.MultiIndex.from_product([list(individuals), list(bodyparts)],
                                           names=["individual", "bodypart"])
    if len(index) != points.shape[1]:
        raise ValueError(f"points_3d has {points.shape[1]} (individual, body part) points; "
                         f"individuals={individuals!r} and {len(bodyparts)} body parts give "
                         f"{len(index)}.")
    found = points[..., 4] >= 2
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a point never triangulated
        return pd.DataFrame({
            "triangulated": found.mean(axis=0),
            "median_error_px": np.nanmedian(np.where(found, points[..., 3], np.nan), axis=0),
            "mean_views": np.nanmean(np.where(found, points[..., 4], np.nan), axis=0)},
            index=index)
