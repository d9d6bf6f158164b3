"""Tracking several animals: per-frame assemblies -> tracklets online -> one track per animal.

A multi-animal network gives, per frame, up to M assembled animals in no particular order
(:mod:`kit.net.assembly`). Tracking gives them identities over time in two steps, as
DeepLabCut 2.2+ does:

1. **Tracklets, online** (:class:`Tracker`, one frame at a time, as SORT): each open
   tracklet predicts where it will be (constant velocity, smoothed), the frame's assemblies
   are matched to the predictions by :func:`scipy.optimize.linear_sum_assignment` on
   keypoint distance (in body lengths) or on box overlap (1 - IoU), plus, when the network
   scores identities, how much the identities disagree. Unmatched assemblies open new
   tracklets; a tracklet unmatched for ``max_age`` frames is closed.
2. **Stitching** (:func:`stitch`): the tracklets become ``num_animals`` tracks by a
   minimum-cost flow (networkx's network simplex), as DeepLabCut's ``TrackletStitcher``:
   source -> tracklet in -> tracklet out -> sink, every covered frame earns a reward, a link
   from one tracklet's end to a later one's start costs their motion and shape mismatch
   (in body lengths), the gap, and their identity disagreement. With identity scores, each
   track goes to the animal its frames vote for; without, tracks are ordered by their start.

Poses are ``(num_frames, num_rows, num_bodyparts, 3)`` x, y (image pixels), likelihood;
a row with no finite x is empty.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np
from scipy.optimize import linear_sum_assignment

from kit.net.assembly import keypoint_distance
from kit.results.tracklets import (
    TRACKERS,
    Tracker,
    TrackConfig,
    Tracklet,
    body_size,
    identity_disagreement,
    quiet_nan,
    identity_votes,
)

__all__ = ["TRACKERS", "TrackConfig", "TrackResult", "Tracker", "Tracklet",
           "stitch", "track"]

_COST_SCALE = 1000  # network simplex wants integer weights: costs in thousandths


@dataclass(frozen=True)
class TrackResult:
    """Tracked poses (num_frames, num_animals, K, 3) and ``tracklet`` (num_frames,
    num_animals) int: the index into ``tracklets`` each came from, -1 where none."""

    poses: np.ndarray
    tracklet: np.ndarray
    tracklets: list[Tracklet]


def _end_motion(tracklet: Tracklet, at_end: bool) -> tuple[np.ndarray, np.ndarray]:
    """(K, 2) pose and velocity (px/frame) at a tracklet's end (or start, velocity reversed
    in time), from its last (first) few frames."""
    sl = slice(-4, None) if at_end else slice(None, 4)
    frames, xy = tracklet.frames[sl], tracklet.poses[sl, :, :2]
    pose = xy[-1] if at_end else xy[0]
    if len(frames) < 2:
        return pose, np.zeros_like(pose)
    with quiet_nan():
        velocity = np.nanmean(np.diff(xy, axis=0) / np.diff(frames)[:, None, None], axis=0)
    return pose, np.nan_to_num(velocity) * (1 if at_end else -1)


@dataclass(frozen=True)
class _Ends:
    """What linking needs of one tracklet, computed once: its median body size, and its pose
    and velocity at the end and at the start (:func:`_end_motion`)."""

    size: float
    end: tuple[np.ndarray, np.ndarray]
    start: tuple[np.ndarray, np.ndarray]

    @classmethod
    def of(cls, tracklet: Tracklet) -> _Ends:
        return cls(float(np.median(body_size(tracklet.poses))), _end_motion(tracklet, True),
                   _end_motion(tracklet, False))


def _link_cost(a: Tracklet, b: Tracklet, ends: tuple[_Ends, _Ends],
               config: TrackConfig) -> float | None:
    """Cost of ``b`` continuing ``a`` (a ends before b starts), in body lengths: the
    smaller of the still and the constant-velocity mismatch (forward from a's end and
    backward from b's start), plus the gap and the identity disagreement; None if no link."""
    gap = b.start - a.end
    if not 0 < gap <= config.max_gap:
        return None
    (pose_a, vel_a), (pose_b, vel_b) = ends[0].end, ends[1].start
    size = 0.5 * (ends[0].size + ends[1].size)
    still = keypoint_distance(pose_a[None], pose_b[None])[0, 0]
    moving = 0.5 * (keypoint_distance((pose_a + vel_a * gap)[None], pose_b[None])[0, 0]
                    + keypoint_distance(pose_a[None], (pose_b + vel_b * gap)[None])[0, 0])
    cost = min(still, moving) / size
    if not np.isfinite(cost) or cost > config.max_distance * (1 + gap / 10):
        return None
    cost += config.gap_cost * gap
    if a.identity is not None and b.identity is not None:
        cost += config.identity_weight * identity_disagreement(a.identity.sum(0)[None],
                                                       b.identity.sum(0)[None])[0, 0]
    return float(cost)


def _flow_graph(tracklets: list[Tracklet], num_animals: int, config: TrackConfig) -> nx.DiGraph:
    """source -> (in, i) -> (out, i) -> sink; (out, i) -> (in, j) links. Covering a frame
    earns 1 (a negative cost), so the flow covers all it can with ``num_animals`` paths."""
    graph = nx.DiGraph()
    graph.add_node("source", demand=-num_animals)
    graph.add_node("sink", demand=num_animals)
    graph.add_edge("source", "sink", capacity=num_animals, weight=0)
    motion = [_Ends.of(tr) for tr in tracklets]
    for i, tr in enumerate(tracklets):
        graph.add_edge("source", ("in", i), capacity=1, weight=0)
        graph.add_edge(("in", i), ("out", i), capacity=1, weight=-_COST_SCALE * len(tr.frames))
        graph.add_edge(("out", i), "sink", capacity=1, weight=0)
    ends = np.array([tr.end for tr in tracklets])
    for j, b in enumerate(tracklets):
        for i in np.flatnonzero((ends < b.start) & (ends >= b.start - config.max_gap)):
            cost = _link_cost(tracklets[i], b, (motion[i], motion[j]), config)
            if cost is not None:
                graph.add_edge(("out", int(i)), ("in", j), capacity=1,
                               weight=round(_COST_SCALE * cost))
    return graph


def _paths(flow: dict, num_tracklets: int) -> list[list[int]]:
    """The chains of tracklet indices the flow takes from source to sink."""
    paths = []
    for i in range(num_tracklets):
        if flow["source"].get(("in", i), 0) != 1:
            continue
        path = [i]
        while (nxt := next((n for n, f in flow[("out", path[-1])].items()
                            if f == 1 and n != "sink"), None)) is not None:
            path.append(nxt[1])
        paths.append(path)
    return paths


def _assign_animals(paths: list[list[int]], tracklets: list[Tracklet],
                    num_animals: int) -> list[list[int]]:
    """``num_animals`` paths (empty where missing), the n-th the n-th animal's: by identity
    votes (linear assignment on the summed scores) when tracklets have them, else by start."""
    paths = sorted(paths, key=lambda p: tracklets[p[0]].start)
    if not paths or tracklets[paths[0][0]].identity is None:
        return paths + [[] for _ in range(num_animals - len(paths))]
    votes = np.stack([sum(identity_votes(tracklets[i].identity).sum(0) for i in p) for p in paths])
    if votes.shape[1] != num_animals:
        raise ValueError(f"Identity scores have {votes.shape[1]} animals; num_animals="
                         f"{num_animals}. Pass the project's number of individuals.")
    rows, cols = linear_sum_assignment(-votes)
    out: list[list[int]] = [[] for _ in range(num_animals)]
    for r, c in zip(rows, cols, strict=True):
        out[c] = paths[r]
    return out


def stitch(tracklets: list[Tracklet], num_animals: int, config: TrackConfig,
           num_frames: int | None = None, num_bodyparts: int | None = None) -> TrackResult:
    """Tracklets -> ``num_animals`` tracks by a minimum-cost flow (see the module docstring).

    Tracklets shorter than ``min_hits`` are dropped; so are those no track can take (they
    overlap in time every track's tracklets, or no link reaches them).

    Args:
        tracklets: from :meth:`Tracker.tracklets`.
        num_frames: frames of the video (default: up to the last tracklet's end).
        num_bodyparts: K (default: the tracklets'; give it when there may be none).

    Returns:
        :class:`TrackResult` with poses (num_frames, num_animals, K, 3), NaN where an animal
        has no tracklet.
    """
    if num_animals < 1:
        raise ValueError(f"num_animals must be >= 1. Received: {num_animals}.")
    kept = [tr for tr in tracklets if len(tr.frames) >= config.min_hits]
    if num_frames is None:
        num_frames = 1 + max((tr.end for tr in tracklets), default=-1)
    if num_bodyparts is None:
        num_bodyparts = tracklets[0].poses.shape[1] if tracklets else 0
    poses = np.full((num_frames, num_animals, num_bodyparts, 3), np.nan)
    source = np.full((num_frames, num_animals), -1)
    if kept:
        _, flow = nx.network_simplex(_flow_graph(kept, num_animals, config))
        for animal, path in enumerate(_assign_animals(_paths(flow, len(kept)), kept, num_animals)):
            for i in path:
                poses[kept[i].frames, animal] = kept[i].poses
                source[kept[i].frames, animal] = i
    return TrackResult(poses, source, kept)


def track(poses: np.ndarray, num_animals: int, config: TrackConfig,
          identity: np.ndarray | None = None) -> TrackResult:
    """Track a whole video's assemblies (online tracklets, then :func:`stitch`).

    Args:
        poses: (T, M, K, 3) x, y (image pixels), likelihood; rows in any order per frame,
            NaN rows empty.
        identity: (T, M, I) identity scores per row, or None.
    """
    poses = np.asarray(poses, np.float64)
    if poses.ndim != 4 or poses.shape[-1] != 3:
        raise ValueError(f"poses must have shape (T, M, K, 3). Received: {poses.shape}.")
    if identity is not None and np.shape(identity)[:2] != poses.shape[:2]:
        raise ValueError(f"identity must have shape (T, M, I) = ({poses.shape[0]}, "
                         f"{poses.shape[1]}, I). Received: {np.shape(identity)}.")
    tracker = Tracker(config, poses.shape[2])
    for t in range(len(poses)):
        tracker.update(poses[t], None if identity is None else identity[t])
    return stitch(tracker.tracklets(), num_animals, config, num_frames=len(poses))
