import keras
import numpy as np
import pytest

from kit.net import model as kit_model
from kit.net.backbones.resnet import WEIGHTS_FILE
from kit.net.model import build_model, locref_loss, scoremap_loss
from kit.net.targets import map_shape


@pytest.fixture(scope="module")
def net():
    return build_model(3)


def test_output_shapes_for_any_image_size(net):
    for h, w in [(64, 64), (72, 100)]:
        logits, locref = net.predict_on_batch(np.zeros((1, h, w, 3), np.float32))
        assert logits.shape == (1, *map_shape(h, w), 3)
        assert locref.shape == (1, *map_shape(h, w), 6)


def test_backbone_is_atrous_and_named_like_keras(net):
    assert net.get_layer("conv5_block1_2_conv").dilation_rate == (2, 2)
    assert net.get_layer("conv5_block1_1_conv").strides == (1, 1)
    assert net.get_layer("conv4_block1_1_conv").strides == (2, 2)
    reference = keras.applications.ResNet50(weights=None, include_top=False,
                                            input_shape=(64, 64, 3))
    keras_names = {layer.name for layer in reference.layers if layer.weights}
    assert keras_names <= {layer.name for layer in net.layers}


def test_weights_file_copies_by_name(tmp_path):
    source = keras.applications.ResNet50(weights=None, include_top=False, input_shape=(None, None, 3))
    path = tmp_path / "resnet50.weights.h5"
    source.save_weights(path)
    net = build_model(2, weights=path)
    for name in ("conv1_conv", "conv5_block3_3_bn"):
        for a, b in zip(net.get_layer(name).get_weights(), source.get_layer(name).get_weights()):
            assert np.array_equal(a, b)


def test_missing_weights_file_and_unavailable_imagenet(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="weights=None"):
        build_model(2, weights=tmp_path / "nope.h5")

    def offline(*args, **kwargs):
        raise Exception("URL fetch failure: no network")

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setattr(kit_model.keras.utils, "get_file", offline)
    with pytest.raises(RuntimeError) as error:
        build_model(2, weights="imagenet")
    message = str(error.value)
    for part in ("resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
                 str(tmp_path / "keras" / "models"), 'weights=""', "weights=None"):
        assert part in message


def test_imagenet_comes_from_keras_cache(tmp_path, monkeypatch):
    """A file in Keras's cache is what "imagenet" resolves to (Keras checks its hash)."""
    calls = []

    def cached(fname, origin, cache_dir, cache_subdir, file_hash):
        calls.append((fname, origin, cache_dir, cache_subdir, file_hash))
        return str(tmp_path / "keras" / "models" / fname)

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setattr(kit_model.keras.utils, "get_file", cached)
    path = kit_model.resolve_weights("imagenet", "resnet_50")
    assert path == str(tmp_path / "keras" / "models" / WEIGHTS_FILE)
    assert calls[0][2:4] == (str(tmp_path / "keras"), "models")
    assert calls[0][1].endswith(WEIGHTS_FILE) and calls[0][4]
    assert kit_model.resolve_weights("", "resnet_50") is None
    assert kit_model.resolve_weights(None, "resnet_50") is None


def test_unknown_net_type_lists_the_choices():
    with pytest.raises(ValueError, match=r"Unknown net_type 'resnet_152'.*'resnet_50'"):
        build_model(2, net_type="resnet_152")


def test_scoremap_loss_by_hand():
    # one image, 1x2 map, one part; logits 0 (p=0.5) and 2; targets 1, 0; both weighted
    y_pred = np.array([[[[0.0], [2.0]]]], np.float32)
    y_true = np.array([[[[1.0, 1.0], [0.0, 1.0]]]], np.float32)
    expected = (np.log(2) + np.log(1 + np.exp(2))) / 2
    assert float(scoremap_loss(y_true, y_pred)) == pytest.approx(expected, rel=1e-5)
    y_true[..., 1] = 0  # a missing part contributes nothing
    assert float(scoremap_loss(y_true, y_pred)) == 0.0


def test_locref_loss_by_hand():
    y_pred = np.array([[[[0.5, 3.0]]]], np.float32)
    y_true = np.array([[[[0.0, 0.0, 1.0, 1.0]]]], np.float32)
    # huber(0.5) = 0.125, huber(3) = 2.5, over 2 weighted cells
    assert float(locref_loss(y_true, y_pred)) == pytest.approx((0.125 + 2.5) / 2)


def test_recalibrated_batchnorm_matches_training_mode(net):
    """After precise-BN on a batch, inference mode reproduces training mode on it."""
    rng = np.random.default_rng(0)
    batch = rng.uniform(0, 255, (2, 48, 48, 3)).astype(np.float32)
    before = np.asarray(net(batch, training=False)[1])
    train_mode = np.asarray(net(batch, training=True)[1])  # also nudges moving stats (momentum)
    assert kit_model.recalibrate_batchnorm(net, [batch]) == 1
    after = np.asarray(net(batch, training=False)[1])
    assert np.abs(after - train_mode).max() < 1e-3 * (1 + np.abs(train_mode).max())
    assert np.abs(before - train_mode).max() > np.abs(after - train_mode).max()
    assert net.get_layer("conv1_bn").momentum == 0.99


def test_folded_batchnorm_gives_the_same_outputs():
    net = build_model(3, name="folding")
    rng = np.random.default_rng(0)
    for layer in net.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, n), rng.normal(0, 0.2, n),
                               rng.normal(0, 0.2, n), rng.uniform(0.5, 2.0, n)])
    folded = kit_model.fold_batchnorm(net)
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in folded.layers)
    assert folded.count_params() < net.count_params()
    images = rng.uniform(0, 255, (2, 72, 56, 3)).astype("float32")
    for a, b in zip(net.predict_on_batch(images), folded.predict_on_batch(images)):
        assert a.shape == b.shape
        np.testing.assert_allclose(b, a, rtol=1e-3, atol=1e-3 * np.abs(a).max())
