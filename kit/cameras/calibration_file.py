"""Anipose's ``calibration.toml``: the one module that reads and writes it; the camera model.

Layout (as Anipose and Lightning Pose read it)::

    [cam_0]
    name = "Cam-A"
    size = [832, 632]                      # width, height in pixels
    matrix = [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]
    distortions = [k1, k2, p1, p2, k3]     # OpenCV's model
    rotation = [rx, ry, rz]                # Rodrigues vector, world -> camera
    translation = [tx, ty, tz]             # world -> camera, world units
    [metadata]
    adjusted = true
    error = 0.42                           # reprojection error of the calibration, pixels

A world point X maps to camera coordinates ``R X + t`` (R from ``rotation``).
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from kit.project import atomic_write_text


@dataclass(frozen=True, eq=False)
class Camera:
    """One calibrated camera (OpenCV's pinhole model with 5 distortion coefficients).

    Attributes:
        name: the camera's name (``Cam-A``, ``left``).
        size: (width, height) of its images, pixels.
        matrix: (3, 3) intrinsic matrix, pixels.
        distortions: (5,) k1, k2, p1, p2, k3.
        rotation: (3,) Rodrigues vector, world -> camera.
        translation: (3,) world -> camera, world units.
    """

    name: str
    size: tuple[int, int]
    matrix: np.ndarray
    distortions: np.ndarray = field(default_factory=lambda: np.zeros(5))
    rotation: np.ndarray = field(default_factory=lambda: np.zeros(3))
    translation: np.ndarray = field(default_factory=lambda: np.zeros(3))

    def __post_init__(self):
        for name, shape in (("matrix", (3, 3)), ("rotation", (3,)), ("translation", (3,))):
            value = np.asarray(getattr(self, name), dtype=np.float64)
            if value.shape != shape:
                raise ValueError(f"Camera {self.name!r}: {name} must have shape {shape}. "
                                 f"Received: {value.shape}.")
            object.__setattr__(self, name, value)
        dist = np.asarray(self.distortions, dtype=np.float64).ravel()
        if len(dist) > 5:
            raise ValueError(f"Camera {self.name!r}: at most 5 distortions (k1, k2, p1, p2, k3). "
                             f"Received: {len(dist)}.")
        object.__setattr__(self, "distortions", np.pad(dist, (0, 5 - len(dist))))
        object.__setattr__(self, "size", (int(self.size[0]), int(self.size[1])))

    @property
    def rotation_matrix(self) -> np.ndarray:
        """(3, 3) world -> camera rotation."""
        return cv2.Rodrigues(self.rotation)[0]

    @property
    def extrinsics(self) -> np.ndarray:
        """(3, 4) [R | t]: world -> camera coordinates."""
        return np.hstack([self.rotation_matrix, self.translation[:, None]])

    @property
    def center(self) -> np.ndarray:
        """(3,) the camera's optical centre in world coordinates: -R^T t."""
        return -self.rotation_matrix.T @ self.translation

    def project(self, points: np.ndarray) -> np.ndarray:
        """World points (..., 3) -> image points (..., 2), pixels, with distortion (as
        ``cv2.projectPoints``); NaN in, NaN out."""
        points = np.asarray(points, dtype=np.float64)
        cam = points @ self.rotation_matrix.T + self.translation
        xy = cam[..., :2] / cam[..., 2:]
        return self.distort(xy)

    def distort(self, xy: np.ndarray) -> np.ndarray:
        """Normalized coordinates (..., 2) -> pixels (..., 2) through distortion and intrinsics."""
        k1, k2, p1, p2, k3 = self.distortions
        x, y = xy[..., 0], xy[..., 1]
        r2 = x * x + y * y
        radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
        xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
        yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
        m = self.matrix
        return np.stack([m[0, 0] * xd + m[0, 1] * yd + m[0, 2], m[1, 1] * yd + m[1, 2]], axis=-1)

    def undistort(self, pixels: np.ndarray, iterations: int = 50) -> np.ndarray:
        """Pixels (..., 2) -> normalized coordinates (..., 2) (x/z, y/z in the camera frame).

        OpenCV's fixed-point inversion of the distortion, run to ``iterations`` (OpenCV
        stops at 5, which leaves ~1e-4 px with strong distortion).
        """
        m = self.matrix
        pixels = np.asarray(pixels, dtype=np.float64)
        y0 = (pixels[..., 1] - m[1, 2]) / m[1, 1]
        x0 = (pixels[..., 0] - m[0, 2] - m[0, 1] * y0) / m[0, 0]
        k1, k2, p1, p2, k3 = self.distortions
        x, y = x0.copy(), y0.copy()
        for _ in range(iterations if self.distortions.any() else 0):
            r2 = x * x + y * y
            radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
            dx = 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
            dy = p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
            x, y = (x0 - dx) / radial, (y0 - dy) / radial
        return np.stack([x, y], axis=-1)


@dataclass(frozen=True, eq=False)
class Calibration:
    """Cameras of one rig, in file order, and how well they were calibrated.

    Attributes:
        cameras: the cameras (``cam_0``, ``cam_1``, ...).
        error: reprojection error of the calibration, pixels (NaN if unknown).
        adjusted: whether the poses were refined jointly (bundle adjustment).
    """

    cameras: tuple[Camera, ...]
    error: float = math.nan
    adjusted: bool = False

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.cameras]

    def camera(self, name: str) -> Camera:
        """The camera called ``name``; KeyError naming the cameras if there is none."""
        for c in self.cameras:
            if c.name == name:
                return c
        raise KeyError(f"No camera named {name!r}. The calibration has {self.names}.")


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return repr(float(value))  # shortest round-trip text; 'nan'/'inf' are TOML too
    if isinstance(value, (list, tuple, np.ndarray)):
        return "[ " + ", ".join(_toml_value(v) for v in value) + ",]"
    raise TypeError(f"Cannot write {type(value).__name__} to TOML. Received: {value!r}.")


def calibration_text(calibration: Calibration) -> str:
    """The TOML text of ``calibration`` in Anipose's layout (one-line arrays, as Anipose
    writes them; the ``toml`` package Anipose uses reads them)."""
    lines = []
    for i, cam in enumerate(calibration.cameras):
        lines += [f"[cam_{i}]", f"name = {_toml_value(cam.name)}",
                  f"size = {_toml_value(list(cam.size))}", f"matrix = {_toml_value(cam.matrix)}",
                  f"distortions = {_toml_value(cam.distortions)}",
                  f"rotation = {_toml_value(cam.rotation)}",
                  f"translation = {_toml_value(cam.translation)}", ""]
    lines += ["[metadata]", f"adjusted = {_toml_value(bool(calibration.adjusted))}",
              f"error = {_toml_value(float(calibration.error))}", ""]
    return "\n".join(lines)


def save_calibration(path: str | os.PathLike, calibration: Calibration) -> Path:
    """Write ``calibration`` to ``path`` (``calibration.toml``) atomically; return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, calibration_text(calibration))
    return path


def _camera_from_table(key: str, table: dict, path: Path) -> Camera:
    missing = [k for k in ("size", "matrix", "distortions", "rotation", "translation")
               if k not in table]
    if missing:
        raise ValueError(f"{path}: [{key}] lacks {missing}. An Anipose calibration table needs "
                         "name, size, matrix, distortions, rotation and translation.")
    return Camera(name=str(table.get("name", key)), size=tuple(table["size"]),
                  matrix=table["matrix"], distortions=table["distortions"],
                  rotation=table["rotation"], translation=table["translation"])


def read_calibration(path: str | os.PathLike) -> Calibration:
    """Read an Anipose ``calibration.toml`` (cameras in ``cam_0``, ``cam_1``, ... order)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No calibration file at {path}. Calibrate the cameras first "
                                "(notebooks/13_calibrate_cameras.ipynb).")
    try:
        tables = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"{path} is not valid TOML ({e}). Is it a calibration.toml?") from e
    keys = sorted((k for k in tables if k.startswith("cam_")), key=lambda k: int(k[4:]))
    if not keys:
        raise ValueError(f"{path} holds no [cam_0], [cam_1], ... tables. Received tables: "
                         f"{sorted(tables)}.")
    meta = tables.get("metadata", {})
    return Calibration(tuple(_camera_from_table(k, tables[k], path) for k in keys),
                       error=float(meta.get("error", math.nan)),
                       adjusted=bool(meta.get("adjusted", False)))


def check_cameras(calibration: Calibration, names: Sequence[str]) -> list[Camera]:
    """The cameras named ``names``, in that order; raise naming the ones missing."""
    missing = [n for n in names if n not in calibration.names]
    if missing:
        raise ValueError(f"Cameras {missing} are not in the calibration, which has "
                         f"{calibration.names}. Rename the inputs or recalibrate.")
    return [calibration.camera(n) for n in names]
