"""Labels that contradict the others: a left and a right body part placed on the wrong sides.

A labeler who clicks ``leftear`` where the right ear is, in one frame of a hundred, teaches the
network both ways and, in a test frame, scores a correct prediction as a 20-pixel miss; no
drawing makes it stand out among a hundred. For an animal seen from above (or below) the side
of a left or right body part against the body's axis (from its tail end to its head end) is
the same in every frame, whatever way the animal turns: the sign of the cross product of the
axis and the vector from the right part to the left. :func:`side_swaps` finds the frames whose
sign is against that of the others (for each animal of a multi-animal project): a swap, or a
frame seen from an angle where the sides are hard to tell, worth a look either way. The openfield
project of DeepLabCut's examples has one such frame in 116 (its ears, ``img0102``).

The pairs are found from the body part names (:func:`side_pairs`: ``leftear``, ``ear_l``,
``L_ear``, ``wingL``) or given; the axis is the two other body parts furthest apart in the
labels (the snout and the tail base of a mouse) or given. :func:`swap_sides` puts the frames
found back through a video's label store (``Labeler.swap_sides`` in the notebook: not while
another kernel holds the video), the file as it was kept as ``.bak``.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from kit.labeling.label_store import LabelStore
from kit.project import Project
from kit.project.labels import labels_to_array, load_labels
from kit.project.splits import Split

SIDE_PATTERNS = (  # a left body part's name: what to find, and the right one's word
    (re.compile("left", re.IGNORECASE), "right"),  # leftear, front_left_paw
    (re.compile(r"(?<![a-z0-9])l(?![a-z0-9])", re.IGNORECASE), "r"),  # ear_l, L-paw
    (re.compile(r"(?<=[a-z])L(?=\d*$)"), "R"),  # wingL, forelegL4 (SLEAP's flies)
)
COLUMNS = ["image", "individual", "left", "right", "agreeing_frames", "frames"]


def side_pairs(bodyparts: Sequence[str]) -> list[tuple[str, str]]:
    """(left, right) pairs of ``bodyparts`` whose names differ only in a ``left``/``right``
    word (``leftear``, ``front_left_paw``), an ``l``/``r`` token (``ear_l``, ``L-ear``) or a
    final ``L``/``R`` (``wingL``, ``forelegL4``): :data:`SIDE_PATTERNS`."""
    pairs, names = [], set(bodyparts)
    for part in bodyparts:
        for pattern, right in SIDE_PATTERNS:
            for match in pattern.finditer(part):
                text = match.group()
                word = right.upper() if text.isupper() else (
                    right.capitalize() if text[0].isupper() else right)
                other = part[:match.start()] + word + part[match.end():]
                if other in names and (part, other) not in pairs:
                    pairs.append((part, other))
    return pairs


def body_axis(points: np.ndarray, bodyparts: Sequence[str],
              exclude: Sequence[str] = ()) -> tuple[str, str] | None:
    """The two body parts outside ``exclude`` furthest apart in the median over the labeled
    frames (``points``: (frames, animals, parts, 2)), in the order of ``bodyparts``: the
    body's axis, whichever end is its head; None with fewer than two."""
    keep = [k for k, part in enumerate(bodyparts) if part not in exclude]
    best, axis = 0.0, None
    for a, b in itertools.combinations(keep, 2):
        distance = np.linalg.norm(points[..., a, :] - points[..., b, :], axis=-1)
        if np.isfinite(distance).any() and np.nanmedian(distance) > best:
            best, axis = float(np.nanmedian(distance)), (bodyparts[a], bodyparts[b])
    return axis


def side_swaps(points: np.ndarray, bodyparts: Sequence[str], images: Sequence[str],  # size: the check's settings
               individuals: Sequence[str] = ("single animal",),
               pairs: Sequence[tuple[str, str]] | None = None,
               axis: tuple[str, str] | None = None, min_sine: float = 0.2,
               min_agreement: float = 0.8) -> pd.DataFrame:
    """Frames whose left and right body parts lie on the other side of the body axis than in
    most labeled frames: one row each (:data:`COLUMNS`: the image, the animal, the pair, and
    how many of the pair's frames (``frames``) agree with each other, ``agreeing_frames``).

    Args:
        points: (frames, animals, parts, 2) labels, NaN where not placed.
        pairs: (left, right) body parts (default: :func:`side_pairs`).
        axis: two body parts along the body, e.g. ("tailbase", "snout") (default:
            :func:`body_axis` of the others).
        min_sine: a frame counts where the pair's line crosses the axis at least this sharply
            (the sine of the angle): head-on or in profile the sides are hard to tell.
        min_agreement: a pair is judged only where at least this share of its counted frames
            agree (an animal filmed from the side shows either side: no rule to break).
    """
    pairs = side_pairs(bodyparts) if pairs is None else list(pairs)
    axis = axis or body_axis(points, bodyparts, [p for pair in pairs for p in pair])
    if not pairs or axis is None:
        return pd.DataFrame(columns=COLUMNS)
    index = {part: k for k, part in enumerate(bodyparts)}
    heading = points[..., index[axis[1]], :] - points[..., index[axis[0]], :]
    rows = []
    for left, right in pairs:
        across = points[..., index[left], :] - points[..., index[right], :]
        cross = heading[..., 0] * across[..., 1] - heading[..., 1] * across[..., 0]
        with np.errstate(invalid="ignore", divide="ignore"):
            sine = cross / (np.linalg.norm(heading, axis=-1) * np.linalg.norm(across, axis=-1))
        counted = np.isfinite(sine) & (np.abs(sine) >= min_sine)
        sides = np.sign(sine[counted])
        if not sides.size:
            continue
        usual = 1.0 if (sides > 0).sum() >= (sides < 0).sum() else -1.0
        agreeing = int((sides == usual).sum())
        if agreeing < min_agreement * sides.size:
            continue
        for frame, animal in zip(*np.nonzero(counted & (np.sign(sine) == -usual))):
            rows.append({"image": images[frame], "individual": individuals[animal],
                         "left": left, "right": right, "agreeing_frames": agreeing,
                         "frames": int(sides.size)})
    return pd.DataFrame(rows, columns=COLUMNS)


def project_side_swaps(project: Project, videos: Sequence[str] | None = None,
                       pairs: Sequence[tuple[str, str]] | None = None,
                       axis: tuple[str, str] | None = None,
                       split: Split | None = None) -> pd.DataFrame:
    """:func:`side_swaps` of the project's labels (of ``videos``; default: all), every
    animal of a multi-animal project with its body parts (its unique parts left out). With a
    model's ``split``, a column ``split`` says where each frame is: "train" (the network
    learned both ways), "test" or "validation" (a right prediction scored as a miss),
    "novel", or "unused"."""
    labels = load_labels(project, videos)
    layout = project.layout
    if layout is None:
        points = labels_to_array(labels, project.bodyparts)[:, None]
        bodyparts, individuals = list(project.bodyparts), ["single animal"]
    else:
        bodyparts, individuals = list(layout.multianimal_bodyparts), list(layout.individuals)
        table = labels_to_array(labels, layout.bodyparts, layout)  # the animals' rows first,
        points = table[:, :len(individuals), :len(bodyparts)]  # their body parts first
    swaps = side_swaps(points, bodyparts, list(labels.index), individuals, pairs, axis)
    if split is not None:
        sets = {"train": split.train, "test": split.test, "validation": split.validation,
                "novel": split.novel}
        swaps["split"] = [next((name for name, images in sets.items() if image in images),
                               "unused") for image in swaps.image]
    return swaps


def swap_sides(store: LabelStore, swaps: pd.DataFrame) -> list[str]:
    """Exchange the ``left`` and ``right`` points of each row of ``swaps`` (from
    :func:`project_side_swaps`) whose image is in ``store``'s video, in one save (the label
    file as it was kept as ``.bak``); the images changed."""
    rows = {name: k for k, name in enumerate(store.individuals or ["single animal"])}
    changes: dict[str, dict[tuple[int, int], tuple[float, float] | None]] = {}
    for swap in swaps.itertuples():
        if swap.image not in store.table.index:
            continue
        row, points = rows[swap.individual], store.all_points(swap.image)
        left, right = store.bodyparts.index(swap.left), store.bodyparts.index(swap.right)
        for part, other in ((left, right), (right, left)):
            xy = points[row, other]
            changes.setdefault(swap.image, {})[(row, part)] = (
                tuple(xy) if np.isfinite(xy).all() else None)
    if changes:
        store.set_images(changes)
    return list(changes)
