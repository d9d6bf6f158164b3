"""The soft-argmax readout (kit.net.soft_argmax): by hand on a 4x5 map, against decode, on
make_targets' maps, and its gradient (TensorFlow; the function itself is keras.ops only)."""

import keras
import numpy as np
import pytest

from kit.net.predict import sigmoid
from kit.net.soft_argmax import soft_argmax
from kit.net.targets import TargetConfig, decode, make_targets, map_shape


def _sharp_map():
    """A 4x5 map (stride 8) of two parts: part 0 peaks sharply at row 1, column 3, locref
    (0.5, -0.25); part 1 at row 2, column 0 with a fainter second peak at row 0, column 4."""
    logits = np.full((1, 4, 5, 2), -10.0, np.float32)
    locref = np.zeros((1, 4, 5, 4), np.float32)
    logits[0, 1, 3, 0] = 10.0
    locref[0, 1, 3, 0:2] = (0.5, -0.25)
    logits[0, 2, 0, 1], logits[0, 0, 4, 1] = 10.0, 8.0
    return logits, locref


def test_sharp_peak_is_decodes_position():
    logits, locref = _sharp_map()
    config = TargetConfig(stride=8, locref_stdev=2.0)
    got = keras.ops.convert_to_numpy(soft_argmax(logits, locref, 8, 2.0))
    want = decode(sigmoid(logits), locref, config)[..., :2]
    # part 0: centre (3 * 8 + 4, 1 * 8 + 4) = (28, 12) plus (0.5, -0.25) * 2 = (29, 11.5)
    assert want[0, 0] == pytest.approx([29.0, 11.5])
    assert got.shape == (1, 2, 2) and np.abs(got - want).max() < 0.1
    # the whole map's softmax is pulled towards part 1's second peak; the window is not
    spread = keras.ops.convert_to_numpy(soft_argmax(logits, locref, 8, 2.0, window=None))
    assert np.abs(spread[0, 1] - want[0, 1]).max() > 3  # weight e^-2 at 32 px: 3.8 px


def test_two_equal_cells_give_their_midpoint():
    logits = np.full((1, 4, 5, 1), -10.0, np.float32)
    logits[0, 1, 1, 0] = logits[0, 1, 2, 0] = 10.0  # centres (12, 12) and (20, 12)
    got = keras.ops.convert_to_numpy(soft_argmax(logits, None, stride=8))
    assert got[0, 0] == pytest.approx([16.0, 12.0], abs=1e-3)
    with pytest.raises(ValueError, match="window must be"):
        soft_argmax(logits, window=-1)


@pytest.mark.parametrize("seed", range(3))
def test_soft_argmax_of_targets_is_the_label(seed):
    rng = np.random.default_rng(seed)
    h, w = rng.integers(32, 200, 2)
    points = rng.uniform(0, (w, h), (2, 5, 2))  # two images, five parts
    maps = [make_targets(p, map_shape(h, w)) for p in points]
    scores = np.stack([m[0] for m in maps])
    locref = np.stack([m[2] for m in maps])
    got = keras.ops.convert_to_numpy(soft_argmax(20.0 * scores - 10.0, locref))
    assert got.shape == (2, 5, 2) and np.abs(got - points).max() < 0.5


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TensorFlow's GradientTape")
def test_gradient_flows_to_scores_and_locref():
    import tensorflow as tf

    logits, locref = (tf.Variable(a) for a in _sharp_map())
    with tf.GradientTape() as tape:
        xy = soft_argmax(logits, locref, 8, 2.0, beta=0.5)
        x0 = xy[0, 0, 0]
    d_logits, d_locref = tape.gradient(x0, [logits, locref])
    d_logits, d_locref = d_logits.numpy(), d_locref.numpy()
    assert np.isfinite(d_logits).all() and np.isfinite(d_locref).all()
    # more score right of part 0's peak moves it right, more on its left moves it left
    assert d_logits[0, 1, 4, 0] > 0 > d_logits[0, 1, 2, 0]
    # its x follows the peak cell's dx (times locref_stdev 2), not its dy nor part 1's maps
    assert d_locref[0, 1, 3, 0] == pytest.approx(2.0, rel=1e-3)
    assert d_locref[0, 1, 3, 1] == 0 and not d_locref[..., 2:].any() and not d_logits[..., 1].any()
