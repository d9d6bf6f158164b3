"""Calibrate cameras from views of a chessboard: intrinsics, relative poses, bundle adjustment.

Corners come from :func:`kit.cameras.board.detect_views`: (num_cameras, num_views,
num_corners, 2) pixels, NaN where a camera did not find the board. Each camera's
intrinsics and distortion are fitted alone (``cv2.calibrateCamera``), which also gives
the board's pose in every view it saw. Camera poses relative to camera 0 (the world
frame of the result: camera 0 at the origin looking along +z, units of the board's
square size) are chained from the views two cameras share, then refined together with
the board's pose in every view by least squares on the reprojection error of every
corner in every camera (``scipy.optimize.least_squares`` with a sparse Jacobian), by
default with each camera's focal lengths, principal point and k1, k2.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from scipy.optimize import least_squares
from scipy.optimize._numdiff import approx_derivative
from scipy.sparse import lil_matrix

from kit.cameras.board import Board
from kit.cameras.calibration_file import Calibration, Camera
from kit.project import atomic_path


@dataclass(frozen=True)
class CalibrationConfig:
    """Settings of :func:`calibrate_cameras`.

    Attributes:
        board: the chessboard (its square size sets the units of the result).
        fix_k3: keep the third radial coefficient at 0 (steadier with few views).
        zero_tangent: keep the tangential coefficients p1, p2 at 0.
        bundle_adjust: refine all poses jointly after chaining them pairwise.
        refine_intrinsics: let bundle adjustment refine fx, fy, cx, cy, k1, k2 too.
        max_view_error: views whose mean reprojection error after each camera's own
            calibration exceeds this (pixels) are dropped, and that camera refitted once.
        min_views: views each camera needs (after dropping).
    """

    board: Board = Board()
    fix_k3: bool = True
    zero_tangent: bool = False
    bundle_adjust: bool = True
    refine_intrinsics: bool = True
    max_view_error: float = 3.0
    min_views: int = 3

    def __post_init__(self):
        if self.min_views < 3 or not self.max_view_error > 0:
            raise ValueError(f"Need min_views >= 3 and max_view_error > 0. Received: "
                             f"min_views={self.min_views}, max_view_error={self.max_view_error}.")

    @property
    def flags(self) -> int:
        return ((cv2.CALIB_FIX_K3 if self.fix_k3 else 0)
                | (cv2.CALIB_ZERO_TANGENT_DIST if self.zero_tangent else 0))


@dataclass(frozen=True, eq=False)
class CalibrationResult:
    """A calibration and its errors.

    Attributes:
        calibration: the cameras (world = camera 0).
        errors: one row per camera and view: ``camera``, ``view``, ``detected``, ``used``,
            ``intrinsic_error`` (mean px, that camera's own fit), ``error`` (mean px, the
            final joint model).
        board_poses: (num_views, 6) Rodrigues rotation and translation of the board in the
            world, NaN for views no camera used.
    """

    calibration: Calibration
    errors: pd.DataFrame
    board_poses: np.ndarray


def _view_errors(obj: np.ndarray, corners: np.ndarray, camera: Camera, poses: np.ndarray
                 ) -> np.ndarray:
    """(V,) mean reprojection error, pixels, of board poses (V, 6) in camera coordinates."""
    errors = np.full(len(corners), np.nan)
    for v, pose in enumerate(poses):
        if np.isfinite(pose).all():
            seen = Camera("c", camera.size, camera.matrix, camera.distortions, pose[:3], pose[3:])
            errors[v] = np.linalg.norm(seen.project(obj) - corners[v], axis=1).mean()
    return errors


def calibrate_intrinsics(corners: np.ndarray, size: tuple[int, int], name: str,
                         config: CalibrationConfig) -> tuple[Camera, np.ndarray, np.ndarray]:
    """One camera's intrinsics and distortion from its views.

    Args:
        corners: (num_views, num_corners, 2) pixels, NaN where not detected.

    Returns:
        camera (at the origin), board poses (num_views, 6) in its coordinates (NaN for views
        not used), mean reprojection error per view (num_views,), pixels.
    """
    obj = config.board.object_points().astype(np.float32)
    used = np.isfinite(corners).all(axis=(1, 2))
    poses = np.full((len(corners), 6), np.nan)
    for _attempt in range(2):
        if used.sum() < config.min_views:
            raise ValueError(f"Camera {name!r}: the board was found in {used.sum()} usable views; "
                             f"calibration needs {config.min_views}. Record more views, or check "
                             f"the board's columns and rows ({config.board}).")
        views = np.flatnonzero(used)
        rms, matrix, dist, rvecs, tvecs = cv2.calibrateCamera(
            [obj] * len(views), [corners[v].astype(np.float32) for v in views], size, None, None,
            flags=config.flags)
        poses[:] = np.nan
        poses[views] = np.hstack([np.reshape(rvecs, (-1, 3)), np.reshape(tvecs, (-1, 3))])
        camera = Camera(name, size, matrix, np.ravel(dist)[:5])
        errors = _view_errors(obj, corners, camera, poses)
        bad = errors > config.max_view_error
        if not bad.any():
            break
        used &= ~bad
    return camera, poses, errors


def _mean_rotation(rotations: np.ndarray) -> np.ndarray:
    """(3, 3) the rotation nearest the mean of (N, 3, 3) rotations (chordal L2 mean)."""
    u, _, vt = np.linalg.svd(rotations.mean(axis=0))
    return u @ np.diag([1, 1, np.linalg.det(u @ vt)]) @ vt


def chain_poses(poses: np.ndarray) -> np.ndarray:
    """World -> camera poses (C, 3, 4) from board poses (C, V, 6) in each camera's coordinates.

    Camera 0 is the world. Each other camera is placed from the known camera it shares
    most views with (median over views of the relative translation, mean rotation).
    """
    seen = np.isfinite(poses).all(axis=2)
    board = np.full((*seen.shape, 3, 4), np.nan)  # board -> camera [R | t] per camera, view
    for c, v in zip(*np.nonzero(seen)):
        board[c, v] = np.hstack([cv2.Rodrigues(poses[c, v, :3])[0], poses[c, v, 3:, None]])
    known = {0: np.hstack([np.eye(3), np.zeros((3, 1))])}
    while len(known) < len(poses):
        shared = {(c, k): np.flatnonzero(seen[c] & seen[k]) for c in range(len(poses))
                  if c not in known for k in known}
        (c, k), views = max(shared.items(), key=lambda item: len(item[1]))
        if len(views) == 0:
            raise ValueError(f"Cameras {sorted(set(range(len(poses))) - set(known))} share no "
                             "view of the board with the others. Record views that several "
                             "cameras see at once.")
        rel_r = np.array([board[c, v][:, :3] @ board[k, v][:, :3].T for v in views])
        rotation = _mean_rotation(rel_r)
        rel_t = np.median([board[c, v][:, 3] - rotation @ board[k, v][:, 3] for v in views], 0)
        known[c] = np.hstack([rotation @ known[k][:, :3], (rotation @ known[k][:, 3] + rel_t)[:, None]])
    return np.array([known[c] for c in range(len(poses))])


def _with_pose(camera: Camera, pose: np.ndarray) -> Camera:
    return Camera(camera.name, camera.size, camera.matrix, camera.distortions, pose[:3], pose[3:])


def _world_board_poses(extrinsics: np.ndarray, poses: np.ndarray) -> np.ndarray:
    """(V, 6) board -> world poses from the first camera that saw each view (NaN if none)."""
    out = np.full((poses.shape[1], 6), np.nan)
    for v in range(poses.shape[1]):
        for c in np.flatnonzero(np.isfinite(poses[:, v]).all(axis=1)):
            r_cam, t_cam = extrinsics[c][:, :3], extrinsics[c][:, 3]
            r_board = r_cam.T @ cv2.Rodrigues(poses[c, v, :3])[0]
            out[v] = np.concatenate([cv2.Rodrigues(r_board)[0].ravel(),
                                     r_cam.T @ (poses[c, v, 3:] - t_cam)])
            break
    return out


_NUM_INTRINSICS = 6  # fx, fy, cx, cy, k1, k2 when bundle adjustment refines intrinsics


def _intrinsics(camera: Camera) -> np.ndarray:
    m, d = camera.matrix, camera.distortions
    return np.array([m[0, 0], m[1, 1], m[0, 2], m[1, 2], d[0], d[1]])


def _unpack(x, cameras, refine_intrinsics):
    """The cameras and board poses (V, 6) that the parameter vector ``x`` holds: poses of
    cameras 1.., then (if refined) intrinsics of every camera, then board poses."""
    n = len(cameras)
    poses = [np.concatenate([cameras[0].rotation, cameras[0].translation])]
    poses += list(x[:6 * (n - 1)].reshape(-1, 6))
    offset = 6 * (n - 1)
    out = []
    for c, camera in enumerate(cameras):
        matrix, dist = camera.matrix, camera.distortions
        if refine_intrinsics:
            fx, fy, cx, cy, k1, k2 = x[offset + _NUM_INTRINSICS * c:offset + _NUM_INTRINSICS * (c + 1)]
            matrix = np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1]])
            dist = np.concatenate([[k1, k2], camera.distortions[2:]])
        out.append(Camera(camera.name, camera.size, matrix, dist, poses[c][:3], poses[c][3:]))
    offset += _NUM_INTRINSICS * n if refine_intrinsics else 0
    return out, x[offset:].reshape(-1, 6)


def rodrigues(vectors: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation matrices of Rodrigues vectors (..., 3) (``cv2.Rodrigues``, batched)."""
    theta = np.linalg.norm(vectors, axis=-1)[..., None, None]
    k = vectors / np.where(theta[..., 0] > 0, theta[..., 0], 1.0)
    zero = np.zeros(k.shape[:-1])
    cross = np.stack([zero, -k[..., 2], k[..., 1], k[..., 2], zero, -k[..., 0],
                      -k[..., 1], k[..., 0], zero], axis=-1).reshape(*k.shape[:-1], 3, 3)
    return np.eye(3) + np.sin(theta) * cross + (1 - np.cos(theta)) * cross @ cross


def _board_world(obj: np.ndarray, boards: np.ndarray) -> np.ndarray:
    """(V, P, 3) corners in the world for board poses (V, 6)."""
    return obj @ np.swapaxes(rodrigues(boards[:, :3]), 1, 2) + boards[:, None, 3:]


def _residuals(x, cameras, obj, corners, used, refine_intrinsics):
    """Reprojection residuals (pixels) of every used (camera, view) corner."""
    cams, boards = _unpack(x, cameras, refine_intrinsics)
    world = _board_world(obj, boards)
    out = [(cam.project(world[used[c]]) - corners[c, used[c]]).ravel()
           for c, cam in enumerate(cams)]
    return np.concatenate(out)


def _sparsity(used: np.ndarray, num_corners: int, refine_intrinsics: bool) -> lil_matrix:
    num_cameras, num_views = used.shape
    pairs = list(zip(*np.nonzero(used)))
    boards = 6 * (num_cameras - 1) + (_NUM_INTRINSICS * num_cameras if refine_intrinsics else 0)
    pattern = lil_matrix((2 * num_corners * len(pairs), boards + 6 * num_views), dtype=int)
    for i, (c, v) in enumerate(pairs):
        rows = slice(2 * num_corners * i, 2 * num_corners * (i + 1))
        if c > 0:
            pattern[rows, 6 * (c - 1):6 * c] = 1
        if refine_intrinsics:
            first = 6 * (num_cameras - 1) + _NUM_INTRINSICS * c
            pattern[rows, first:first + _NUM_INTRINSICS] = 1
        pattern[rows, boards + 6 * v:boards + 6 * (v + 1)] = 1
    return pattern


def bundle_adjust(cameras: Sequence[Camera], board: Board, corners: np.ndarray, used: np.ndarray,
                  board_poses: np.ndarray, refine_intrinsics: bool = True
                  ) -> tuple[list[Camera], np.ndarray]:
    """Refine cameras 1.. (camera 0 stays the world) and the board poses jointly, and the
    intrinsics (fx, fy, cx, cy, k1, k2) of every camera if ``refine_intrinsics``.

    Args:
        corners: (C, V, num_corners, 2) pixels; used: (C, V) which views enter.
        board_poses: (V, 6) board -> world, initial (views no camera used: any finite value).

    Returns:
        the refined cameras and board poses (V, 6).
    """
    obj = board.object_points()
    x0 = np.concatenate([np.concatenate([c.rotation, c.translation]) for c in cameras[1:]]
                        + ([_intrinsics(c) for c in cameras] if refine_intrinsics else [])
                        + [board_poses.ravel()])
    args = (cameras, obj, corners, used, refine_intrinsics)
    pattern = _sparsity(used, len(obj), refine_intrinsics)

    def jacobian(x, *args):
        # Finite differences grouped by the sparsity pattern (a few dozen residual calls;
        # scipy's own helper, private but stable since scipy 1.1),
        # solved densely: scipy's sparse solver (lsmr) needs hundreds of iterations here.
        return approx_derivative(_residuals, x, sparsity=pattern, args=args).toarray()

    fit = least_squares(_residuals, x0, jac=jacobian, x_scale="jac", method="trf",
                        tr_solver="exact", args=args)
    return _unpack(fit.x, cameras, refine_intrinsics)


def _joint_errors(cameras, board, corners, used, board_poses) -> np.ndarray:
    """(C, V) mean reprojection error, pixels, of the joint model; NaN where not used."""
    obj = board.object_points()
    errors = np.full(used.shape, np.nan)
    for c, v in zip(*np.nonzero(used)):
        world = obj @ cv2.Rodrigues(board_poses[v, :3])[0].T + board_poses[v, 3:]
        errors[c, v] = np.linalg.norm(cameras[c].project(world) - corners[c, v], axis=1).mean()
    return errors


def calibrate_cameras(corners: np.ndarray, names: Sequence[str], views: Sequence[str],
                      size: tuple[int, int], config: CalibrationConfig) -> CalibrationResult:
    """Calibrate a rig from board corners (C, V, num_corners, 2) pixels, NaN = not found.

    Returns the cameras (world = camera 0, units of ``config.board.square_size``), the
    error of every camera in every view, and the board poses.
    """
    corners = np.asarray(corners, dtype=np.float64)
    if corners.ndim != 4 or corners.shape[:2] != (len(names), len(views)):
        raise ValueError(f"corners must have shape ({len(names)}, {len(views)}, num_corners, 2). "
                         f"Received: {corners.shape}.")
    fitted = [calibrate_intrinsics(corners[c], size, n, config) for c, n in enumerate(names)]
    cameras = [f[0] for f in fitted]
    poses = np.stack([f[1] for f in fitted])
    used = np.isfinite(poses).all(axis=2)
    extrinsics = chain_poses(poses)
    cameras = [_with_pose(c, np.concatenate([cv2.Rodrigues(e[:, :3])[0].ravel(), e[:, 3]]))
               for c, e in zip(cameras, extrinsics)]
    board_poses = _world_board_poses(extrinsics, poses)
    if config.bundle_adjust:
        cameras, board_poses = bundle_adjust(cameras, config.board, corners, used,
                                             np.nan_to_num(board_poses), config.refine_intrinsics)
    board_poses[~used.any(axis=0)] = np.nan
    joint = _joint_errors(cameras, config.board, corners, used, board_poses)
    errors = pd.DataFrame({
        "camera": np.repeat(list(names), len(views)), "view": list(views) * len(names),
        "detected": np.isfinite(corners).all(axis=(2, 3)).ravel(), "used": used.ravel(),
        "intrinsic_error": np.concatenate([f[2] for f in fitted]), "error": joint.ravel()})
    calibration = Calibration(tuple(cameras), error=float(np.nanmean(joint)),
                              adjusted=config.bundle_adjust)
    return CalibrationResult(calibration, errors, board_poses)


def error_summary(errors: pd.DataFrame) -> pd.DataFrame:
    """Per camera: views detected and used, mean and max reprojection error (pixels)."""
    return errors.groupby("camera", sort=False).agg(
        views=("view", "size"), detected=("detected", "sum"), used=("used", "sum"),
        mean_error=("error", "mean"), max_error=("error", "max"))


def save_errors(path: str | os.PathLike, errors: pd.DataFrame) -> Path:
    """Write the per-camera, per-view error table (``CalibrationResult.errors``) as CSV,
    atomically; return the path."""
    path = Path(path)
    with atomic_path(path) as tmp:
        errors.to_csv(tmp, index=False)
    return path
