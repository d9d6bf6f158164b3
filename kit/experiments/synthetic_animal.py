"""The synthetic animal: drawing it, its exact body part positions, and rendering a video.

One "animal" per video, seen from above like a mouse in an open field: a body
ellipse, a head with a pointed snout, two ears and eyes, and a wagging tail.
It walks (random walk with momentum, steering away from the walls), turns its
head, and grows and shrinks by up to 20% (rearing, distance to the camera), over
a cluttered background (random shapes and texture, fixed per video) under
uneven lighting (gradient times vignette), with fresh pixel noise in every frame.
Shapes are drawn anti-aliased with 1/16-pixel precision (OpenCV's ``shift``),
and the body part positions are the drawn geometry itself, so the ground truth
is exact to 1/32 pixel.

Body parts (config order): ``snout`` (tip of the snout), ``leftear`` and
``rightear`` (centres of the ears; left and right relative to the animal's
heading, so mirroring the image swaps them), ``tailbase`` (back end of the body
ellipse, where the tail starts).

In about 5% of frames one body part is hidden under an occluder (a disk drawn
over it, like a cable or the experimenter's hand): it is NaN in the labels
(DeepLabCut's "not visible") and has likelihood 0 in the ground truth.

:func:`render_video` writes one video and returns its true positions; turning
that into a project on disk is :mod:`kit.experiments.synthetic`'s job. The drawing pieces
(:class:`Animal`, :class:`Pose`, :func:`draw_animal`, :func:`covers`, :func:`background`,
:func:`finish_frame`) also draw several animals into one frame (:mod:`kit.experiments.synthetic_group`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from kit.project.video import write_video

BODYPARTS = ("snout", "leftear", "rightear", "tailbase")
SKELETON = [["snout", "leftear"], ["snout", "rightear"], ["snout", "tailbase"]]
OCCLUSION_RATE = 0.05  # fraction of frames with one body part hidden
SIZE_CHANGE = 0.2  # the animal's scale varies within 1 +- SIZE_CHANGE
_SHIFT = 4  # OpenCV draws at 1/2**_SHIFT pixel precision
_ONE = 1 << _SHIFT


@dataclass(frozen=True)
class Animal:
    """One animal's looks; lengths in pixels at scale 1."""

    length: float  # snout-to-tailbase scale: the body ellipse is this long
    width_ratio: float  # body width / length
    body_rgb: tuple[float, float, float]
    ear_rgb: tuple[float, float, float]
    ear_size: tuple[float, float]  # ear ellipse half-axes, fractions of length
    ear_tilt: float  # degrees the ears turn backwards
    tail_length: float  # fraction of length
    occluder_rgb: tuple[float, float, float]


@dataclass(frozen=True)
class Pose:
    """Where the synthetic animal is and how it is posed in one frame (pixels, radians)."""
    x: float
    y: float
    heading: float  # radians, image axes (x right, y down)
    head_yaw: float  # radians, head relative to body
    scale: float
    tail_phase: float


def _q(value: np.ndarray) -> np.ndarray:
    """Snap to the 1/16-pixel grid OpenCV draws on, so drawing and ground truth agree."""
    return np.round(np.asarray(value, dtype=np.float64) * _ONE) / _ONE


def _fixed(point: np.ndarray) -> tuple[int, int]:
    return round(point[0] * _ONE), round(point[1] * _ONE)


def random_animal(rng: np.random.Generator, width: int, height: int, floor: float) -> Animal:
    """An animal of random size and colours for a ``width`` x ``height`` frame whose floor has
    brightness ``floor``."""
    length = rng.uniform(0.22, 0.28) * min(width, height)
    contrast = rng.uniform(55, 95) * rng.choice([-1.0, 1.0])
    brightness = float(np.clip(floor + contrast, 15, 240))
    body = np.clip(brightness * rng.uniform([0.95, 0.85, 0.75], [1.05, 1.0, 0.95]), 0, 255)
    ear = 0.5 * body + 0.5 * np.array([235.0, 150.0, 165.0])
    return Animal(
        length=float(length),
        width_ratio=float(rng.uniform(0.25, 0.31)),
        body_rgb=tuple(body.tolist()),
        ear_rgb=tuple(ear.tolist()),
        ear_size=(float(rng.uniform(0.07, 0.11)), float(rng.uniform(0.045, 0.07))),
        ear_tilt=float(rng.uniform(-25, 25)),
        tail_length=float(rng.uniform(0.7, 1.0)),
        occluder_rgb=tuple(rng.uniform(30, 220, 3).tolist()),
    )


def background(
    rng: np.random.Generator, width: int, height: int, floor: float | None = None
) -> tuple[np.ndarray, np.ndarray, float]:
    """Unlit scene uint8 (H, W, 3), lighting (H, W) float32 (about 0.5-1.3), floor brightness
    (0-255; drawn from ``rng`` when None)."""
    floor = float(rng.uniform(90, 170)) if floor is None else float(floor)
    base = floor + rng.uniform(-12, 12, 3)
    coarse = rng.normal(0, 10, (height // 8 + 2, width // 8 + 2, 1)) + rng.normal(
        0, 4, (height // 8 + 2, width // 8 + 2, 3)
    )
    coarse = coarse.astype(np.float32)
    scene = base + cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    scene += cv2.GaussianBlur(rng.normal(0, 6, (height, width)).astype(np.float32), (0, 0), 1.0)[
        ..., None
    ]
    scene = np.clip(scene, 0, 255).astype(np.uint8)
    size = min(width, height)
    for _ in range(int(rng.integers(15, 30) * max(1.0, width * height / 256**2))):
        colour = tuple(np.clip(base + rng.normal(0, 45) + rng.normal(0, 18, 3), 0, 255).tolist())
        centre = np.array([rng.uniform(0, width), rng.uniform(0, height)])
        extent = rng.uniform(0.02, 0.12) * size
        kind = rng.integers(3)
        if kind == 0:
            cv2.circle(scene, _fixed(centre), int(extent * _ONE), colour, -1, cv2.LINE_AA, _SHIFT)
        elif kind == 1:
            box = cv2.boxPoints(
                (tuple(centre), (extent * 2, extent * rng.uniform(0.3, 2)), rng.uniform(0, 180))
            )
            cv2.fillConvexPoly(
                scene, (box * _ONE).round().astype(np.int32), colour, cv2.LINE_AA, _SHIFT
            )
        else:
            end = centre + rng.normal(0, 2 * extent, 2)
            cv2.line(
                scene,
                _fixed(centre),
                _fixed(end),
                colour,
                int(rng.integers(1, 4)),
                cv2.LINE_AA,
                _SHIFT,
            )
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    xs, ys = xs / width - 0.5, ys / height - 0.5
    angle = rng.uniform(0, 2 * np.pi)
    gradient = 1 + rng.uniform(0.2, 0.5) * (np.cos(angle) * xs + np.sin(angle) * ys)
    vignette = 1 - rng.uniform(0.15, 0.35) * (xs**2 + ys**2) * 2
    return scene, (gradient * vignette).astype(np.float32), floor


def _trajectory(
    rng: np.random.Generator, num_frames: int, width: int, height: int, animal: Animal
) -> list[Pose]:
    """A smooth walk that keeps the snout, ears and tail base inside the frame."""
    margin = 0.9 * animal.length * (1 + SIZE_CHANGE) + 1
    low, high = np.array([margin, margin]), np.array([width - margin, height - margin])
    position = rng.uniform(low, high)
    heading, turn, speed, yaw = rng.uniform(0, 2 * np.pi), 0.0, 0.0, 0.0
    period, phase = rng.uniform(60, 150), rng.uniform(0, 2 * np.pi)
    max_speed = 0.03 * min(width, height)
    poses = []
    for t in range(num_frames):
        to_centre = (low + high) / 2 - position
        wall = np.max(np.abs(to_centre) / np.maximum((high - low) / 2, 1e-6))  # 0 centre, 1 wall
        steer = math.sin(math.atan2(to_centre[1], to_centre[0]) - heading) * max(0.0, wall - 0.6)
        turn = 0.85 * turn + rng.normal(0, 0.06) + 0.3 * steer
        heading += turn
        speed = float(np.clip(0.9 * speed + rng.normal(0, 0.15 * max_speed), 0, max_speed))
        position = np.clip(
            position + speed * np.array([math.cos(heading), math.sin(heading)]), low, high
        )
        yaw = float(np.clip(0.9 * yaw + rng.normal(0, 0.08), -0.5, 0.5))
        scale = 1 + SIZE_CHANGE * math.sin(2 * np.pi * t / period + phase)
        poses.append(Pose(float(position[0]), float(position[1]), heading, yaw, scale, 0.35 * t))
    return poses


def _geometry(pose: Pose, animal: Animal) -> dict[str, np.ndarray | float]:
    """Every drawn point of the animal in image pixels (keys used by _draw_animal)."""
    length = animal.length * pose.scale
    centre = np.array([pose.x, pose.y])
    h = np.array([math.cos(pose.heading), math.sin(pose.heading)])
    left = np.array([h[1], -h[0]])  # y points down: the animal's left is heading turned -90 deg
    head_angle = pose.heading + pose.head_yaw
    hh = np.array([math.cos(head_angle), math.sin(head_angle)])
    hl = np.array([hh[1], -hh[0]])
    head = centre + 0.42 * length * h + 0.14 * length * hh
    ear_base = head - 0.04 * length * hh
    u = np.linspace(0, 1, 12)[:, None]
    tailbase = centre - 0.5 * length * h
    wag = 0.15 * length * np.sin(pose.tail_phase + 1.5 * np.pi * u) * u
    tail = tailbase - animal.tail_length * length * u * h + wag * left
    return {
        "length": length,
        "centre": centre,
        "angle": math.degrees(pose.heading),
        "head": head,
        "head_angle": math.degrees(head_angle),
        "head_left": hl,
        "snout": head + 0.32 * length * hh,
        "leftear": ear_base + 0.16 * length * hl,
        "rightear": ear_base - 0.16 * length * hl,
        "eyes": (head + 0.1 * length * (hh + 0.9 * hl), head + 0.1 * length * (hh - 0.9 * hl)),
        "tailbase": tailbase,
        "tail": tail,
    }


def keypoints(pose: Pose, animal: Animal) -> np.ndarray:
    """(num_bodyparts, 2), x then y, image pixels, in BODYPARTS order."""
    g = _geometry(pose, animal)
    return _q(np.stack([g[name] for name in BODYPARTS]))


def _ellipse(
    img: np.ndarray,
    centre: np.ndarray,
    axes: tuple[float, float],
    angle: float,
    colour: tuple[float, ...],
) -> None:
    fixed_axes = (max(1, round(axes[0] * _ONE)), max(1, round(axes[1] * _ONE)))
    cv2.ellipse(img, _fixed(centre), fixed_axes, angle, 0, 360, colour, -1, cv2.LINE_AA, _SHIFT)


def _silhouette(g: dict, animal: Animal) -> tuple[list[tuple], np.ndarray]:
    """The opaque shapes of an animal (tail and eyes aside), as drawn: ellipses
    ``(centre (2,), (half-axis along angle, other half-axis), angle in degrees, part)``
    in drawing order, and the snout triangle (3, 2); image pixels."""
    length = g["length"]
    ellipses = [(g["centre"], (0.5 * length, animal.width_ratio * length), g["angle"], "body"),
                (g["head"], (0.22 * length, 0.17 * length), g["head_angle"], "head")]
    ear_axes = (animal.ear_size[0] * length, animal.ear_size[1] * length)
    for name, sign in (("leftear", -1), ("rightear", 1)):
        ellipses.append((_q(g[name]), ear_axes, g["head_angle"] + 90 + sign * animal.ear_tilt,
                         "ear"))
    side = 0.14 * length * g["head_left"]
    return ellipses, _q(np.stack([g["head"] + side, g["snout"], g["head"] - side]))


def covers(pose: Pose, animal: Animal, points: np.ndarray) -> np.ndarray:
    """Which ``points`` (P, 2), x then y image pixels, lie under the animal drawn at ``pose``:
    (P,) bool, True inside its body, head, snout or ears (the thin tail hides nothing)."""
    points = np.asarray(points, np.float64).reshape(-1, 2)
    inside = np.zeros(len(points), bool)
    if np.hypot(points[:, 0] - pose.x, points[:, 1] - pose.y).min(initial=np.inf) > (
            0.9 * animal.length * pose.scale + 1):  # every shape is within 0.88 length
        return inside
    ellipses, snout = _silhouette(_geometry(pose, animal), animal)
    for centre, (a, b), angle, _ in ellipses:
        d = points - centre
        c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
        u, v = d[:, 0] * c + d[:, 1] * s, -d[:, 0] * s + d[:, 1] * c
        inside |= (u / max(a, 1 / _ONE)) ** 2 + (v / max(b, 1 / _ONE)) ** 2 <= 1
    edges = np.roll(snout, -1, axis=0) - snout  # same-sign cross products: inside the triangle
    cross = edges[None, :, 0] * (points[:, None, 1] - snout[None, :, 1]) - edges[None, :, 1] * (
        points[:, None, 0] - snout[None, :, 0])
    return inside | (cross >= 0).all(1) | (cross <= 0).all(1)


def draw_animal(img: np.ndarray, pose: Pose, animal: Animal) -> None:
    """Draw the animal at ``pose`` into ``img`` (H, W, 3) in place, 1/16-pixel precise."""
    g = _geometry(pose, animal)
    length, body = g["length"], animal.body_rgb
    (body_ellipse, head_ellipse, *ears), snout = _silhouette(g, animal)
    dark = tuple(0.6 * c for c in body)
    tail_width = max(1.0, 0.06 * length)
    for i in range(len(g["tail"]) - 1):
        thickness = max(1, round(tail_width * (1 - i / len(g["tail"]))))
        cv2.line(
            img,
            _fixed(g["tail"][i]),
            _fixed(g["tail"][i + 1]),
            dark,
            thickness,
            cv2.LINE_AA,
            _SHIFT,
        )
    _ellipse(img, *body_ellipse[:3], body)
    highlight = tuple(min(255.0, 1.06 * c + 5) for c in body)
    _ellipse(
        img, g["centre"], (0.3 * length, 0.45 * animal.width_ratio * length), g["angle"], highlight
    )
    _ellipse(img, *head_ellipse[:3], body)
    cv2.fillConvexPoly(img, (snout * _ONE).astype(np.int32), body, cv2.LINE_AA, _SHIFT)
    for centre, axes, angle, _ in ears:
        _ellipse(img, centre, axes, angle, animal.ear_rgb)
    for eye in g["eyes"]:
        _ellipse(img, eye, (0.025 * length, 0.025 * length), 0, (20.0, 20.0, 20.0))


def _occlusions(rng: np.random.Generator, num_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Per frame: index of the hidden body part (-1 = none), and the occluder's offset (unit disk)."""
    hidden = np.where(
        rng.random(num_frames) < OCCLUSION_RATE, rng.integers(len(BODYPARTS), size=num_frames), -1
    )
    return hidden, rng.uniform(-0.7, 0.7, (num_frames, 2)) / math.sqrt(2)


@dataclass
class RenderedVideo:
    """A rendered video and its truth; arrays in BODYPARTS order, x then y, image pixels."""

    name: str
    path: Path  # the mp4, in a temporary folder
    points: np.ndarray  # (num_frames, num_bodyparts, 2) true positions
    visible: np.ndarray  # (num_frames, num_bodyparts) bool
    labeled: dict[int, np.ndarray]  # frame index -> rendered RGB frame


@dataclass(frozen=True)
class VideoShape:
    """Frames of a video: how many, their (width, height) in pixels, and frames per second."""

    num_frames: int
    image_size: tuple[int, int]
    fps: float


def render_video(
    path: Path, rng: np.random.Generator, shape: VideoShape, labeled: set[int]
) -> RenderedVideo:
    """Draw a new random animal walking over a new background; write the mp4 ``path``.

    Args:
        path: the mp4 to write; its stem is the video's name.
        rng: draws the animal, background, walk, occlusions and noise.
        shape: frames, (width, height) in pixels, frames per second.
        labeled: frame indices whose rendered frames (before mp4 compression) to keep.

    Returns:
        The mp4's path, the true positions and visibility in every frame, and the
        kept frames (see :class:`RenderedVideo`).
    """
    width, height = shape.image_size
    scene, light, floor = background(rng, width, height)
    animal = random_animal(rng, width, height, floor)
    poses = _trajectory(rng, shape.num_frames, width, height, animal)
    hidden, offsets = _occlusions(rng, shape.num_frames)
    noise_sigma = rng.uniform(3, 7)
    points = np.stack([keypoints(p, animal) for p in poses])
    visible = np.arange(len(BODYPARTS))[None, :] != hidden[:, None]
    kept: dict[int, np.ndarray] = {}

    def frames() -> Iterator[np.ndarray]:
        for t, pose in enumerate(poses):
            img = scene.copy()
            draw_animal(img, pose, animal)
            if hidden[t] >= 0:
                draw_occluder(img, *occluder(points[t, hidden[t]], offsets[t], pose, animal))
            frame = finish_frame(img, light, rng, noise_sigma)
            if t in labeled:
                kept[t] = frame
            yield frame

    written = write_video(Path(path), frames(), shape.fps)
    return RenderedVideo(Path(path).stem, written, points, visible, kept)


def occluder(point: np.ndarray, offset: np.ndarray, pose: Pose,
             animal: Animal) -> tuple[np.ndarray, float, tuple[float, float, float]]:
    """The disk over a hidden body part at ``point`` (x, y pixels), shifted by ``offset``
    (within the unit disk): centre (2,) and radius in pixels, and its RGB colour."""
    radius = 0.2 * animal.length * pose.scale
    return point + 0.25 * radius * offset, radius, animal.occluder_rgb


def draw_occluder(img: np.ndarray, centre: np.ndarray, radius: float,
                  colour: tuple[float, float, float]) -> None:
    """Draw a disk (centre (2,) and radius in pixels) into ``img`` in place."""
    cv2.circle(img, _fixed(centre), round(radius * _ONE), colour, -1, cv2.LINE_AA, _SHIFT)


def finish_frame(img: np.ndarray, light: np.ndarray, rng: np.random.Generator,
                 noise_sigma: float) -> np.ndarray:
    """The camera's frame of a drawn scene ``img`` (H, W, 3): lit by ``light`` (H, W), plus
    fresh Gaussian pixel noise of sd ``noise_sigma`` (0-255 units); RGB uint8 (H, W, 3)."""
    noise = rng.standard_normal(img.shape, dtype=np.float32) * noise_sigma
    return np.clip(img * light[..., None] + noise, 0, 255).round().astype(np.uint8)
