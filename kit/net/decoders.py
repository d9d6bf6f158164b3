"""Decoders: a network's maps -> poses, chosen once from the model's pose config.

A decoder takes the maps of a batch by head name (after each head's activation, in
scaled-image coordinates: cell (i, j) centred at ``(j * stride + stride / 2, i * stride +
stride / 2)``), the model's :class:`kit.net.model_folder.PoseConfig` and the assembly
settings, and returns :class:`Decoded` poses with the individuals axis.

- ``single_animal``: each body part's score-map argmax plus location refinement
  (:func:`kit.net.targets.decode`); one row.
- ``bottom_up``: peaks, then part-affinity assembly (:func:`kit.net.assembly.poses_from_maps`);
  the animals (best first), then ``single`` for unique body parts.
- ``two_views``: ``single_animal``, then each pair of body parts seen in two views (a mirror
  rig) made to agree (:func:`kit.net.two_views.refine_views`); one row.

A new decoder is one function plus one line: ``register_decoder("top_down", top_down)``;
a pose config naming it (``decoder``) then predicts with it everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from kit.net.assembly import AssemblyConfig, poses_from_maps
from kit.net.model_folder import (BOTTOM_UP_DECODER, SINGLE_ANIMAL_DECODER, TWO_VIEWS_DECODER,
                                  PoseConfig)
from kit.net.targets import TargetConfig, decode
from kit.net.two_views import refine_views


@dataclass(frozen=True)
class Decoded:
    """Poses of a batch of frames.

    Attributes:
        poses: (N, num_rows, K, 3) float64: x, y (the maps' input pixels), score in [0, 1];
            NaN where missing.
        identity: (N, num_rows, I) identity scores per row, or None (no identity head).
        num_dropped: (N,) int, animals found beyond the rows (the worst scored).
    """

    poses: np.ndarray
    identity: np.ndarray | None
    num_dropped: np.ndarray


Decoder = Callable[[dict[str, np.ndarray], PoseConfig, AssemblyConfig], Decoded]


def single_animal(maps: dict[str, np.ndarray], pose: PoseConfig,
                  assembly: AssemblyConfig) -> Decoded:
    """Argmax of each score map plus its location refinement; one row per frame."""
    targets = TargetConfig(stride=pose.stride, locref_stdev=pose.locref_stdev)
    poses = decode(maps["part_pred"], maps["locref"], targets)[:, None]
    return Decoded(poses, None, np.zeros(len(poses), np.int64))


def bottom_up(maps: dict[str, np.ndarray], pose: PoseConfig,
              assembly: AssemblyConfig) -> Decoded:
    """Peaks linked into animals along the part-affinity fields (DeepLabCut 2.2's)."""
    return Decoded(*poses_from_maps(maps, pose, assembly))


def two_views(maps: dict[str, np.ndarray], pose: PoseConfig,
              assembly: AssemblyConfig) -> Decoded:
    """``single_animal``'s poses, each view pair's weaker view found again where it agrees
    with the stronger (:func:`kit.net.two_views.refine_views`)."""
    decoded = single_animal(maps, pose, assembly)
    poses = refine_views(decoded.poses[:, 0], maps["part_pred"], maps["locref"], pose)
    return Decoded(poses[:, None], None, decoded.num_dropped)


DECODERS: dict[str, Decoder] = {SINGLE_ANIMAL_DECODER: single_animal,
                                BOTTOM_UP_DECODER: bottom_up, TWO_VIEWS_DECODER: two_views}


def register_decoder(name: str, decoder: Decoder) -> None:
    """Make ``decoder`` the one a pose config names ``name``; the name must be new."""
    if name in DECODERS:
        raise ValueError(f"A decoder named {name!r} exists: {sorted(DECODERS)}. "
                         "Choose another name.")
    DECODERS[name] = decoder


def get_decoder(name: str) -> Decoder:
    """The decoder a pose config names; raises listing the valid names."""
    if name not in DECODERS:
        raise ValueError(f"Unknown decoder {name!r}. Valid: {sorted(DECODERS)}. Register it "
                         "first (kit.net.decoders.register_decoder).")
    return DECODERS[name]
