"""Multi-animal evaluation: matching, errors, OKS mAP/mAR, tracking metrics, evaluate()."""

import numpy as np
import pytest

from kit.results import evaluate_ma as ma


def _animals(num_frames=5, num_animals=3, num_parts=4, seed=0):
    """(N, J, K, 2) labeled animals far apart (100 px), each 20 px across."""
    rng = np.random.default_rng(seed)
    centres = 100.0 * np.arange(num_animals)[None, :, None, None] + 50
    offsets = rng.uniform(-10, 10, (num_frames, num_animals, num_parts, 2))
    return centres + offsets


def _with_likelihood(points, likelihood=0.9):
    return np.concatenate([points, np.full((*points.shape[:-1], 1), likelihood)], -1)


def test_match_animals_with_shuffled_rows_and_missing_animals():
    truth = _animals()[0]  # (3, 4, 2)
    pred = _with_likelihood(truth[[2, 0, 1]] + 1.0)
    assert ma.match_animals(pred, truth) == [(1, 0), (2, 1), (0, 2)]
    pred[0] = np.nan  # truth animal 2 missed
    truth_missing = truth.copy()
    truth_missing[0] = np.nan  # pred row 1 (animal 0) is an extra animal now
    assert ma.match_animals(pred, truth_missing) == [(2, 1)]
    assert ma.match_animals(pred, truth, max_distance_px=0.5) == []
    with pytest.raises(ValueError, match="pred must be"):
        ma.match_animals(pred[..., :1], truth)


def test_matched_errors_equal_the_noise_and_counts_of_missed_and_extra():
    truth = _animals(num_frames=6)
    rng = np.random.default_rng(1)
    angle = rng.uniform(0, 2 * np.pi, truth.shape[:3])
    noise = 3.0 * np.stack([np.cos(angle), np.sin(angle)], -1)  # every error is 3 px
    pred = _with_likelihood(truth + noise)
    pred = np.stack([p[rng.permutation(3)] for p in pred])  # rows in no order
    errors = ma.matched_errors(pred, truth)
    np.testing.assert_allclose(errors, 3.0)
    truth[0, 1] = np.nan  # frame 0: one animal unlabeled, its prediction is extra
    pred[1, :2] = np.nan  # frame 1: two animals missed
    errors = ma.matched_errors(pred, truth)
    assert np.isnan(errors[0, 1]).all() and np.isnan(errors[1]).sum() == 8
    np.testing.assert_allclose(errors[np.isfinite(errors)], 3.0)
    counts = ma.animal_counts(pred, truth)
    assert counts.num_extra.tolist() == [1, 0, 0, 0, 0, 0]
    assert counts.num_missed.tolist() == [0, 2, 0, 0, 0, 0]
    aligned = ma.align_to_truth(pred, truth)
    assert aligned.shape == pred.shape and np.isfinite(aligned[0, 1]).all()  # extra kept


def test_oks_by_hand():
    truth = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [np.nan, np.nan]])
    pred = np.array([[0.0, 0.0], [12.0, 0.0], [np.nan, np.nan], [50.0, 50.0]])
    # box 10 x 10 (area 100), sigma 0.1: exp(-d^2 / (2 * 100 * 0.04)) = exp(-d^2 / 8);
    # parts: d = 0 -> 1, d = 2 -> exp(-0.5), not predicted -> 0; the unlabeled one ignored
    assert ma.oks(pred, truth) == pytest.approx((1 + np.exp(-0.5) + 0) / 3)
    # margin 5 on each side: area 20 x 20 = 400 -> exp(-4 / 32)
    assert ma.oks(pred, truth, margin=5) == pytest.approx((1 + np.exp(-4 / 32)) / 3)
    assert np.isnan(ma.oks(pred, truth[[0, 3, 3, 3]]))  # one labeled part: no scale


def test_oks_map_perfect_then_worse_with_noise_and_misses():
    truth = _animals(num_frames=8)
    perfect = ma.oks_map(_with_likelihood(truth), truth)
    assert perfect == {"mAP": pytest.approx(100.0), "mAR": pytest.approx(100.0)}
    shuffled = _with_likelihood(truth[:, [1, 2, 0]])
    assert ma.oks_map(shuffled, truth)["mAP"] == pytest.approx(100.0)
    noisy = [ma.oks_map(_with_likelihood(truth + np.random.default_rng(2).normal(
        0, s, truth.shape)), truth) for s in (0.5, 2.0, 5.0)]
    assert 100 > noisy[0]["mAP"] > noisy[1]["mAP"] > noisy[2]["mAP"]
    assert noisy[0]["mAR"] > noisy[2]["mAR"]
    missed = _with_likelihood(truth)
    missed[:, 0] = np.nan  # a third of the animals never found: recall 2/3, precision 1
    result = ma.oks_map(missed, truth)
    assert result["mAR"] == pytest.approx(100 * 2 / 3)
    # precision 1 up to recall 2/3 (67 of the 101 recall points), 0 beyond
    assert result["mAP"] == pytest.approx(100 * 67 / 101)
    extra = _with_likelihood(np.concatenate([truth, truth[:, :1] + 40], 1), 0.9)
    extra[:, 3, :, 2] = 0.1  # an invented animal, least confident: ranked last
    assert ma.oks_map(extra, truth)["mAP"] == pytest.approx(100.0)
    extra[:, 3, :, 2] = 0.95  # ranked first now: precision drops
    assert ma.oks_map(extra, truth)["mAP"] < 100.0


def test_tracking_metrics_count_an_identity_swap():
    truth = _animals(num_frames=10)
    tracks = _with_likelihood(truth + 0.5)
    perfect = ma.tracking_metrics(tracks, truth)
    assert perfect["num_switches"] == 0 and perfect["mota"] == pytest.approx(1.0)
    assert perfect["idf1"] == pytest.approx(1.0)
    swapped = tracks.copy()
    swapped[5:, [0, 1]] = tracks[5:, [1, 0]]  # tracks 0 and 1 trade animals from frame 5 on
    result = ma.tracking_metrics(swapped, truth)
    assert result["num_switches"] == 2  # both animals change track once
    assert result["mota"] == pytest.approx(1 - 2 / 30)
    assert result["idf1"] < 1.0
    lost = tracks.copy()
    lost[:, 2, :, 2] = 0.1  # one track below pcutoff: its animal missed in every frame
    assert ma.tracking_metrics(lost, truth, pcutoff=0.5)["num_misses"] == 10
