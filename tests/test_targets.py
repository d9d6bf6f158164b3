import numpy as np
import pytest

from kit.net.targets import TargetConfig, decode, make_targets, map_shape


def test_score_map_by_hand():
    # 4x5 map, stride 8: cell centres x = 4, 12, 20, 28, 36 and y = 4, 12, 20, 28.
    config = TargetConfig(stride=8, pos_dist_thresh=8.0, locref_stdev=2.0)
    scmap, weights, locref, locref_w = make_targets(np.array([[12.0, 12.0]]), (4, 5), config)
    expected = np.array([
        [0, 1, 0, 0, 0],
        [1, 1, 1, 0, 0],
        [0, 1, 0, 0, 0],
        [0, 0, 0, 0, 0],
    ], np.float32)
    assert np.array_equal(scmap[:, :, 0], expected)
    assert np.all(weights == 1)
    # cell (row 1, col 0) has centre (4, 12): offset (8, 0) / 2 = (4, 0)
    assert locref[1, 0].tolist() == [4.0, 0.0]
    assert locref[0, 1].tolist() == [0.0, 4.0]
    assert np.array_equal(locref_w[:, :, 0], expected)


def test_missing_part_has_zero_weight():
    scmap, weights, locref, locref_w = make_targets(np.array([[10, 10], [np.nan, np.nan]]), (6, 6))
    assert weights[:, :, 0].all() and not weights[:, :, 1].any()
    assert not scmap[:, :, 1].any() and not locref_w[:, :, 2:].any()


@pytest.mark.parametrize("seed", range(5))
def test_decode_of_targets_is_the_label(seed):
    rng = np.random.default_rng(seed)
    h, w = rng.integers(16, 400, 2)
    pts = rng.uniform(0, (w, h), (7, 2))
    scmap, _, locref, _ = make_targets(pts, map_shape(h, w))
    decoded = decode(scmap, locref)
    assert np.abs(decoded[:, :2] - pts).max() < 0.5
    assert np.all(decoded[:, 2] == 1.0)


def test_decode_batch_matches_single():
    rng = np.random.default_rng(1)
    scores = rng.random((3, 5, 6, 2)).astype(np.float32)
    locref = rng.normal(size=(3, 5, 6, 4)).astype(np.float32)
    batch = decode(scores, locref)
    for i in range(3):
        assert np.allclose(batch[i], decode(scores[i], locref[i]))
    # by hand for image 0, part 1
    r, c = np.unravel_index(scores[0, :, :, 1].argmax(), (5, 6))
    x = c * 8 + 4 + locref[0, r, c, 2] * 7.2801
    assert batch[0, 1, 0] == pytest.approx(x)
    assert batch[0, 1, 2] == pytest.approx(scores[0, r, c, 1])


def test_map_shape_rounds_up():
    assert map_shape(480, 640) == (60, 80)
    assert map_shape(747, 832) == (94, 104)
    assert map_shape(1, 17) == (2, 4)
