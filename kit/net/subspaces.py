"""The subspaces the pose-subspace and views losses (:mod:`kit.net.unlabeled_losses`) and the
``two_views`` decoder (:mod:`kit.net.two_views`) measure poses against: PCAs of labeled
poses, in NumPy (the decoder runs where Keras cannot be imported: ONNX live prediction).

- the pose subspace (:func:`fit_pose_subspace`): poses centred on their mean keypoint,
  flattened x0, y0, x1, ...; the fewest components that explain a share of their variance;
- the view subspace (:func:`fit_view_subspace`): one body part seen in two views of a rig
  (a mirror), rows x1, y1, x2, y2; 3 components (a point in 3D).

Each keeps the labels' own residual (the 95th percentile of their points' distances from
it) as the tolerance beyond which a prediction counts as off.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

RESIDUAL_PERCENTILE = 95.0  # the labels' own residual that the pca and views losses tolerate
VIEW_COMPONENTS = 3  # a point in 3D seen in two views: 4 coordinates, 3 degrees of freedom


@dataclass(frozen=True)
class PoseSubspace:
    """A PCA of rows of points: ``mean`` (D,), ``components`` (D, C) orthonormal columns,
    ``tolerance_px`` the labels' own per-point residual (RESIDUAL_PERCENTILE). The pose
    subspace's rows are poses (of the body parts ``columns``, () all) centred on their mean
    keypoint, flattened x0, y0, x1, ...; the view subspace's are one body part's two views,
    x1, y1, x2, y2, and ``pair_tolerances_px`` each pair's own (RESIDUAL_PERCENTILE of its
    rows' distances from the subspace, never below ``tolerance_px``: what the ``two_views``
    decoder holds each pair to)."""

    mean: np.ndarray
    components: np.ndarray
    tolerance_px: float
    columns: tuple[int, ...] = ()
    pair_tolerances_px: tuple[float, ...] = ()


def _residuals(rows: np.ndarray, mean: np.ndarray, components: np.ndarray) -> np.ndarray:
    offsets = rows - mean
    rest = offsets - offsets @ components @ components.T
    return np.linalg.norm(rest.reshape(len(rows), -1, 2), axis=-1)  # (N, D / 2) per point


def _subspace(rows: np.ndarray, explained_variance: float = 1.0,
              count: int | None = None) -> PoseSubspace:
    """The PCA of ``rows`` (N, D): ``count`` components, else the fewest that explain
    ``explained_variance`` of their variance."""
    mean = rows.mean(axis=0)
    _, singular, vt = np.linalg.svd(rows - mean, full_matrices=False)
    if count is None:
        ratio = np.cumsum(singular**2) / max(float(np.sum(singular**2)), 1e-12)
        count = int(np.searchsorted(ratio, explained_variance - 1e-9) + 1)
    components = vt[:min(count, len(vt))].T
    tolerance = float(np.percentile(_residuals(rows, mean, components), RESIDUAL_PERCENTILE))
    return PoseSubspace(mean, components, tolerance)


def fit_pose_subspace(poses: np.ndarray, explained_variance: float,
                      columns: tuple[int, ...] = ()) -> PoseSubspace:
    """PCA of ``poses`` (N, K, 2), x then y, pixels, of the body parts ``columns`` (():
    all); poses with one of them missing are left out.

    Keeps the fewest components that explain ``explained_variance`` of the centred poses'
    variance. Raises if fewer than two complete poses are given."""
    poses = np.asarray(poses, dtype=np.float64)
    poses = poses[:, list(columns)] if columns else poses
    complete = poses[np.isfinite(poses).all(axis=(1, 2))]
    if len(complete) < 2:
        raise ValueError(f"The pose-subspace loss needs at least 2 poses with every body part "
                         f"labeled; {len(complete)} of {len(poses)} are. Label more frames "
                         "fully, or set pca_loss_weight=0.")
    centred = (complete - complete.mean(axis=1, keepdims=True)).reshape(len(complete), -1)
    return dataclasses.replace(_subspace(centred, explained_variance), columns=tuple(columns))


def view_rows(poses: np.ndarray, first, second) -> np.ndarray:
    """(N * P, 4): each pose's body parts ``first[i]`` and ``second[i]`` (one point in two
    views) as rows x1, y1, x2, y2."""
    poses = np.asarray(poses, dtype=np.float64)
    return np.concatenate([poses[:, list(first)], poses[:, list(second)]], axis=-1).reshape(-1, 4)


def fit_view_subspace(poses: np.ndarray, first, second) -> PoseSubspace:
    """PCA (:data:`VIEW_COMPONENTS`) of the :func:`view_rows` of ``poses`` (N, K, 2) where
    both views are labeled. Raises with fewer such rows than 2 * VIEW_COMPONENTS."""
    rows = view_rows(poses, first, second)
    labeled = np.isfinite(rows).all(axis=1)
    pairs, rows = (np.arange(len(rows)) % len(first))[labeled], rows[labeled]  # rows n * P + p
    if len(rows) < 2 * VIEW_COMPONENTS:
        raise ValueError(f"The views loss needs at least {2 * VIEW_COMPONENTS} body parts "
                         f"labeled in both views; {len(rows)} are. Check view_pairs, or set "
                         "views_loss_weight=0.")
    subspace = _subspace(rows, count=VIEW_COMPONENTS)
    distances = np.linalg.norm(_residuals(rows, subspace.mean, subspace.components), axis=-1)
    own = [np.percentile(distances[pairs == p], RESIDUAL_PERCENTILE) if np.any(pairs == p)
           else 0.0 for p in range(len(first))]
    return dataclasses.replace(subspace, pair_tolerances_px=tuple(
        max(float(t), subspace.tolerance_px) for t in own))
