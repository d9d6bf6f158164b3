"""The losses on unlabeled frames (kit.net.unlabeled_losses): each zero on keypoints that meet
it and positive, by the amount worked out by hand, on keypoints that do not."""

import keras
import numpy as np
import pytest

from kit.net.unlabeled_losses import (
    Keypoints,
    PoseSubspaceLoss,
    TemporalLoss,
    ViewsLoss,
    pose_outputs_only,
    with_unlabeled_losses,
)
from kit.net.model import build_model
from kit.net.subspaces import fit_pose_subspace, fit_view_subspace
from kit.net.train import TrainConfig

TRIANGLE = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 5.0]])  # K = 3 body parts, pixels


def _loss(loss, flags, points) -> float:
    return float(loss(np.array(flags, np.float32)[:, None], np.array(points, np.float32)))


def test_temporal_loss_is_zero_within_epsilon_and_the_excess_beyond():
    loss = TemporalLoss(epsilon_px=2.0)
    still = TRIANGLE + [1.5, 0.0]  # every part moves 1.5 px: within 2 px
    assert _loss(loss, [1, 0], [TRIANGLE, still]) == 0.0
    jumped = TRIANGLE + [[5.0, 0.0], [0.0, 0.0], [0.0, 0.0]]  # one part jumps 5 px
    assert _loss(loss, [1, 0], [TRIANGLE, jumped]) == pytest.approx(3.0 / 3)  # (5 - 2) / K
    assert _loss(loss, [0.5, 0], [TRIANGLE, jumped]) == pytest.approx(0.5)  # ramping up
    # Rows not flagged are not pairs: a labeled row before the pair counts for nothing.
    far = TRIANGLE + 100.0
    assert _loss(loss, [0, 1, 0], [far, TRIANGLE, still]) == 0.0
    assert _loss(loss, [0, 0, 0], [far, TRIANGLE, jumped]) == 0.0


def test_the_temporal_loss_leaves_out_parts_out_of_view():
    """With Keypoints' confidences: the jumping part counts only where it is confident in
    both frames (Lightning Pose's prob_threshold)."""
    loss = TemporalLoss(epsilon_px=2.0, min_confidence=0.05)
    jumped = TRIANGLE + [[5.0, 0.0], [0.0, 0.0], [0.0, 0.0]]
    seen, unseen = np.full((3, 1), 0.9), np.array([[0.01], [0.9], [0.9]])
    with_confidence = [np.hstack([TRIANGLE, seen]), np.hstack([jumped, seen])]
    assert _loss(loss, [1, 0], with_confidence) == pytest.approx(3.0 / 3)
    with_confidence[1] = np.hstack([jumped, unseen])  # the jumping part not seen at t + 1
    assert _loss(loss, [1, 0], with_confidence) == 0.0
    assert _loss(TemporalLoss(epsilon_px=2.0), [1, 0], with_confidence) == pytest.approx(1.0)


def _turned(pose, degrees, scale=1.0, shift=(0.0, 0.0)):
    a = np.radians(degrees)
    rotation = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return scale * pose @ rotation.T + shift


def test_pose_subspace_loss_is_zero_on_the_labels_subspace_and_positive_off_it():
    rng = np.random.default_rng(0)
    labels = [_turned(TRIANGLE, rng.uniform(-25, 25), rng.uniform(0.5, 1.25), rng.uniform(0, 50, 2))
              for _ in range(50)]
    subspace = fit_pose_subspace(np.array(labels), explained_variance=1.0)
    assert subspace.components.shape == (6, 2)  # rotation and scale: two directions
    assert subspace.tolerance_px == pytest.approx(0.0, abs=1e-6)
    loss = PoseSubspaceLoss(subspace.mean, subspace.components, subspace.tolerance_px)
    unseen = _turned(TRIANGLE, 10.0, 0.9, (200.0, -30.0))  # moved, turned, scaled: allowed
    assert _loss(loss, [1], [unseen]) == pytest.approx(0.0, abs=1e-3)
    # One part moved 6 px off the triangle: away from the subspace.
    bent = unseen + [[0.0, 0.0], [0.0, 0.0], [6.0, 0.0]]
    assert _loss(loss, [1], [bent]) > 1.0
    assert _loss(loss, [0, 1], [bent, unseen]) == pytest.approx(0.0, abs=1e-3)  # not flagged
    with pytest.raises(ValueError, match="at least 2 poses"):
        fit_pose_subspace(np.full((3, 3, 2), np.nan), 0.99)


def test_the_pose_subspace_of_some_body_parts_ignores_the_others():
    """An obstacle (a fourth part) wherever it likes, often unlabeled: with columns the
    triangle's subspace is fitted on every pose and the obstacle costs nothing."""
    rng = np.random.default_rng(1)
    labels = np.array([np.vstack([_turned(TRIANGLE, rng.uniform(-25, 25)), [np.nan, np.nan]])
                       for _ in range(20)])
    subspace = fit_pose_subspace(labels, 1.0, columns=(0, 1, 2))
    assert subspace.columns == (0, 1, 2) and subspace.components.shape == (6, 2)
    loss = PoseSubspaceLoss(subspace.mean, subspace.components, subspace.tolerance_px,
                            subspace.columns)
    pose = np.vstack([_turned(TRIANGLE, 5.0, 1.0, (40.0, 9.0)), [300.0, -80.0]])
    assert _loss(loss, [1], [pose]) == pytest.approx(0.0, abs=1e-3)
    bent = pose + [[0.0, 0.0], [0.0, 0.0], [6.0, 0.0], [0.0, 0.0]]
    assert _loss(loss, [1], [bent]) > 1.0
    restored = keras.losses.deserialize(keras.losses.serialize(loss))
    assert _loss(restored, [1], [bent]) == pytest.approx(_loss(loss, [1], [bent]))


def _mirror_frame(point3d):
    """A mirror rig's frame of a 3D point (x along the runway, y up, z across): the side
    view at (x, y), the mirror's view from below at (x, 200 + z)."""
    x, y, z = point3d
    return [[x, y], [x, 200.0 + z]]


def test_views_loss_is_zero_on_two_views_that_agree_and_positive_on_two_that_do_not():
    rng = np.random.default_rng(0)
    labels = np.array([_mirror_frame(p) + _mirror_frame(p + [5.0, 0.0, 3.0])  # nose, paw
                       for p in rng.uniform(0, 100, (30, 3))])  # (30, K=4, 2)
    first, second = [0, 2], [1, 3]  # nose_top, paw_top; nose_bot, paw_bot
    subspace = fit_view_subspace(labels, first, second)
    assert subspace.components.shape == (4, 3) and subspace.tolerance_px < 1e-6
    loss = ViewsLoss(subspace.mean, subspace.components, subspace.tolerance_px, first, second)
    unseen = np.array(_mirror_frame([150.0, 20.0, 40.0]) + _mirror_frame([7.0, 90.0, 1.0]))
    assert _loss(loss, [1], [unseen]) == pytest.approx(0.0, abs=1e-3)
    # The bottom view's nose 8 px along the runway from the side view's: they disagree. The
    # residual (0, 8) splits evenly between the two views' x: 4 px each, 2 of 4 points.
    wrong = unseen + [[0.0, 0.0], [8.0, 0.0], [0.0, 0.0], [0.0, 0.0]]
    assert _loss(loss, [1], [wrong]) == pytest.approx(2 * 4.0 / 4, rel=1e-3)
    assert _loss(loss, [0, 1], [wrong, unseen]) == pytest.approx(0.0, abs=1e-3)  # not flagged
    restored = keras.losses.deserialize(keras.losses.serialize(loss))
    assert _loss(restored, [1], [wrong]) == pytest.approx(_loss(loss, [1], [wrong]))
    with pytest.raises(ValueError, match="view_pairs"):
        fit_view_subspace(np.full((2, 4, 2), np.nan), first, second)


def test_the_views_loss_holds_a_pair_whose_labels_scatter_more_to_its_own_spread():
    rng = np.random.default_rng(1)
    parts = rng.uniform(-10.0, 10.0, (10, 3))  # nose, paws, ..., the tail's middle last

    def frame(point3d):  # each body part in both views
        return np.array(sum((_mirror_frame(point3d + part) for part in parts), []))

    labels = np.array([frame(p) for p in rng.uniform(0, 100, (60, 3))])
    labels[:, 19, 0] += rng.uniform(-10.0, 10.0, 60)  # the labelers' tail below: elsewhere
    first, second = list(range(0, 20, 2)), list(range(1, 20, 2))
    subspace = fit_view_subspace(labels, first, second)
    tail_tol, paw_tol = subspace.pair_tolerances_px[-1], subspace.pair_tolerances_px[0]
    assert tail_tol > 1.5 * paw_tol and paw_tol == subspace.tolerance_px
    args = (subspace.mean, subspace.components, subspace.tolerance_px, first, second)
    own, pooled = ViewsLoss(*args, subspace.pair_tolerances_px), ViewsLoss(*args)
    away = np.eye(4) - subspace.components @ subspace.components.T

    def residuals(pose):  # each pair's distance from the view subspace, both views
        rows = np.concatenate([pose[first], pose[second]], axis=-1)
        return np.linalg.norm((rows - subspace.mean) @ away, axis=-1)

    unseen = frame(np.array([50.0, 20.0, 40.0]))
    assert np.all(residuals(unseen) < paw_tol / 2)
    # The tail's bottom point moved along x: within the tail's own spread, beyond what the
    # pooled tolerance of each view (paw_tol, the paws' spread) allows both views together.
    tail_off = unseen.copy()
    tail_off[19, 0] += 0.5 * (2**0.5 * paw_tol + tail_tol) / np.linalg.norm(away[:, 2])
    assert 2**0.5 * paw_tol < residuals(tail_off)[-1] < tail_tol
    assert _loss(own, [1], [tail_off]) == pytest.approx(0.0, abs=1e-3)
    assert _loss(pooled, [1], [tail_off]) > 0.05  # the pooled tolerance would pull it in
    nose_off = unseen.copy()
    nose_off[1, 0] += 3.0 * paw_tol
    beyond = np.maximum(residuals(nose_off) - subspace.pair_tolerances_px, 0.0).mean()
    assert beyond > 0 and _loss(own, [1], [nose_off]) == pytest.approx(beyond, rel=1e-3)
    restored = keras.losses.deserialize(keras.losses.serialize(own))
    assert _loss(restored, [1], [nose_off]) == pytest.approx(beyond, rel=1e-3)
    with pytest.raises(ValueError, match="one tolerance per view pair"):
        ViewsLoss(*args, [1.0])


def test_keypoints_are_the_peaks_and_the_saved_model_keeps_the_pose_heads_only():
    logits = np.full((1, 4, 5, 1), -10.0, np.float32)
    logits[0, 2, 3, 0] = 10.0  # cell (row 2, column 3): pixel (3 * 8 + 4, 2 * 8 + 4)
    points = Keypoints(8, 7.2801)(logits, np.zeros((1, 4, 5, 2), np.float32))
    assert np.allclose(keras.ops.convert_to_numpy(points), [[[28.0, 20.0, 1.0]]], atol=1e-3)
    config = TrainConfig(unlabeled_pairs=1, weights=None, net_type="mobilenet_v2_0.35")
    subspace = fit_pose_subspace(np.stack([TRIANGLE[:2], TRIANGLE[1:]]), 1.0)
    model, losses, weights = with_unlabeled_losses(build_model(2, net_type=config.net_type),
                                                   config, {"pca": subspace})
    assert list(model.output_names) == ["part_pred", "locref", "temporal", "pca"]
    assert sorted(losses) == sorted(weights) == ["pca", "temporal"]
    assert list(pose_outputs_only(model).output_names) == ["part_pred", "locref"]
