"""A synthetic camera rig with exact truth: boards to calibrate from, animals moving in 3D.

:func:`make_rig` places 2-4 cameras around the origin, looking down at it (world z up,
millimetres), with known intrinsics and distortion. :func:`make_rig_project` writes a
complete multi-camera project folder (see :class:`RigFolder`): per camera, images of a
chessboard in random poses (each pose seen by every camera at once) rendered with the
camera's distortion, a video of one stick animal (or several, apart), and their exact 2D
points as a DeepLabCut analysis table (likelihood 1; several animals: the multi-animal
layout, individuals ``individual1``, ``individual2``... as kit's tracker names them);
beside them the true 3D (``ground_truth_3d.h5``, with an individuals level for several
animals) and the true ``calibration.toml``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from kit.cameras.board import Board
from kit.cameras.calibration_file import Calibration, Camera, save_calibration
from kit.cameras.pose_tables import COORDS_2D, COORDS_3D, make_table, save_table
from kit.project.video import write_video

BODYPARTS = ("snout", "leftear", "rightear", "neck", "spine", "tailbase", "tailtip")
SKELETON = [["snout", "leftear"], ["snout", "rightear"], ["leftear", "neck"],
            ["rightear", "neck"], ["neck", "spine"], ["spine", "tailbase"],
            ["tailbase", "tailtip"]]
# Body frame, mm: x forward, y left, z up; the tail tip swings about the tail base.
_BODY = np.array([[40, 0, 25], [25, 9, 33], [25, -9, 33], [15, 0, 28], [-5, 0, 30],
                  [-30, 0, 22], [-70, 0, 10]], dtype=np.float64)
SCORER = "synthetic"
ANIMAL_SPACING = 200.0  # mm along world x between the centres of two animals' walks


@dataclass(frozen=True)
class RigFolder:
    """Paths of a synthetic rig's project folder (all built here)."""

    root: Path

    @property
    def calibration(self) -> Path:
        return self.root / "calibration.toml"

    @property
    def ground_truth(self) -> Path:
        return self.root / "ground_truth_3d.h5"

    def board_dir(self, camera: str) -> Path:
        """The folder of ``camera``'s chessboard images."""
        return self.root / camera / "board"

    def video(self, camera: str) -> Path:
        """``camera``'s video of the animal."""
        return self.root / camera / "animal.mp4"

    def analysis(self, camera: str) -> Path:
        """``camera``'s 2D table of the animal (DeepLabCut's layout)."""
        return self.root / camera / "animal_2d.h5"

    @property
    def board_pattern(self) -> str:
        """The views pattern of :func:`kit.cameras.board.view_sources`."""
        return str(self.root / "{camera}" / "board" / "*.png")

    @property
    def analysis_pattern(self) -> str:
        return str(self.root / "{camera}" / "animal_2d.h5")


def look_at(center: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(3, 3) world -> camera rotation of a camera at ``center`` looking at ``target``,
    image up along world +z."""
    z = target - center
    z /= np.linalg.norm(z)
    x = np.cross(z, [0.0, 0.0, 1.0])
    x /= np.linalg.norm(x)
    return np.stack([x, np.cross(z, x), z])


def make_rig(num_cameras: int = 3, image_size: tuple[int, int] = (320, 240), seed: int = 0,
             distance: float = 600.0) -> Calibration:
    """Cameras spread over 120 degrees of azimuth at 45-55 degrees elevation, ``distance`` mm
    from the origin, each with its own focal length, principal point and radial distortion."""
    if not 2 <= num_cameras <= 8:
        raise ValueError(f"num_cameras must be 2 to 8. Received: {num_cameras}.")
    rng = np.random.default_rng(seed)
    w, h = image_size
    cameras = []
    for i, azimuth in enumerate(np.linspace(-60, 60, num_cameras) + rng.uniform(-5, 5, num_cameras)):
        az, el = math.radians(azimuth), math.radians(rng.uniform(45, 55))
        center = distance * np.array([math.cos(el) * math.sin(az), -math.cos(el) * math.cos(az),
                                      math.sin(el)])
        rotation = look_at(center, rng.uniform(-10, 10, 3))
        f = w * rng.uniform(1.3, 1.5)
        matrix = [[f, 0, w / 2 + rng.uniform(-5, 5)], [0, f, h / 2 + rng.uniform(-5, 5)], [0, 0, 1]]
        dist = [rng.uniform(-0.25, 0.05), rng.uniform(-0.05, 0.1), 0, 0, 0]
        cameras.append(Camera(f"cam{i}", (w, h), matrix, dist, cv2.Rodrigues(rotation)[0].ravel(),
                              -rotation @ center))
    return Calibration(tuple(cameras), error=0.0, adjusted=True)


def board_poses(num_views: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Random board poses near the origin: (3, 3) board -> world rotation (printed side up,
    tilted up to 35 degrees from horizontal, turned up to 20 degrees about z) and (3,)
    position, mm."""
    rng = np.random.default_rng(seed)
    poses = []
    for _ in range(num_views):
        axis = np.append(rng.normal(size=2), 0.0)
        tilt = axis / np.linalg.norm(axis) * math.radians(rng.uniform(10, 35))
        turn = np.array([0.0, 0.0, math.radians(rng.uniform(-20, 20))])
        face_up = np.diag([1.0, -1.0, -1.0])  # the board's z points into the table
        rotation = cv2.Rodrigues(tilt)[0] @ cv2.Rodrigues(turn)[0] @ face_up
        poses.append((rotation, rng.uniform([-50, -50, -20], [50, 50, 40])))
    return poses


def board_world_points(board: Board, rotation: np.ndarray, position: np.ndarray,
                       points: np.ndarray | None = None) -> np.ndarray:
    """Board-plane points (default its corners) (P, 3) -> world (P, 3), the board centred on
    ``position``."""
    points = board.object_points() if points is None else points
    centre = np.array([(board.columns - 1) / 2, (board.rows - 1) / 2, 0]) * board.square_size
    return (points - centre) @ rotation.T + position


def _square_outlines(board: Board, steps: int = 8) -> tuple[np.ndarray, list[np.ndarray]]:
    """Board-plane outlines (each (4 * steps, 3)): the white board with a one-square margin,
    then the black squares; edges subdivided so distortion bends them."""
    s = board.square_size

    def outline(x0, y0, x1, y1):
        t = np.linspace(0, 1, steps, endpoint=False)[:, None]
        a, b, c, d = (np.array(p, float) for p in ((x0, y0), (x1, y0), (x1, y1), (x0, y1)))
        xy = np.concatenate([a + t * (b - a), b + t * (c - b), c + t * (d - c), d + t * (a - d)])
        return np.hstack([xy, np.zeros((len(xy), 1))])

    white = outline(-2 * s, -2 * s, (board.columns + 1) * s, (board.rows + 1) * s)
    black = [outline((i - 1) * s, (j - 1) * s, i * s, j * s)
             for i in range(board.columns + 1) for j in range(board.rows + 1) if (i + j) % 2 == 0]
    return white, black


def render_board(camera: Camera, board: Board, rotation: np.ndarray, position: np.ndarray,
                 rng: np.random.Generator, supersample: int = 8) -> np.ndarray:
    """RGB (H, W, 3) uint8 image of the board in one pose, through ``camera``'s distortion.

    Drawn ``supersample`` times larger without anti-aliasing, then averaged down (squares
    that touch at a corner stay exact there, which cv2's per-polygon anti-aliasing is not).
    """
    w, h = camera.size
    s = supersample
    image = np.full((h * s, w * s), 90, np.uint8)
    white, black = _square_outlines(board)
    for polygon, value in [(white, 235)] + [(p, 25) for p in black]:
        pixels = camera.project(board_world_points(board, rotation, position, polygon))
        # Pixel centres are at integers at both sizes; cv2's shift=4 takes 1/16 pixels.
        fixed = np.round((s * (pixels + 0.5) - 0.5) * 16).astype(np.int32)
        cv2.fillPoly(image, [fixed], int(value), cv2.LINE_8, shift=4)
    image = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
    noisy = image + rng.normal(0, 2.0, image.shape)
    return cv2.cvtColor(np.clip(noisy, 0, 255).astype(np.uint8), cv2.COLOR_GRAY2RGB)


def _visible(camera: Camera, points: np.ndarray, margin: float = 12.0) -> bool:
    pixels = camera.project(points)
    w, h = camera.size
    return bool(np.all((pixels >= margin) & (pixels <= [w - margin, h - margin])))


def animal_trajectory(num_frames: int, seed: int = 0) -> np.ndarray:
    """(num_frames, len(BODYPARTS), 3) world points, mm: a rigid stick body on a smooth random
    walk near the origin, heading along its velocity, with a wagging tail."""
    rng = np.random.default_rng(seed)
    position, velocity, heading = np.zeros(2), rng.normal(size=2), rng.uniform(-3, 3)
    out = np.empty((num_frames, len(BODYPARTS), 3))
    for t in range(num_frames):
        velocity = 0.95 * velocity + 0.3 * rng.normal(size=2) - 0.005 * position
        position = position + velocity
        heading += 0.1 * math.remainder(math.atan2(velocity[1], velocity[0]) - heading, math.tau)
        body = _BODY.copy()
        wag = 0.5 * math.sin(0.15 * t)
        tail = body[6] - body[5]
        body[6] = body[5] + [tail[0] * math.cos(wag), tail[0] * math.sin(wag), tail[2]]
        c, s = math.cos(heading), math.sin(heading)
        out[t] = body @ np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]).T + [*position, 0]
    return out


def animal_names(num_animals: int) -> list[str] | None:
    """The individuals of a rig's tables: None (single-animal layout) for one animal, else
    ``individual1``, ``individual2``... (kit's tracked analyses' names)."""
    return None if num_animals == 1 else [f"individual{i + 1}" for i in range(num_animals)]


def animals_trajectory(num_frames: int, num_animals: int = 1, seed: int = 0) -> np.ndarray:
    """(num_frames, num_animals, len(BODYPARTS), 3) world points, mm: each animal's own
    :func:`animal_trajectory`, their walks centred ``ANIMAL_SPACING`` apart along world x
    (so that they never touch), around the origin."""
    if num_animals < 1:
        raise ValueError(f"num_animals must be at least 1. Received: {num_animals}.")
    centres = (np.arange(num_animals) - (num_animals - 1) / 2) * ANIMAL_SPACING
    return np.stack([animal_trajectory(num_frames, seed + 101 * a) + [centre, 0, 0]
                     for a, centre in enumerate(centres)], axis=1)


def render_animal(camera: Camera, points: np.ndarray) -> list[np.ndarray]:
    """RGB frames (H, W, 3) of stick animals (N, I, K, 3) (or one: (N, K, 3)), world mm,
    seen by ``camera``."""
    w, h = camera.size
    points = points if points.ndim == 4 else points[:, None]
    pixels = camera.project(points)
    index = {name: k for k, name in enumerate(BODYPARTS)}
    hues = np.linspace(0, 150, len(BODYPARTS)).astype(np.uint8)
    colours = cv2.cvtColor(np.stack([hues, np.full_like(hues, 220), np.full_like(hues, 255)],
                                    axis=1)[None], cv2.COLOR_HSV2RGB)[0].tolist()
    frames = []
    for frame_points in np.round(pixels * 16).astype(np.int32):
        frame = np.full((h, w, 3), 40, np.uint8)
        for animal in frame_points:
            for a, b in SKELETON:
                cv2.line(frame, animal[index[a]], animal[index[b]], (200, 200, 200), 1,
                         cv2.LINE_AA, shift=4)
            for k, point in enumerate(animal):
                cv2.circle(frame, point, 3 * 16, colours[k], -1, cv2.LINE_AA, shift=4)
        frames.append(frame)
    return frames


# size: the rig's shape, one keyword each (as make_rig); a config would only rename them
def make_rig_project(root: str | os.PathLike, num_cameras: int = 3, num_views: int = 15,
                     num_frames: int = 60, image_size: tuple[int, int] = (320, 240),
                     seed: int = 0, num_animals: int = 1) -> RigFolder:
    """Write a synthetic multi-camera project (see the module docstring); return its folder.

    The board has 9 x 6 inner corners of 20 mm. Board poses are drawn until every camera
    sees the whole board (plus a margin), so every view is usable for calibration.
    ``num_animals`` animals walk apart (:func:`animals_trajectory`); one animal's tables
    have DeepLabCut's single-animal layout, several animals' the multi-animal one.
    """
    folder = RigFolder(Path(root))
    rig = make_rig(num_cameras, image_size, seed)
    board = Board(9, 6, 20.0)
    rng = np.random.default_rng(seed + 1)
    poses, candidates = [], iter(board_poses(100 * num_views, seed + 2))
    while len(poses) < num_views:
        pose = next(candidates)
        if all(_visible(c, board_world_points(board, *pose)) for c in rig.cameras):
            poses.append(pose)
    truth = animals_trajectory(num_frames, num_animals, seed + 3)  # (N, I, K, 3)
    individuals = animal_names(num_animals)
    for camera in rig.cameras:
        folder.board_dir(camera.name).mkdir(parents=True, exist_ok=True)
        for v, pose in enumerate(poses):
            image = render_board(camera, board, *pose, rng)
            cv2.imwrite(str(folder.board_dir(camera.name) / f"view{v:03d}.png"), image[:, :, ::-1])
        write_video(folder.video(camera.name), render_animal(camera, truth), fps=30)
        points = np.concatenate([camera.project(truth), np.ones((*truth.shape[:-1], 1))], axis=-1)
        save_table(make_table(points, SCORER, BODYPARTS, COORDS_2D, individuals),
                   folder.analysis(camera.name))
    zeros = np.zeros((*truth.shape[:-1], 1))
    table = np.concatenate([truth, zeros, zeros + num_cameras], axis=-1)
    save_table(make_table(table, SCORER, BODYPARTS, COORDS_3D, individuals), folder.ground_truth)
    save_calibration(folder.calibration, rig)
    return folder
