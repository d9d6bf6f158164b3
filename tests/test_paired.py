"""kit.results.paired: the change between two predictions of the same points, with an
interval from resampling the test frames."""

import numpy as np
import pytest

from kit.results.paired import paired_change


def test_a_uniform_change_is_certain_and_no_change_is_zero():
    rng = np.random.default_rng(0)
    before = rng.uniform(1, 10, 60)
    frames = np.repeat(np.arange(12), 5)
    halved = paired_change(before, before / 2, frames, num_resamples=200)
    np.testing.assert_allclose(halved[["change", "low", "high"]].to_numpy(), -0.5)
    assert halved.loc["mean", "before"] == pytest.approx(before.mean())
    same = paired_change(before, before, frames, num_resamples=200)
    np.testing.assert_allclose(same[["change", "low", "high"]].to_numpy(), 0.0)


def test_a_change_on_one_frame_of_twenty_is_not_sure():
    """One frame's far miss mended: the mean falls, but a draw without that frame (a third
    of them) shows no change, so the interval reaches 0."""
    before = np.full((20, 5), 4.0)
    before[3] = 100.0
    after = np.full((20, 5), 4.0)
    frames = np.repeat(np.arange(20), 5)
    change = paired_change(before.ravel(), after.ravel(), frames, num_resamples=500)
    assert change.loc["mean", "change"] == pytest.approx(4.0 / 8.8 - 1)
    assert change.loc["mean", "high"] == pytest.approx(0.0)
    assert change.loc["mean", "low"] < -0.5
    assert change.loc["median", "change"] == 0.0


def test_points_without_both_errors_are_left_out():
    before, after = np.array([1.0, np.nan, 3.0]), np.array([2.0, 5.0, np.nan])
    change = paired_change(before, after, np.array(["a", "b", "c"]), num_resamples=10)
    assert change.loc["mean", "change"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="at least one point"):
        paired_change(np.array([np.nan]), np.array([1.0]), np.array([0]))
