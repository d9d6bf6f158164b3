"""Targets of the multi-animal (bottom-up) network, as DeepLabCut 2.2+, and its graph.

One image holds several animals. The network predicts, on the grid of
:mod:`kit.net.targets` (cell (row i, col j) centred at input pixel
``(j * s + s / 2, i * s + s / 2)``, s = stride):

- ``part_pred`` (h, w, K): 1 on every cell within ``pos_dist_thresh`` of ANY individual's
  label of the part, else 0;
- ``locref`` (h, w, 2K): (dx, dy) / locref_stdev from the cell centre to the NEAREST label
  of the part (a cell inside several individuals' disks points to the nearest one);
- ``paf`` (h, w, 2E), part-affinity fields: for edge e = (a, b) of the graph, channel 2e is
  the x and 2e + 1 the y component of the unit vector from part a to part b of the same
  animal, on cells whose centre lies over the segment a-b (its projection falls between
  the two ends) and within ``paf_width`` input pixels of it; 0 elsewhere; where the limbs
  of several animals cover a cell, the mean of their unit vectors. (DeepLabCut also tapers
  the vector linearly to 0 at the band's edge and overwrites overlaps; kit keeps the unit
  vectors of the interface, and averages as OpenPose does.)
- ``identity`` (h, w, I), only when the project says ``identity: true``: channel i is 1 on
  the disks of every labeled part of animal i, else 0.

K = all body parts (multi-animal, then unique), E = edges of the graph, I = animals (the
unique parts' row ``single`` is no animal: it has score maps but no PAF or identity).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from kit.net.targets import TargetConfig


@dataclass(frozen=True)
class MultiAnimalSpec:
    """What a multi-animal network predicts beyond score maps and locref.

    Attributes:
        individuals: the animals' names (I; the identity channels' order).
        unique_bodyparts: body parts found once per frame (the last ones of K).
        paf_graph: edges (a, b), indices into the body parts; one PAF (2 channels) each.
        identity: whether the network has the identity head (one channel per animal).
    """

    individuals: tuple[str, ...]
    unique_bodyparts: tuple[str, ...]
    paf_graph: tuple[tuple[int, int], ...]
    identity: bool = False

    def __post_init__(self):
        if not self.paf_graph:
            raise ValueError(
                "A multi-animal network needs at least one part-affinity edge: give the "
                "config at least two multianimalbodyparts (and a skeleton joining them, or "
                f"labels where both are visible). Received: paf_graph={self.paf_graph!r}.")

    @property
    def num_identities(self) -> int:
        """Channels of the identity head (0 without it)."""
        return len(self.individuals) if self.identity else 0


def skeleton_graph(skeleton: Sequence[Sequence[str]], bodyparts: Sequence[str],
                   multianimal_bodyparts: Sequence[str]) -> list[tuple[int, int]]:
    """The config's skeleton as edges (a, b) of indices into ``bodyparts``.

    Edges that touch a unique body part are left out (a part-affinity field joins two parts
    of one animal); duplicates (also reversed) are kept once. Raises on unknown names.
    """
    unknown = sorted({n for edge in skeleton for n in edge} - set(bodyparts))
    if unknown:
        raise ValueError(f"The skeleton names body parts {unknown} that are not in the config's "
                         f"body parts {list(bodyparts)}. Fix the skeleton in config.yaml.")
    edges: list[tuple[int, int]] = []
    for a, b in skeleton:
        if a in multianimal_bodyparts and b in multianimal_bodyparts and a != b:
            edge = (bodyparts.index(a), bodyparts.index(b))
            if edge not in edges and edge[::-1] not in edges:
                edges.append(edge)
    return edges


def mean_part_distances(points: np.ndarray) -> np.ndarray:
    """(K, K) mean distance between two parts of the same animal over the labels, NaN where
    no animal has both labeled. ``points``: (N, I, K, 2), x, y, NaN = missing."""
    points = np.asarray(points, dtype=np.float64)
    diff = points[:, :, :, None, :] - points[:, :, None, :, :]  # (N, I, K, K, 2)
    dist = np.sqrt((diff**2).sum(-1)).reshape(-1, points.shape[2], points.shape[2])
    count = np.isfinite(dist).sum(0)
    with np.errstate(invalid="ignore"):
        return np.where(count > 0, np.nansum(dist, 0) / np.maximum(count, 1), np.nan)


def minimum_spanning_graph(points: np.ndarray, num_multianimal: int) -> list[tuple[int, int]]:
    """A data-driven graph: the minimum spanning tree (Kruskal) of the multi-animal parts,
    weighted by their mean distance within an animal in the labels.

    Neighbouring parts get an edge, so every limb is short and each animal's parts are
    joined (``num_multianimal - 1`` edges; fewer if some parts were never labeled together).
    DeepLabCut instead trains on the complete graph and keeps the most discriminative edges
    after training; the tree needs no second training. Ties break by part order.

    Args:
        points: (N, I, K, 2) the training labels.
        num_multianimal: the first ``num_multianimal`` of the K parts are the animals'.
    """
    dist = mean_part_distances(points)[:num_multianimal, :num_multianimal]
    pairs = sorted((dist[a, b], a, b) for a in range(num_multianimal)
                   for b in range(a + 1, num_multianimal) if np.isfinite(dist[a, b]))
    root = list(range(num_multianimal))

    def find(i: int) -> int:
        while root[i] != i:
            i = root[i]
        return i

    edges = []
    for _, a, b in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            root[rb] = ra
            edges.append((a, b))
    return edges


def _cell_centres(map_hw: tuple[int, int], stride: int) -> tuple[np.ndarray, np.ndarray]:
    """(1, w) x and (h, 1) y of the cell centres, input pixels."""
    h, w = map_hw
    return (np.arange(w) * stride + stride / 2)[None, :], (np.arange(h) * stride + stride / 2)[:, None]


def _parts(points: np.ndarray, map_hw: tuple[int, int], config: TargetConfig):
    """Score maps, locref (nearest label) and disks (I, h, w, K) of every individual."""
    h, w = map_hw
    num_rows, num_parts = points.shape[:2]
    cx, cy = _cell_centres(map_hw, config.stride)
    shape = (num_rows, num_parts, h, w)
    dx = np.broadcast_to(points[:, :, 0, None, None] - cx, shape)  # label - cell centre
    dy = np.broadcast_to(points[:, :, 1, None, None] - cy, shape)
    d2 = np.where(np.isfinite(dx) & np.isfinite(dy), dx**2 + dy**2, np.inf)
    disks = d2 <= config.pos_dist_thresh**2  # (I, K, h, w)
    nearest = d2.argmin(axis=0)[None]  # (1, K, h, w)
    inside = disks.any(axis=0)  # (K, h, w)
    ndx = np.take_along_axis(np.nan_to_num(dx), nearest, 0)[0]
    ndy = np.take_along_axis(np.nan_to_num(dy), nearest, 0)[0]
    locref = np.zeros((h, w, 2 * num_parts), np.float32)
    locref[:, :, 0::2] = np.where(inside, ndx / config.locref_stdev, 0).transpose(1, 2, 0)
    locref[:, :, 1::2] = np.where(inside, ndy / config.locref_stdev, 0).transpose(1, 2, 0)
    locref_weights = np.repeat(inside.transpose(1, 2, 0), 2, axis=-1).astype(np.float32)
    scmap = inside.transpose(1, 2, 0).astype(np.float32)
    labeled = np.isfinite(points).all(-1).any(0)  # (K,)
    scmap_weights = np.broadcast_to(labeled.astype(np.float32), scmap.shape).copy()
    return (scmap, scmap_weights), (locref, locref_weights), disks


def _pafs(points: np.ndarray, map_hw: tuple[int, int], graph, paf_width: float, stride: int):
    """Part-affinity fields (h, w, 2E) and their weights (see the module's docstring)."""
    h, w = map_hw
    cx, cy = _cell_centres(map_hw, stride)
    paf = np.zeros((h, w, 2 * len(graph)), np.float32)
    weights = np.zeros_like(paf)
    for e, (a, b) in enumerate(graph):
        total = np.zeros((h, w, 2))
        count = np.zeros((h, w))
        for start, end in zip(points[:, a], points[:, b]):
            if not (np.isfinite(start).all() and np.isfinite(end).all()):
                continue
            weights[:, :, 2 * e: 2 * e + 2] = 1.0  # the edge is labeled in this image
            length = np.hypot(*(end - start))
            if length == 0:
                continue
            ux, uy = (end - start) / length
            along = (cx - start[0]) * ux + (cy - start[1]) * uy  # (h, w)
            across = (cx - start[0]) * uy - (cy - start[1]) * ux
            on = (along >= 0) & (along <= length) & (np.abs(across) <= paf_width)
            total[on] += (ux, uy)
            count += on
        paf[:, :, 2 * e: 2 * e + 2] = total / np.maximum(count, 1)[:, :, None]
    return paf, weights


def make_multianimal_targets(points: np.ndarray, map_hw: tuple[int, int],
                             graph: Sequence[tuple[int, int]], num_identities: int = 0,
                             config: TargetConfig = TargetConfig()
                             ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The targets of one image with several animals, and their loss weights.

    Args:
        points: (num_rows, K, 2) x then y, input pixels, NaN = missing; rows are the table
            individuals (the animals, then ``single`` for unique parts, if any).
        map_hw: (map_height, map_width), usually :func:`kit.net.targets.map_shape`.
        graph: PAF edges (a, b), indices into the K parts.
        num_identities: I, identity channels (0: no identity head); rows 0..I-1 are animals.
        config: stride, disk radius, locref scale, PAF half-width ``paf_width``.

    Returns:
        ``{head: (target, weights)}`` for ``part_pred`` (h, w, K), ``locref`` (h, w, 2K),
        ``paf`` (h, w, 2E) and, with identities, ``identity`` (h, w, I); float32; see the
        module's docstring for the targets. Weights (DeepLabCut's, with "missing gives no
        loss" as kit's single-animal targets): a score map, a PAF or an identity channel
        weighs 1 on the whole map when the image has a label of its part (of both ends of
        its edge in one animal, of that animal), else 0; locref weighs 1 inside the disks.
    """
    points = np.asarray(points, dtype=np.float64)
    scores, locref, disks = _parts(points, map_hw, config)
    out = {"part_pred": scores, "locref": locref,
           "paf": _pafs(points, map_hw, graph, config.paf_width, config.stride)}
    if num_identities:
        if num_identities > len(points):
            raise ValueError(f"num_identities={num_identities} is more than the "
                             f"{len(points)} rows of points {points.shape}.")
        ids = disks[:num_identities].any(axis=1).transpose(1, 2, 0).astype(np.float32)
        labeled = np.isfinite(points[:num_identities]).all(-1).any(-1)  # (I,)
        out["identity"] = (ids, np.broadcast_to(labeled.astype(np.float32), ids.shape).copy())
    return out
