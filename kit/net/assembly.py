"""Animals from the maps of a multi-animal network: peaks, PAF-scored links, assemblies.

DeepLabCut 2.2's bottom-up assembly (its ``Assembler``), written for kit's maps:

1. candidates: every peak of each body part's score map (:mod:`kit.net.peaks`);
2. links: for each skeleton edge (a, b) of ``pose['paf_graph']``, every candidate pair is
   scored by the line integral of the part-affinity field along the segment from a to b:
   the mean, over ``num_samples`` points evenly spaced on it, of the dot product of the
   field (channels 2e, 2e+1: the unit vector from a to b on the animal's limb) with the
   segment's unit vector. Pairs are matched per edge (Hungarian, or greedy), and a
   match is a link when its affinity is >= ``min_affinity``;
3. assemblies: links taken best first join their candidates' groups unless the groups
   share a body part (DeepLabCut's greedy fill, as Kruskal's union-find); a group is an
   animal when it has enough links;
4. the best ``len(pose['individuals'])`` animals are kept by score (sum of the keypoints'
   scores times the mean affinity of the links); the unique body parts (best peak of each)
   go in the last row, ``single``.

Where kit differs from DeepLabCut, and why: every candidate enters the matching
(DeepLabCut's Hungarian step keeps only the ``max_n_individuals`` most confident per body
part), so animals beyond the rows are assembled whole and then dropped by score, and
counted; animals are ranked by that score rather than by their number of keypoints alone;
there is no pose-NMS (``max_overlap``), no calibration by training poses (``calibrate``), no
temporal window and no ``add_discarded``: candidates left unlinked are dropped. The line
integral samples the segment between the refined positions (DeepLabCut: between the peak
cells), rounding each sample to its cell.

Speed (CPU time, one core of this project's shared 2-core machine, best of several runs;
80x60 maps of a 640x480 frame, 3 animals): 0.9-1.5 ms per frame for 4 body parts (4 edges)
or 10 body parts (13 edges), peaks included; 0.6-0.8 ms per frame in batches of 16.
Wall-clock time under the machine's load (~10 processes on 2 cores) was 3-5 ms. Measure
with ``pytest tests/test_assembly.py -k time -s``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from kit.net.model_folder import PoseConfig
from kit.net.peaks import PeakTable, peak_table
from kit.net.targets import TargetConfig


@dataclass(frozen=True)
class AssemblyConfig:
    """How peaks become animals (DeepLabCut 2.2's ``Assembler`` defaults where it has them).

    Attributes:
        peak_threshold: lowest score of a candidate (DeepLabCut's ``pcutoff``, 0.1).
        nms_radius_px: no two candidates of one body part closer (input pixels); DeepLabCut
            max-pools 5x5 cells (``nmsradius: 5``), i.e. 2 cells = 16 px at stride 8.
        min_affinity: lowest PAF line integral of a link (DeepLabCut's ``pafthreshold``
            / ``min_affinity``, 0.05).
        min_num_links: an animal needs this many links (DeepLabCut's ``min_n_links``, 2),
            or every edge of the graph when the graph has fewer.
        num_samples: points on each segment for the line integral (DeepLabCut's 10).
        greedy: match each edge's candidates greedily, best affinity first, instead of by
            the Hungarian method (DeepLabCut's ``greedy``, False).
    """

    peak_threshold: float = 0.1
    nms_radius_px: float = 16.0
    min_affinity: float = 0.05
    min_num_links: int = 2
    num_samples: int = 10
    greedy: bool = False

    def __post_init__(self):
        if not (0 <= self.peak_threshold <= 1 and self.nms_radius_px >= 0
                and -1 <= self.min_affinity <= 1 and self.min_num_links >= 1
                and self.num_samples >= 2):
            raise ValueError(
                "AssemblyConfig needs 0 <= peak_threshold <= 1, nms_radius_px >= 0, "
                "-1 <= min_affinity <= 1, min_num_links >= 1, num_samples >= 2. "
                f"Received: {self}.")


@dataclass(frozen=True)
class _Layout:
    """What assembly needs from the pose config, checked once."""

    num_multi: int  # body parts every animal has (the first ones)
    num_unique: int  # unique body parts (the last ones)
    edges: np.ndarray  # (E, 2) int, indices into the multi-animal body parts
    num_individuals: int
    targets: TargetConfig


def _layout(pose: PoseConfig | dict[str, Any]) -> _Layout:
    if not isinstance(pose, PoseConfig):  # a dict of its fields (the others: defaults)
        pose = PoseConfig.from_dict({"multianimal": True, **pose})
    bodyparts, unique = list(pose.bodyparts), list(pose.unique_bodyparts)
    num_multi = len(bodyparts) - len(unique)
    if unique and bodyparts[num_multi:] != unique:
        raise ValueError(f"pose['bodyparts'] must end with the unique body parts {unique}. "
                         f"Received bodyparts={bodyparts}.")
    edges = np.asarray(pose.paf_graph, np.int64).reshape(-1, 2)
    if edges.size and (edges.min() < 0 or edges.max() >= num_multi):
        raise ValueError(f"pose['paf_graph'] must index the {num_multi} multi-animal body "
                         f"parts {bodyparts[:num_multi]}. Received: {edges.tolist()}.")
    targets = TargetConfig(stride=int(pose.stride), locref_stdev=float(pose.locref_stdev))
    return _Layout(num_multi, len(unique), edges, len(pose.individuals), targets)


def _check_maps(maps: dict[str, np.ndarray], layout: _Layout) -> None:
    if "part_pred" not in maps or "paf" not in maps:
        raise ValueError(f"maps needs 'part_pred' and 'paf' (Predictor.predict_maps). "
                         f"Received keys: {sorted(maps)}.")
    scores = maps["part_pred"]
    num_parts = layout.num_multi + layout.num_unique
    expected = {"part_pred": num_parts, "locref": 2 * num_parts, "paf": 2 * len(layout.edges),
                "identity": layout.num_individuals}
    for key, channels in expected.items():
        if key in maps and maps[key].shape != (*scores.shape[:3], channels):
            raise ValueError(f"maps[{key!r}] must be {(*scores.shape[:3], channels)} for "
                             f"{num_parts} body parts, {len(layout.edges)} edges, "
                             f"{layout.num_individuals} individuals. Received {maps[key].shape}.")


def pair_affinities(paf: np.ndarray, start: np.ndarray, end: np.ndarray, edge: np.ndarray,
                    num_samples: int, stride: int) -> np.ndarray:
    """PAF line integral of candidate pairs (any edges at once).

    Args:
        paf: (h, w, 2E) one frame's part-affinity fields.
        start: (P, 2) x, y (input pixels) of each pair's candidate of the edge's first part.
        end: (P, 2) x, y of its candidate of the edge's second part.
        edge: (P,) int, each pair's edge e (PAF channels 2e, 2e+1).
        num_samples: points on each segment, both ends included.
        stride: input pixels per map cell.

    Returns:
        (P,) mean over the samples of (field . unit vector from start to end), in [-1, 1]
        for fields of unit vectors; 0 where the two candidates coincide.
    """
    h, w, channels = paf.shape
    t = np.linspace(0.0, 1.0, num_samples)
    delta = end - start
    points = start[:, None, :] + t[None, :, None] * delta[:, None, :]  # (P, S, 2)
    cells = np.rint((points - stride / 2) / stride).astype(np.int64)
    cols = np.clip(cells[..., 0], 0, w - 1)
    rows = np.clip(cells[..., 1], 0, h - 1)
    flat = (rows * w + cols) * channels + 2 * edge[:, None]  # (P, S), the x channel
    paf = paf.reshape(-1)
    length = np.hypot(delta[:, 0], delta[:, 1])
    unit = delta / np.where(length > 0, length, np.inf)[:, None]
    return (paf[flat].sum(axis=1) * unit[:, 0] + paf[flat + 1].sum(axis=1) * unit[:, 1]) \
        / num_samples


def _match(affinity: np.ndarray, config: AssemblyConfig) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of the matched pairs with affinity >= min_affinity."""
    if config.greedy:
        order = np.argsort(-affinity, axis=None, kind="stable")
        rows, cols, used_r, used_c = [], [], set(), set()
        for r, c in zip(*np.unravel_index(order, affinity.shape)):
            if affinity[r, c] < config.min_affinity:
                break
            if r not in used_r and c not in used_c:
                used_r.add(r), used_c.add(c), rows.append(r), cols.append(c)
        return np.asarray(rows, np.int64), np.asarray(cols, np.int64)
    # When each row (or column, whichever are fewer) has its best in a different place,
    # taking those is optimal (their sum bounds any matching): the usual, unambiguous case.
    axis = 1 if affinity.shape[0] <= affinity.shape[1] else 0
    best = affinity.argmax(axis=axis)
    if len(set(best.tolist())) == len(best):
        rows, cols = (np.arange(len(best)), best) if axis == 1 else (best, np.arange(len(best)))
    else:
        rows, cols = linear_sum_assignment(affinity, maximize=True)
    keep = affinity[rows, cols] >= config.min_affinity
    return rows[keep], cols[keep]


def _links(table: PeakTable, first: np.ndarray, paf: np.ndarray, layout: _Layout,
           config: AssemblyConfig) -> list[tuple[float, int, int]]:
    """(affinity, candidate a, candidate b) of every link of one frame, best first;
    candidates are indices into ``table``, ``first[k]:first[k+1]`` those of body part k."""
    counts = np.diff(first)
    a, b = layout.edges[:, 0], layout.edges[:, 1]
    sizes = counts[a] * counts[b]  # pairs per edge
    if not sizes.any():
        return []
    edge = np.repeat(np.arange(len(sizes)), sizes)
    local = np.arange(len(edge)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    index_a = first[a][edge] + local // counts[b][edge]
    index_b = first[b][edge] + local % counts[b][edge]
    xy = np.stack([table.x, table.y], axis=1)
    affinity = pair_affinities(paf, xy[index_a], xy[index_b], edge, config.num_samples,
                               layout.targets.stride)
    links = []
    offset = 0
    for e, size in enumerate(sizes.tolist()):
        if size:
            matrix = affinity[offset:offset + size].reshape(counts[a[e]], counts[b[e]])
            rows, cols = _match(matrix, config)
            links += [(float(matrix[r, c]), int(first[a[e]] + r), int(first[b[e]] + c))
                      for r, c in zip(rows.tolist(), cols.tolist())]
        offset += size
    links.sort(key=lambda link: -link[0])
    return links


def _groups(links: list[tuple[float, int, int]], part: np.ndarray,
            num_candidates: int) -> dict[int, dict[str, Any]]:
    """Join candidates along links, best first, never two of one body part in a group
    (union-find). Returns root -> {'members', 'num_links', 'affinity'} of linked groups."""
    parent = list(range(num_candidates))
    parts = [1 << int(p) for p in part]  # bit mask of each group's body parts
    num_links, affinity = [0] * num_candidates, [0.0] * num_candidates

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for value, a, b in links:
        ra, rb = root(a), root(b)
        if ra != rb:
            if parts[ra] & parts[rb]:
                continue  # would give one animal two of a body part
            parent[rb] = ra
            parts[ra] |= parts[rb]
            num_links[ra] += num_links[rb]
            affinity[ra] += affinity[rb]
        num_links[ra] += 1
        affinity[ra] += value
    groups: dict[int, dict[str, Any]] = {}
    for i in range(num_candidates):
        r = root(i)
        if num_links[r]:
            groups.setdefault(r, {"members": [], "num_links": num_links[r],
                                  "affinity": affinity[r]})["members"].append(i)
    return groups


def _assemble_frame(table: PeakTable, maps: dict[str, np.ndarray], frame: int,
                    layout: _Layout, config: AssemblyConfig,
                    out: tuple[np.ndarray, np.ndarray | None]) -> int:
    """Fill one frame's rows of ``out`` = (poses (I_table, K, 3), identity (I_table, I) or
    None); return how many valid animals were dropped for lack of rows."""
    poses, identity = out
    first = np.searchsorted(table.part, np.arange(layout.num_multi + layout.num_unique + 1))
    num_candidates = int(first[layout.num_multi])
    links = _links(table, first, maps["paf"][frame], layout, config)
    groups = _groups(links, table.part, num_candidates).values()
    min_links = min(config.min_num_links, len(layout.edges))
    animals = [g for g in groups if g["num_links"] >= min_links]
    if not len(layout.edges):  # one body part per animal: every candidate is an animal
        animals = [{"members": [i], "num_links": 0} for i in range(num_candidates)]
    for animal in animals:
        members = animal["members"]
        mean_affinity = animal["affinity"] / animal["num_links"] if animal["num_links"] else 1
        animal["score"] = table.score[members].sum() * mean_affinity
    animals.sort(key=lambda g: -g["score"])
    for row, animal in enumerate(animals[:layout.num_individuals]):
        members = np.asarray(animal["members"])
        poses[row, table.part[members]] = np.stack(
            [table.x[members], table.y[members], table.score[members]], axis=1)
        if identity is not None:
            cells = maps["identity"][frame, table.row[members], table.col[members]]
            identity[row] = cells.mean(axis=0)
    for u in range(layout.num_unique):
        k = layout.num_multi + u
        if first[k] < first[k + 1]:  # the best peak: candidates are sorted by score
            best = first[k]
            poses[-1, k] = table.x[best], table.y[best], table.score[best]
    return max(0, len(animals) - layout.num_individuals)


def poses_from_maps(maps: dict[str, np.ndarray], pose: dict[str, Any],
                    config: AssemblyConfig = AssemblyConfig(),
                    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Assemble the animals of a batch of frames from a multi-animal network's maps.

    Args:
        maps: ``Predictor.predict_maps``'s dict: 'part_pred' (N, h, w, K) after a sigmoid,
            'locref' (N, h, w, 2K) (optional), 'paf' (N, h, w, 2E), and optionally
            'identity' (N, h, w, I) after a sigmoid. K = multi-animal then unique body
            parts, E = len(pose['paf_graph']), I = len(pose['individuals']).
        pose: the model's :class:`kit.net.model_folder.PoseConfig` (or a dict of its
            fields): bodyparts, individuals, unique_bodyparts, paf_graph, stride,
            locref_stdev.
        config: thresholds and matching.

    Returns:
        poses: (N, I_table, K, 3) float64, x, y in the maps' input pixels and score; rows
            are the kept animals, best score first (no identity order: tracking's job),
            then ``single`` (the unique body parts' best peaks) when there are unique body
            parts; NaN where missing. I_table = I + (1 if unique body parts else 0).
        identity: (N, I_table, I) mean identity-map score of each row's keypoints (NaN for
            empty rows and ``single``), or None without 'identity' in maps.
        num_dropped: (N,) int, valid animals found beyond the I rows (the worst scored).
    """
    layout = _layout(pose)
    _check_maps(maps, layout)
    scores = np.asarray(maps["part_pred"])
    num_frames, num_parts = scores.shape[0], scores.shape[3]
    table = peak_table(scores, maps.get("locref"), config.peak_threshold,
                       config.nms_radius_px, layout.targets)
    num_rows = layout.num_individuals + (1 if layout.num_unique else 0)
    poses = np.full((num_frames, num_rows, num_parts, 3), np.nan)
    identity = (np.full((num_frames, num_rows, layout.num_individuals), np.nan)
                if "identity" in maps else None)
    num_dropped = np.zeros(num_frames, np.int64)
    bounds = np.searchsorted(table.frame, np.arange(num_frames + 1))
    for n in range(num_frames):
        part_of_frame = slice(bounds[n], bounds[n + 1])
        frame_table = PeakTable(*(getattr(table, f)[part_of_frame] for f in
                                  ("frame", "part", "row", "col", "x", "y", "score")))
        out = (poses[n], None if identity is None else identity[n])
        num_dropped[n] = _assemble_frame(frame_table, maps, n, layout, config, out)
    return poses, identity, num_dropped


MIN_ANIMAL_PX = 10.0  # the matching radius of an animal with one keypoint
_NO_MATCH = 1e12  # the cost of a pair that may not match


def present(points: np.ndarray) -> np.ndarray:
    """(..., I) bool: animals with at least one finite body part; points (..., I, K, C)."""
    return np.isfinite(np.asarray(points)[..., :2]).all(-1).any(-1)


def keypoint_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(A, B) mean distance over keypoints finite in both of a (A, K, >= 2) and b (B, K,
    >= 2); inf where none is shared."""
    d = np.linalg.norm(a[:, None, :, :2] - b[None, :, :, :2], axis=-1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a pair that shares no keypoint
        out = np.nanmean(d, axis=-1)
    return np.where(np.isnan(out), np.inf, out)


def animal_size(animals: np.ndarray) -> np.ndarray:
    """(..., J) the diagonal (pixels) of the box of each animal's keypoints, at least
    ``MIN_ANIMAL_PX``; NaN for an animal without any. animals: (..., J, K, >= 2)."""
    xy = np.asarray(animals, np.float64)[..., :2]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an empty animal: NaN is right
        extent = np.nanmax(xy, axis=-2) - np.nanmin(xy, axis=-2)
    return np.where(present(xy), np.maximum(np.linalg.norm(extent, axis=-1), MIN_ANIMAL_PX),
                    np.nan)


def matched_pairs(first: np.ndarray, second: np.ndarray,
                  max_distance_px: float | np.ndarray | None = None) -> list[tuple[int, int]]:
    """Pairs (i, j) of ``first``'s (I, K, >= 2) and ``second``'s (J, K, >= 2) animals that
    are the same animal: as many as can match with the least summed mean distance over the
    keypoints both have (the Hungarian method), each pair within ``max_distance_px`` (None:
    the size of ``second``'s animal, :func:`animal_size`); pairs sharing no keypoint never
    match. In the order of ``first``."""
    cost = keypoint_distance(first, second)
    limit = animal_size(second)[None] if max_distance_px is None else max_distance_px
    with np.errstate(invalid="ignore"):
        allowed = cost <= limit  # inf (no shared keypoint) and NaN limits are not allowed
    rows, cols = linear_sum_assignment(np.where(allowed, cost, _NO_MATCH))
    return [(int(i), int(j)) for i, j in zip(rows, cols) if allowed[i, j]]


def match_animals(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """The order of ``second``'s animals (A, K, >= 2: x, y, ...) that puts each beside the
    same animal of ``first``: the assignment of least total mean distance between the
    keypoints both have (the Hungarian method; pairs without a shared keypoint cost most)."""
    cost = keypoint_distance(first, second)
    _, order = linear_sum_assignment(np.where(np.isinf(cost), _NO_MATCH, cost))
    return order
