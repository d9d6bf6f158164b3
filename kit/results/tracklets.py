"""Tracklets, online: per-frame assemblies (rows in any order) -> short tracks of one animal.

The first step of :mod:`kit.results.tracking` (see there): :class:`Tracker` takes one frame
at a time, matches its assemblies to the open tracklets' predictions (constant velocity) by
linear assignment on keypoint distance or box overlap plus identity disagreement, and keeps
every detection once; :class:`TrackConfig` holds the settings of both steps.
"""


from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from kit.net.assembly import keypoint_distance

_NO_MATCH = 1e6


TRACKERS = {"keypoints", "box", "ellipse"}  # see TrackConfig.tracker


@dataclass(frozen=True)
class TrackConfig:
    """Settings of tracking (DeepLabCut's ``inference_cfg.yaml`` defaults where it has them).

    Attributes:
        tracker: how assemblies are matched to tracklets, one of ``TRACKERS``:
            ``"keypoints"`` (mean keypoint distance), ``"box"`` (bounding-box IoU, SORT) or
            ``"ellipse"`` (DeepLabCut 2.2+'s default: each pose's 2-sd covariance ellipse,
            similarity from the centres' distance and the axes' angle).
        max_age: frames a tracklet may go unmatched before it is closed (DeepLabCut: 100).
        min_hits: tracklets with fewer detections are dropped as spurious (DeepLabCut: 3).
        iou_threshold: box and ellipse trackers: least IoU (ellipse similarity) of a match
            (DeepLabCut: 0.2).
        boundingboxslack: box tracker: pixels added around each box (DeepLabCut: 0).
        max_distance: keypoints tracker: largest mean keypoint distance of a match, in
            body lengths (the tracklet's bounding-box diagonal).
        identity_weight: weight of identity disagreement (total variation of the two
            normalised identity score vectors, 0..1) in matching and stitching costs.
        max_gap: stitching links tracklets at most this many frames apart.
        gap_cost: stitching cost of a link per frame of gap, in body lengths.
        smoothing: weight of the newest frame in the velocity estimate (0 < smoothing <= 1).
        age_cost: matching cost per frame a tracklet went unseen, so a going tracklet keeps
            its animal against an old one that predicts the same place.
    """

    tracker: str = "keypoints"
    max_age: int = 100
    min_hits: int = 3
    iou_threshold: float = 0.2
    boundingboxslack: float = 0.0
    max_distance: float = 1.0
    identity_weight: float = 2.0
    max_gap: int = 100
    gap_cost: float = 0.01
    smoothing: float = 0.5
    age_cost: float = 0.05

    def __post_init__(self):
        if self.tracker not in TRACKERS:
            raise ValueError(f"Unknown tracker={self.tracker!r}. Choose one of {sorted(TRACKERS)}.")
        if self.max_age < 1 or self.min_hits < 1 or self.max_gap < 1:
            raise ValueError("max_age, min_hits and max_gap must be >= 1. Received: max_age="
                             f"{self.max_age}, min_hits={self.min_hits}, max_gap={self.max_gap}.")
        if not 0 < self.iou_threshold <= 1 or not 0 < self.smoothing <= 1:
            raise ValueError("iou_threshold and smoothing must be in (0, 1]. Received: "
                             f"iou_threshold={self.iou_threshold}, smoothing={self.smoothing}.")
        if min(self.max_distance, self.identity_weight, self.gap_cost, self.age_cost,
               self.boundingboxslack) < 0 or self.max_distance == 0:
            raise ValueError("max_distance must be positive; identity_weight, gap_cost and "
                             f"boundingboxslack >= 0. Received: {self}.")


def body_size(points: np.ndarray) -> np.ndarray:
    """(...,) bounding-box diagonal of (..., K, >=2) points' finite x, y; at least 1 px."""
    xy = points[..., :2]
    with quiet_nan():
        span = np.nanmax(xy, axis=-2) - np.nanmin(xy, axis=-2)
    return np.maximum(np.nan_to_num(np.hypot(span[..., 0], span[..., 1]), nan=1.0), 1.0)


@contextlib.contextmanager
def quiet_nan():
    """Silence numpy's all-NaN warnings (empty rows and missing keypoints are expected)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def _boxes(points: np.ndarray, slack: float) -> np.ndarray:
    """(N, 4) x1, y1, x2, y2 of (N, K, >=2) points' finite keypoints, widened by slack px."""
    with quiet_nan():
        low, high = np.nanmin(points[..., :2], axis=1), np.nanmax(points[..., :2], axis=1)
    return np.concatenate([low - slack, high + slack], axis=1)


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(A, B) intersection over union of boxes a (A, 4) and b (B, 4); 0 for NaN boxes."""
    low = np.maximum(a[:, None, :2], b[None, :, :2])
    high = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(high - low, 0, None), axis=-1)
    area_a, area_b = np.prod(a[:, 2:] - a[:, :2], 1), np.prod(b[:, 2:] - b[:, :2], 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = inter / (area_a[:, None] + area_b[None] - inter)
    return np.nan_to_num(iou, nan=0.0)


def _ellipses(points: np.ndarray, sd: float = 2.0) -> np.ndarray:
    """(N, 5) centre x, y, the major and minor axes' full lengths (``sd`` standard deviations
    each way from the centre) and the major axis's angle (radians, 0..pi) of (N, K, >=2)
    points' finite keypoints, as DeepLabCut's error ellipse; NaN where fewer than 3 are
    finite."""
    out = np.full((len(points), 5), np.nan)
    for n, xy in enumerate(points[..., :2]):
        xy = xy[np.isfinite(xy).all(axis=1)]
        if len(xy) >= 3:
            values, vectors = np.linalg.eigh(np.cov(xy.T))  # ascending
            minor, major = 2 * sd * np.sqrt(np.clip(values, 0, None))
            angle = np.arctan2(vectors[1, 1], vectors[0, 1]) % np.pi
            out[n] = (*xy.mean(axis=0), major, minor, angle)
    return out


def _ellipse_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(A, B) DeepLabCut's ellipse similarity of ellipses a (A, 5) and b (B, 5), 0..1: with
    c = 1 - min(1, centre distance / the longest of the four axes), 0.8 c + 0.2 c |cos of
    the angle between the major axes|; 0 where an ellipse is NaN."""
    dist = np.linalg.norm(a[:, None, :2] - b[None, :, :2], axis=-1)
    longest = np.maximum(a[:, 2][:, None], b[:, 2][None])  # major axes
    close = 1 - np.minimum(dist / np.where(longest > 0, longest, 1), 1)
    similarity = close * (0.8 + 0.2 * np.abs(np.cos(a[:, None, 4] - b[None, :, 4])))
    return np.nan_to_num(similarity, nan=0.0)


def _motion_cost(predicted: np.ndarray, sizes: np.ndarray, detections: np.ndarray,
                 config: TrackConfig) -> np.ndarray:
    """(A, M) cost of matching predicted tracklet poses (A, K, 2) to detections (M, K, 3);
    _NO_MATCH beyond the gate (``max_distance`` body lengths, or ``iou_threshold``)."""
    if config.tracker == "ellipse":
        cost = 1.0 - _ellipse_similarity(_ellipses(predicted), _ellipses(detections))
        return np.where(cost > 1.0 - config.iou_threshold, _NO_MATCH, cost)
    if config.tracker == "box":
        cost = 1.0 - _iou(_boxes(predicted, config.boundingboxslack),
                          _boxes(detections, config.boundingboxslack))
        return np.where(cost > 1.0 - config.iou_threshold, _NO_MATCH, cost)
    cost = keypoint_distance(predicted, detections) / sizes[:, None]
    return np.where(cost > config.max_distance, _NO_MATCH, cost)



def identity_votes(identity: np.ndarray) -> np.ndarray:
    """(..., I) identity scores normalised to sum 1 (uniform where they sum to 0)."""
    identity = np.clip(np.nan_to_num(identity, nan=0.0), 0, None)
    total = identity.sum(-1, keepdims=True)
    return np.where(total > 0, identity / np.where(total > 0, total, 1), 1 / identity.shape[-1])


def identity_disagreement(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(A, B) total variation between identity votes a (A, I) and b (B, I), in 0..1."""
    return 0.5 * np.abs(identity_votes(a)[:, None] - identity_votes(b)[None]).sum(-1)


@dataclass
class _Open:
    """An open tracklet's state: last pose, velocity (px/frame), last frame, identity sum."""

    pose: np.ndarray  # (K, 2)
    velocity: np.ndarray  # (K, 2)
    frame: int
    identity: np.ndarray | None  # (I,) sum of scores so far

    def predict(self, frame: int) -> np.ndarray:
        return self.pose + self.velocity * (frame - self.frame)


@dataclass(frozen=True)
class Tracklet:
    """One tracklet: its frames (n,) increasing, poses (n, K, 3), identity (n, I) or None."""

    frames: np.ndarray
    poses: np.ndarray
    identity: np.ndarray | None

    @property
    def start(self) -> int:
        return int(self.frames[0])

    @property
    def end(self) -> int:
        return int(self.frames[-1])


class Tracker:
    """Online tracklets (SORT-like): feed frames in order with :meth:`update`, then take
    :meth:`tracklets`. Stores each detection once (memory ~ the poses themselves)."""

    def __init__(self, config: TrackConfig, num_bodyparts: int):
        self.config, self.num_bodyparts = config, num_bodyparts
        self.num_frames = 0
        self._open: dict[int, _Open] = {}
        self._next_id = 0
        self._ids: list[np.ndarray] = []  # per frame: (M_t,) tracklet of each detection
        self._poses: list[np.ndarray] = []  # per frame: (M_t, K, 3)
        self._identity: list[np.ndarray] = []  # per frame: (M_t, I) when given

    def update(self, frame_poses: np.ndarray, identity: np.ndarray | None = None) -> np.ndarray:
        """Add the next frame's assemblies.

        Args:
            frame_poses: (M, K, 3) x, y (image pixels), likelihood, rows in any order; rows
                without a finite x are empty.
            identity: (M, I) identity scores of each row, or None.

        Returns:
            (M,) the tracklet id of each row, -1 for empty rows.
        """
        frame_poses = np.asarray(frame_poses, np.float64)
        if frame_poses.ndim != 3 or frame_poses.shape[1:] != (self.num_bodyparts, 3):
            raise ValueError(f"frame_poses must have shape (M, {self.num_bodyparts}, 3). "
                             f"Received: {frame_poses.shape}.")
        t, ids = self.num_frames, np.full(len(frame_poses), -1)
        rows = np.flatnonzero(np.isfinite(frame_poses[..., 0]).any(-1))
        found, ident = frame_poses[rows], None if identity is None else np.asarray(identity)[rows]
        for det, track in self._match(found, ident, t):
            ids[rows[det]] = track
            self._advance(track, found[det], None if ident is None else ident[det], t)
        for det in np.flatnonzero(ids[rows] < 0):
            ids[rows[det]] = self._start(found[det], None if ident is None else ident[det], t)
        self._open = {k: s for k, s in self._open.items() if t - s.frame < self.config.max_age}
        self._ids.append(ids[rows])
        self._poses.append(found)
        if ident is not None:
            self._identity.append(ident.astype(np.float64))
        self.num_frames += 1
        return ids

    def _match(self, found: np.ndarray, ident: np.ndarray | None, t: int) -> list[tuple[int, int]]:
        """(detection, tracklet id) pairs of frame t: one linear assignment over every open
        tracklet, each frame it went unseen adding ``age_cost`` (an old tracklet takes a
        detection from a going one only when it fits clearly better)."""
        return self._assign(list(self._open), found, np.arange(len(found)), ident, t)

    def _assign(self, keys: list[int], found: np.ndarray, rows: np.ndarray,
                ident: np.ndarray | None, t: int) -> list[tuple[int, int]]:
        """Linear assignment of detections ``found[rows]`` to the open tracklets ``keys``."""
        if not keys or not len(rows):
            return []
        states = [self._open[k] for k in keys]
        predicted = np.stack([s.predict(t) for s in states])
        cost = _motion_cost(predicted, body_size(np.stack([s.pose for s in states])),
                            found[rows], self.config)
        age = np.array([t - s.frame - 1 for s in states], np.float64)
        cost = np.where(cost < _NO_MATCH, cost + self.config.age_cost * age[:, None], cost)
        if ident is not None and all(s.identity is not None for s in states):
            cost = cost + self.config.identity_weight * identity_disagreement(
                np.stack([s.identity for s in states]), ident[rows])
        r, c = linear_sum_assignment(cost)
        return [(int(rows[j]), keys[i]) for i, j in zip(r, c, strict=True) if cost[i, j] < _NO_MATCH]

    def _start(self, pose: np.ndarray, identity: np.ndarray | None, t: int) -> int:
        track, self._next_id = self._next_id, self._next_id + 1
        self._open[track] = _Open(pose[:, :2].copy(), np.zeros((len(pose), 2)), t,
                                  None if identity is None else identity_votes(identity))
        return track

    def _advance(self, track: int, pose: np.ndarray, identity: np.ndarray | None, t: int) -> None:
        state = self._open[track]
        predicted = state.predict(t)
        seen = np.isfinite(pose[:, :2])
        velocity = (pose[:, :2] - state.pose) / (t - state.frame)
        alpha = self.config.smoothing
        state.velocity = np.where(seen & np.isfinite(velocity),
                                  alpha * velocity + (1 - alpha) * state.velocity, state.velocity)
        state.pose = np.where(seen, pose[:, :2], predicted)
        state.frame = t
        if identity is not None and state.identity is not None:
            state.identity = state.identity + identity_votes(identity)

    def tracklets(self) -> list[Tracklet]:
        """Every tracklet so far (open or closed), in order of their first frame."""
        if not self._ids or not sum(map(len, self._ids)):
            return []
        ids = np.concatenate(self._ids)
        frames = np.repeat(np.arange(len(self._ids)), [len(i) for i in self._ids])
        poses = np.concatenate(self._poses)
        identity = np.concatenate(self._identity) if self._identity else None
        order = np.argsort(ids, kind="stable")
        bounds = np.flatnonzero(np.diff(ids[order])) + 1
        out = [Tracklet(frames[part], poses[part], None if identity is None else identity[part])
               for part in np.split(order, bounds)]
        return sorted(out, key=lambda tr: tr.start)
