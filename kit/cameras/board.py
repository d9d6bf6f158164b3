"""The calibration chessboard: its corners in the world, and found in images and videos.

Corners are OpenCV's inner corners, ordered row by row (x fastest): corner
``r * columns + c`` lies at ``(c * square_size, r * square_size, 0)`` on the board.
OpenCV lists the corners of a chessboard in one of four orders (either end of either
axis); :func:`detect_corners` makes it the board's own: seen from the printed side, rows
run along +x and follow each other along +y with x cross y pointing into the board
(OpenCV's convention), and corner 0 is the one whose outer square is darker than the
last corner's. That needs one even and one odd count of inner corners (9 x 6: the
board then differs from itself turned by 180 degrees); with two odd or two even counts
the order is taken with the first row running left to right in the image.
"""

from __future__ import annotations

import glob
import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from kit.project.video import iter_frames

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv")


def _read_image(path: Path) -> np.ndarray:
    """RGB uint8 (H, W, 3). Not ``kit.data.load_image``: that module imports Keras (seconds)."""
    image = cv2.imdecode(np.fromfile(path, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"Cannot decode {path} as an image. Check the file or leave it out.")
    return image[:, :, ::-1].copy()


@dataclass(frozen=True)
class Board:
    """A chessboard.

    Attributes:
        columns: inner corners along a row (OpenCV's pattern width; 9 for a 10x7-square board).
        rows: inner corners along a column.
        square_size: side of a square in world units (e.g. mm); fixes the scale of 3D.
    """

    columns: int = 9
    rows: int = 6
    square_size: float = 1.0

    def __post_init__(self):
        if self.columns < 2 or self.rows < 2 or self.columns == self.rows:
            raise ValueError(
                f"A board needs >= 2 inner corners each way and columns != rows (a square "
                f"pattern has no orientation). Received: columns={self.columns}, rows={self.rows}."
            )
        if not self.square_size > 0:
            raise ValueError(f"square_size must be positive. Received: {self.square_size!r}.")

    @property
    def num_corners(self) -> int:
        return self.columns * self.rows

    def object_points(self) -> np.ndarray:
        """(num_corners, 3) corners on the board plane (z = 0), world units, OpenCV's order."""
        r, c = np.divmod(np.arange(self.num_corners), self.columns)
        return np.stack([c, r, np.zeros_like(c)], axis=1).astype(np.float64) * self.square_size


def _subpixel_window(corners: np.ndarray, board: Board) -> tuple[int, int]:
    """Half-size of cornerSubPix's search window: under half the corner spacing along either
    axis of the board (a tilted board is foreshortened along one), at most 11."""
    grid = corners.reshape(board.rows, board.columns, 2)
    spacing = min(np.linalg.norm(np.diff(grid, axis=axis), axis=2).min() for axis in (0, 1))
    half = int(np.clip(0.4 * spacing, 2, 11))
    return half, half


def detect_corners(image: np.ndarray, board: Board) -> np.ndarray | None:
    """Find the board's inner corners with sub-pixel precision.

    Args:
        image: (H, W, 3) RGB or (H, W) grey, uint8.

    Returns:
        (num_corners, 2) x, y in pixels (pixel centres at integers), in the board's
        order (see the module docstring), or None when the whole board is not found.
    """
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
    flags = cv2.CALIB_CB_ADAPTIVE_THRESH | cv2.CALIB_CB_NORMALIZE_IMAGE
    found, corners = cv2.findChessboardCorners(grey, (board.columns, board.rows), flags=flags)
    if not found:
        return None
    corners = np.ascontiguousarray(corners.reshape(-1, 1, 2), dtype=np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 100, 1e-4)
    corners = cv2.cornerSubPix(grey, corners, _subpixel_window(corners[:, 0], board), (-1, -1),
                               criteria).reshape(-1, 2).astype(np.float64)
    return _board_order(corners, grey, board)


def _outer_square_level(grey: np.ndarray, corners: np.ndarray, corner: int, step: np.ndarray
                        ) -> float:
    """Mean grey level of a 3x3 patch at the centre of the square outside ``corner``."""
    x, y = np.round(corners[corner] + 0.5 * step).astype(int)
    h, w = grey.shape
    return float(grey[np.clip(y - 1, 0, h - 1):y + 2, np.clip(x - 1, 0, w - 1):x + 2].mean())


def _board_order(corners: np.ndarray, grey: np.ndarray, board: Board) -> np.ndarray:
    """Reorder OpenCV's corners (num_corners, 2) into the board's order (module docstring)."""
    grid = corners.reshape(board.rows, board.columns, 2)
    along, across = grid[0, 1] - grid[0, 0], grid[1, 0] - grid[0, 0]
    if along[0] * across[1] - along[1] * across[0] < 0:  # mirrored: rows follow the other way
        grid = grid[::-1]
    corners = grid.reshape(-1, 2)
    if (board.columns + board.rows) % 2 == 0:
        turn = corners[board.columns - 1, 0] < corners[0, 0]
    else:
        first = _outer_square_level(grey, corners, 0, (corners[0] - corners[board.columns + 1]))
        last = _outer_square_level(grey, corners, -1,
                                   corners[-1] - corners[-board.columns - 2])
        turn = first > last
    return corners[::-1].copy() if turn else corners.copy()


def view_sources(pattern: str, camera: str) -> list[Path]:
    """The image files (sorted) or the one video of ``camera``: ``pattern`` with ``{camera}``
    replaced, a glob (``/data/{camera}*.jpg``, ``/data/{camera}/board.mp4``)."""
    if "{camera}" not in pattern:
        raise ValueError(f"pattern must contain '{{camera}}'. Received: pattern={pattern!r}.")
    paths = sorted(Path(p) for p in glob.glob(pattern.replace("{camera}", camera)))
    videos = [p for p in paths if p.suffix.lower() in VIDEO_SUFFIXES]
    if not paths or (videos and len(paths) > 1):
        raise ValueError(
            f"Camera {camera!r}: {pattern.replace('{camera}', camera)!r} matches {len(paths)} "
            "files. It must match that camera's images, or one video."
        )
    return paths


def iter_views(sources: list[Path], every: int = 1) -> Iterator[tuple[str, np.ndarray]]:
    """(view name, RGB image) of each image in ``sources``, or every ``every``-th frame of
    the one video in it (named ``frame000042``)."""
    if sources[0].suffix.lower() in VIDEO_SUFFIXES:
        for index, frame in iter_frames(sources[0], step=every):
            yield f"frame{index:06d}", frame
        return
    for path in sources[::every]:
        yield path.stem, _read_image(path)


def detect_views(pattern: str, cameras: list[str], board: Board, every: int = 1
                 ) -> tuple[list[str], np.ndarray, tuple[int, int]]:
    """Corners of the board in every camera's views; views are matched by position in order.

    Returns:
        views: names of the views (the first camera's, its name taken out: left01 -> 01).
        corners: (num_cameras, num_views, num_corners, 2) pixels, NaN where not found.
        size: (width, height) of the images (the same for every camera, else raises).
    """
    per_camera, names, sizes = [], [], set()
    for camera in cameras:
        found = []
        for name, image in iter_views(view_sources(pattern, camera), every):
            sizes.add((image.shape[1], image.shape[0]))
            corners = detect_corners(image, board)
            found.append(np.full((board.num_corners, 2), np.nan) if corners is None else corners)
            if not per_camera:
                names.append(name.replace(camera, "") or name)  # left01 -> 01
        if per_camera and len(found) != len(per_camera[0]):
            raise ValueError(f"Camera {camera!r} has {len(found)} views, {cameras[0]!r} has "
                             f"{len(per_camera[0])}. Give every camera the same views, in order.")
        per_camera.append(found)
    if len(sizes) != 1:
        raise ValueError(f"Images of different sizes {sorted(sizes)}: calibrate them separately.")
    return names, np.asarray(per_camera, dtype=np.float64), sizes.pop()



def unpack_views(views: str | os.PathLike, folder: str | os.PathLike) -> Path:
    """The folder of board views: ``views`` itself, or a ``.zip`` of them extracted into
    ``folder`` (once; extracting again overwrites the same files)."""
    views = Path(views)
    if views.suffix.lower() != ".zip":
        if not views.is_dir():
            raise FileNotFoundError(f"No folder of board views at {views}. Pass the folder (or "
                                    ".zip) holding every camera's board images or videos.")
        return views
    if not views.is_file():
        raise FileNotFoundError(f"No zip of board views at {views}. Check the path.")
    folder = Path(folder)
    with zipfile.ZipFile(views) as archive:
        archive.extractall(folder)
    return folder
