"""Tracking several animals: true poses + noise, rows shuffled every frame -> tracks."""

from __future__ import annotations

import numpy as np
import pytest

from kit.results.evaluate_ma import tracking_metrics as mot_scores
from kit.results.tracking import (
    Tracker,
    TrackConfig,
    stitch,
    track,
)

BODY_LENGTH = 20.0  # px, snout to tailbase
NUM_FRAMES = 300


def _bodies(centres: np.ndarray, headings: np.ndarray) -> np.ndarray:
    """(T, N, 4, 2) snout, left ear, right ear, tail base of animals at centres (T, N, 2)
    facing headings (T, N) radians; body length BODY_LENGTH, ears BODY_LENGTH / 2 apart."""
    forward = np.stack([np.cos(headings), np.sin(headings)], -1)
    left = np.stack([np.sin(headings), -np.cos(headings)], -1)
    offsets = [(0.5, 0.0), (0.2, 0.25), (0.2, -0.25), (-0.5, 0.0)]  # body lengths
    return centres[:, :, None] + BODY_LENGTH * np.stack(
        [a * forward + b * left for a, b in offsets], axis=2)


def _lanes(lanes, starts, speeds, num_frames=NUM_FRAMES) -> np.ndarray:
    """(T, N, 4, 2) animals walking along horizontal lanes (y), from x = starts at speeds
    (px/frame, negative: leftwards), with a small smooth wiggle across the lane."""
    t = np.arange(num_frames)[:, None]
    x = np.asarray(starts) + np.asarray(speeds) * t
    y = np.asarray(lanes) + 1.5 * np.sin(t / 15.0 + np.arange(len(lanes)))
    dy = 0.1 * np.cos(t / 15.0 + np.arange(len(lanes)))
    headings = np.arctan2(dy, np.asarray(speeds) + 0 * t)
    return _bodies(np.stack([x, y], -1), headings)


def _passing() -> np.ndarray:
    """3 animals: two meet head-on on lanes 10 px apart, the third overtakes the first on a
    lane 9 px further (every pair comes within one body length; no bodies overlap)."""
    return _lanes(lanes=[100.0, 110.0, 119.0], starts=[20.0, 620.0, -160.0],
                  speeds=[2.0, -2.0, 3.2])


def _observe(truth: np.ndarray, noise_px: float, seed: int,
             merge_px: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Assemblies as a network would give them: truth + Gaussian noise, likelihood 0.9, rows
    shuffled every frame; with ``merge_px``, animals closer than that (centre to centre)
    give one assembly (the other row empty). Returns poses (T, N, K, 3) and the shuffles
    (T, N): row r of frame t is animal order[t, r]."""
    rng = np.random.default_rng(seed)
    xy = truth + rng.normal(0, noise_px, truth.shape)
    poses = np.concatenate([xy, np.full((*xy.shape[:3], 1), 0.9)], -1)
    if merge_px is not None:
        centres = truth.mean(2)
        for t, a, b in np.ndindex(len(truth), truth.shape[1], truth.shape[1]):
            if a < b and np.linalg.norm(centres[t, a] - centres[t, b]) < merge_px:
                poses[t, b] = np.nan
    order = np.stack([rng.permutation(truth.shape[1]) for _ in range(len(truth))])
    return np.take_along_axis(poses, order[:, :, None, None], 1), order


def _min_distances(truth: np.ndarray) -> dict[tuple[int, int], float]:
    centres = truth.mean(2)
    n = truth.shape[1]
    return {(a, b): float(np.linalg.norm(centres[:, a] - centres[:, b], axis=-1).min())
            for a in range(n) for b in range(a + 1, n)}


def _swapped_tracks(pred: np.ndarray, truth: np.ndarray) -> int:
    """Tracks whose nearest true animal at their last frame differs from their first (the
    identity switches a tracker made, counted by hand)."""
    count = 0
    for i in range(pred.shape[1]):
        frames = np.flatnonzero(np.isfinite(pred[:, i, :, 0]).all(-1))
        first, last = (np.argmin(np.linalg.norm(truth[t] - pred[t, i, :, :2], axis=-1).mean(-1))
                       for t in (frames[0], frames[-1]))
        count += int(first != last)
    return count


def test_generator_passes_within_one_body_length_without_overlap():
    distances = _min_distances(_passing())
    assert all(0.4 * BODY_LENGTH < d < BODY_LENGTH for d in distances.values()), distances


def test_no_identity_switch_when_animals_pass_close():
    truth = _passing()
    poses, _ = _observe(truth, noise_px=2.0, seed=0)
    result = track(poses, 3, TrackConfig())
    scores = mot_scores(result.poses, truth)
    assert scores["num_switches"] == 0, scores
    assert scores["mota"] == 1.0 and scores["idf1"] == 1.0, scores
    assert len(result.tracklets) == 3
    assert np.isfinite(result.poses[..., 0]).all()  # every animal in every frame


@pytest.mark.parametrize("tracker", ["box", "ellipse"])
def test_other_trackers_pass_close_animals_without_switches(tracker):
    truth = _passing()
    poses, _ = _observe(truth, noise_px=2.0, seed=0)
    scores = mot_scores(track(poses, 3, TrackConfig(tracker=tracker)).poses, truth)
    assert scores["num_switches"] == 0 and scores["num_false_positives"] == 0, scores
    assert scores["mota"] > 0.95, scores


def test_ellipse_is_the_pose_covariance_and_similarity_as_deeplabcut():
    from kit.results.tracklets import _ellipse_similarity, _ellipses

    truth = _bodies(np.array([[[50.0, 80.0]]]), np.array([[np.pi / 2]]))[0]  # facing down
    ellipse = _ellipses(truth)[0]
    xy = truth[0]
    values = np.linalg.eigvalsh(np.cov(xy.T))
    np.testing.assert_allclose(ellipse[:2], xy.mean(0))
    np.testing.assert_allclose(ellipse[2:4], 4 * np.sqrt(values[::-1]))
    np.testing.assert_allclose(ellipse[4], np.pi / 2, atol=1e-9)  # major axis along the body
    moved = ellipse + [0.25 * ellipse[2], 0, 0, 0, np.pi / 2]  # a quarter major axis, turned
    sim = _ellipse_similarity(ellipse[None], np.stack([ellipse, moved]))
    np.testing.assert_allclose(sim, [[1.0, 0.75 * 0.8]], atol=1e-9)
    assert _ellipse_similarity(ellipse[None], np.full((1, 5), np.nan))[0, 0] == 0
    assert np.isnan(_ellipses(truth[:, :2])).all()  # fewer than 3 keypoints: no ellipse


def test_no_identity_switch_when_close_animals_drop_out_of_frames():
    """5% of detections missing: a going tracklet whose animal is missing must not take its
    close neighbour's detection away from the neighbour's tracklet."""
    truth = _lanes(lanes=[100.0, 110.0, 119.0], starts=[20.0, 620.0, -160.0],
                   speeds=[0.5, -0.5, 0.8], num_frames=1200)
    poses, _ = _observe(truth, noise_px=2.0, seed=5)
    poses[np.random.default_rng(6).random(poses.shape[:2]) < 0.05] = np.nan
    result = track(poses, 3, TrackConfig())
    scores = mot_scores(result.poses, truth)
    assert scores["num_switches"] == 0 and scores["num_false_positives"] == 0, scores
    assert scores["num_misses"] == np.isnan(poses[..., 0, 0]).sum()


@pytest.mark.parametrize("tracker", ["keypoints", "box", "ellipse"])
def test_overlapping_animals_switches_are_reported(tracker):
    """Two animals walk through each other head-on (the network sees one assembly while they
    overlap): whatever the tracker does, mot_scores reports exactly the switches it made."""
    truth = _lanes(lanes=[100.0, 100.0, 112.0], starts=[20.0, 620.0, 300.0],
                   speeds=[2.0, -2.0, 0.3])
    poses, _ = _observe(truth, noise_px=2.0, seed=1, merge_px=0.5 * BODY_LENGTH)
    assert np.isnan(poses[150]).all(-1).all(-1).sum() == 1  # merged at the crossing
    result = track(poses, 3, TrackConfig(tracker=tracker))
    scores = mot_scores(result.poses, truth)
    assert scores["num_switches"] == _swapped_tracks(result.poses, truth), scores
    assert scores["num_false_positives"] == 0
    merged = int(np.isnan(poses[..., 0, 0]).sum())
    if tracker == "keypoints":  # misses only the animal hidden in the merged assembly
        assert scores["num_misses"] == merged, scores
    else:  # thin, noisy boxes (ellipses): IoU (similarity) sometimes below 0.2, tracklets
        assert scores["mota"] > 0.95, scores  # under min_hits dropped


def _bounce() -> np.ndarray:
    """(100, 3, 4, 2): animals 0 and 1 walk head-on on lanes 6 px apart, meet at frame 50
    and turn back abruptly (a constant-velocity tracker swaps them); animal 2 is far away."""
    t = np.arange(100)[:, None]
    leg = np.minimum(t, 100 - t)  # out and back
    x = np.array([0.0, 200.0, 100.0]) + np.array([2.0, -2.0, 0.0]) * leg
    y = np.broadcast_to(np.array([100.0, 106.0, 200.0]), x.shape)
    heading = np.where(t < 50, [0.0, np.pi, 0.0], [np.pi, 0.0, 0.0])
    return _bodies(np.stack([x, y], -1), heading)


def _identity_scores(order: np.ndarray, seed: int) -> np.ndarray:
    """(T, N, N) noisy identity scores of shuffled rows: the true animal's about 0.7."""
    rng = np.random.default_rng(seed)
    scores = np.clip(rng.normal(0.2, 0.1, (*order.shape, order.shape[1])), 0, 1)
    np.put_along_axis(scores, order[..., None], np.clip(rng.normal(0.7, 0.1, order.shape),
                                                         0, 1)[..., None], -1)
    return scores


def test_identity_votes_fix_a_crossing_that_motion_gets_wrong():
    truth = _bounce()
    poses, order = _observe(truth, noise_px=0.5, seed=2)
    motion = mot_scores(track(poses, 3, TrackConfig()).poses, truth)
    assert motion["num_switches"] == 2, motion  # 0 and 1 swapped after the turn
    identity = _identity_scores(order, seed=3)
    result = track(poses, 3, TrackConfig(), identity=identity)
    voted = mot_scores(result.poses, truth)
    assert voted["num_switches"] == 0 and voted["idf1"] == 1.0, voted
    # with identities, the n-th track is the n-th animal, not just some consistent order
    np.testing.assert_allclose(result.poses[..., :2], truth, atol=3.0)


def test_stitching_joins_fragments_into_the_animals():
    """Each animal vanishes for a few frames every 40 (occluded); with max_age=1 the tracker
    closes its tracklet each time, and stitching joins the fragments back into 3 animals."""
    truth = _passing()
    poses, order = _observe(truth, noise_px=1.0, seed=4)
    for animal, phase in enumerate((5, 18, 31)):
        for start in range(phase, NUM_FRAMES - 10, 40):
            rows = order[start:start + 4] == animal
            poses[start:start + 4][rows] = np.nan
    config = TrackConfig(max_age=1)
    tracker = Tracker(config, num_bodyparts=4)
    for frame in poses:
        tracker.update(frame)
    tracklets = tracker.tracklets()
    assert len(tracklets) >= 3 * 7  # fragments
    result = stitch(tracklets, 3, config, num_frames=NUM_FRAMES)
    scores = mot_scores(result.poses, truth)
    assert scores["num_switches"] == 0 and scores["num_false_positives"] == 0, scores
    hidden = int(np.isnan(poses[..., 0, 0]).sum())
    assert hidden == 22 * 4 and scores["num_misses"] == hidden  # exactly the hidden frames
    assert result.poses.shape == (NUM_FRAMES, 3, 4, 3)


def test_tracker_ids_and_bad_inputs():
    tracker = Tracker(TrackConfig(), num_bodyparts=4)
    frame = np.concatenate([_passing()[0], np.ones((3, 4, 1))], -1)
    assert list(tracker.update(frame)) == [0, 1, 2]
    assert list(tracker.update(np.stack([frame[2], frame[0] * np.nan, frame[1]]))) == [2, -1, 1]
    with pytest.raises(ValueError, match="shape"):
        tracker.update(frame[:, :3])
    with pytest.raises(ValueError, match="tracker"):
        TrackConfig(tracker="skeleton")
    assert stitch([], 2, TrackConfig(), num_frames=5).poses.shape == (5, 2, 0, 3)


@pytest.mark.parametrize("tracker", ["keypoints", "box", "ellipse"])
def test_no_identity_switch_on_a_synthetic_group_passing_within_a_body_length(tracker):
    """The issue's case on kit's own synthetic group (kit.experiments.synthetic_group): 300
    frames, 3 animals walking to each other and away (the generator's truth, every pair
    within one body length at some frame), 2 px noise, rows shuffled in every frame."""
    from kit.experiments.synthetic_group import GroupConfig, group_trajectories

    truth = group_trajectories(GroupConfig(num_animals=3, num_frames=300, image_size=(640, 480),
                                           seed=3))
    length = np.linalg.norm(truth.poses[:, :, 0] - truth.poses[:, :, 3], axis=-1).mean()
    centres = truth.poses.mean(2)
    closest = min(np.linalg.norm(centres[:, a] - centres[:, b], axis=-1).min()
                  for a in range(3) for b in range(a + 1, 3))
    assert closest < length  # they do pass within a body length
    poses, _ = _observe(truth.poses, noise_px=2.0, seed=0)
    result = track(poses, 3, TrackConfig(tracker=tracker))
    scores = mot_scores(result.poses, truth.poses)
    assert scores["num_switches"] == 0, scores
    assert scores["idf1"] > 0.99, scores
