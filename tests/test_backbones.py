"""The backbone seam (kit.net.backbones, kit.net.heads, pose_config.json): a new backbone is
one module + one registry line, trains and predicts through the normal path; model folders
from before net_type was recorded still predict."""

import json

import keras
import numpy as np
import pytest
from keras import layers

from kit.experiments.synthetic import SyntheticConfig, make_synthetic_project
from kit.net.backbones import BACKBONES, Backbone, get_backbone, register_backbone
from kit.net.backbones.fused import MatchCells
from kit.net.data import AugmentConfig, scale_image
from kit.net.heads import upsampling_factor
from kit.net.images import pad_to_stride
from kit.net.model import build_model, fold_batchnorm
from kit.net.predict import Predictor, sigmoid
from kit.net.targets import TargetConfig, decode, map_shape
from kit.net.train import TrainConfig, train
from kit.project.config import ANALYSIS_NETWORK_NAMES
from kit.project.labels import load_labels
from kit.project.video import load_image


# The "one module" of a new backbone: a builder and its declaration (here a tiny stand-in).
def tiny_backbone(x):
    """Preprocessed images (N, H, W, 3) -> features (N, ceil(H / 8), ceil(W / 8), 16)."""
    for i, filters in enumerate((8, 16, 16), start=1):
        x = layers.Conv2D(filters, 3, strides=2, padding="same", name=f"tiny{i}_conv")(x)
        x = layers.BatchNormalization(name=f"tiny{i}_bn")(x)
        x = layers.Activation("relu", name=f"tiny{i}_relu")(x)
    return x


TINY = Backbone(name="tiny_test", build=tiny_backbone, output_stride=8,
                preprocess=lambda: layers.Rescaling(1 / 255, name="preprocess"))


@pytest.fixture
def tiny():
    register_backbone(TINY)  # the "one registry line"
    yield TINY
    BACKBONES.pop(TINY.name)


def test_a_new_backbone_trains_and_predicts(tiny, tmp_path):
    project = make_synthetic_project(
        tmp_path / "p", SyntheticConfig(image_size=(64, 64), num_frames=12, num_labeled=8))
    config = TrainConfig(net_type="tiny_test", weights=None, train_steps=2, batch_size=2,
                         train_fraction=0.75, batchnorm_batches=2,
                         augment=AugmentConfig(crop_size=(64, 64)))
    model_dir = train(project, config, verbose=0)
    pose = json.loads((model_dir / "pose_config.json").read_text())
    assert (pose["net_type"], pose["backbone_stride"], pose["stride"]) == ("tiny_test", 8, 8)
    assert pose["heads"] == ["part_pred", "locref"]

    predictor = Predictor(model_dir)
    assert predictor.net_type == "tiny_test"
    names = {layer.name for layer in predictor.model.layers}
    assert {"tiny1_conv", "tiny3_conv", "part_pred", "locref"} <= names
    assert "conv1_conv" not in names
    # BatchNorm folded by walking the graph, not by ResNet layer names
    assert not any(isinstance(layer, layers.BatchNormalization)
                   for layer in predictor.model.layers)
    num_bodyparts = len(project.bodyparts)
    logits, locref = predictor.model.predict_on_batch(np.zeros((1, 64, 48, 3), np.float32))
    assert logits.shape == (1, *map_shape(64, 48, backbone_stride=8), num_bodyparts) == (
        1, 8, 6, num_bodyparts)
    assert locref.shape[-1] == 2 * num_bodyparts
    images = [load_image(project.image_path(name)) for name in load_labels(project).index[:3]]
    positions = predictor.predict_images(images)
    assert positions.shape == (3, 1, num_bodyparts, 3)  # (frames, individuals, parts, 3)
    assert np.isfinite(positions).all()
    # image pixels (the cell centre plus an untrained refinement of a cell or so)
    assert ((positions[..., :2] > -16) & (positions[..., :2] < 64 + 16)).all()
    assert positions[..., :2].max() > 16  # not map cells (8 x 8)
    assert ((positions[..., 2] >= 0) & (positions[..., 2] <= 1)).all()


def test_registry_refuses_taken_names_and_lists_choices(tiny):
    with pytest.raises(ValueError, match="already registered"):
        register_backbone(Backbone(name="resnet_50", build=tiny_backbone, output_stride=8,
                                   preprocess=TINY.preprocess))
    with pytest.raises(ValueError, match=r"Unknown net_type 'resnet50'.*'resnet_50', 'tiny_test'"):
        get_backbone("resnet50")
    with pytest.raises(ValueError, match="multiple of 8"):
        Backbone(name="odd", build=tiny_backbone, output_stride=12, preprocess=TINY.preprocess)


def test_heads_reach_stride_8():
    assert [upsampling_factor(s) for s in (8, 16, 32)] == [1, 2, 4]
    with pytest.raises(ValueError, match="multiple of the maps' stride 8"):
        upsampling_factor(4)
    assert map_shape(64, 48, backbone_stride=32) == (8, 8)  # 2 x 2 features, 4x larger


def test_fused_backbone_maps_every_stride_8_cell_of_any_multiple_of_8():
    """mobilenet_v2_1.0_fpn: maps at stride 8 on images whose size is no multiple of 32
    (Keras's stride-32 features cover fewer cells: the last one stands for the rest), and
    the enlarged features cut to the stride-8 grid keep their top-left cells."""
    model = build_model(2, net_type="mobilenet_v2_1.0_fpn")
    for height, width in ((40, 48), (72, 56), (64, 64)):
        logits, locref = model.predict_on_batch(np.zeros((1, height, width, 3), np.float32))
        assert logits.shape[1:3] == locref.shape[1:3] == (height // 8, width // 8)
    coarse = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
    matched = np.asarray(MatchCells()(coarse, np.zeros((1, 7, 5, 3), np.float32)))
    assert matched.shape == (1, 7, 5, 1)
    np.testing.assert_array_equal(matched[0, :4, :4, 0], coarse[0, ..., 0])
    np.testing.assert_array_equal(matched[0, 4:, :4, 0], np.repeat(coarse[0, 3:, :, 0], 3, 0))
    np.testing.assert_array_equal(matched[0, :, 4, 0], matched[0, :, 3, 0])


def test_model_folder_from_before_net_type_still_predicts(tmp_path):
    """pose_config.json as kit wrote it before net_type, strides and heads were recorded."""
    keras.utils.set_random_seed(0)
    model = build_model(2)
    model.save(tmp_path / "model.keras")
    (tmp_path / "pose_config.json").write_text(json.dumps({
        "bodyparts": ["a", "b"], "global_scale": 0.8, "stride": 8, "locref_stdev": 7.2801,
        "train_steps": 5, "crop_hw": [64, 64], "iteration": 0, "keras_backend": "tensorflow"}))
    predictor = Predictor(tmp_path)
    assert (predictor.net_type, predictor.backbone_stride) == ("resnet_50", 16)
    images = np.random.default_rng(0).integers(0, 256, (2, 48, 64, 3)).astype(np.uint8)
    positions = predictor.predict_batch(images)
    # the same as the saved (unfolded) network decoded by hand, on the images scaled (39x52)
    # and padded to resnet_50's stride, 16 (48x64)
    scaled = pad_to_stride(np.stack([scale_image(im, 0.8) for im in images]), 16)
    assert scaled.shape[1:3] == (48, 64)
    logits, locref = model.predict_on_batch(scaled.astype(np.float32))
    expected = decode(sigmoid(np.asarray(logits)), np.asarray(locref), TargetConfig())
    expected[..., :2] /= 0.8
    np.testing.assert_allclose(positions, expected[:, None], atol=1e-3)  # one individual


# Each of DeepLabCut's net_types kit has. The heavy ones are slow (13-130 s each on the
# loaded 2-core machine; the light ones 20-45 s there, about a third of that when idle).
LIGHT = ("mobilenet_v2_0.35", "efficientnet-b0")
HEAVY = ("resnet_101", "mobilenet_v2_1.0", "mobilenet_v2_0.5", "efficientnet-b1",
         "efficientnet-b2", "efficientnet-b3", "mobilenet_v2_1.0_fpn")
ALL_NET_TYPES = [*LIGHT, *(pytest.param(n, marks=pytest.mark.slow) for n in HEAVY)]


def test_every_registered_backbone_is_tested_and_names_its_analysis_files():
    assert set(BACKBONES) == {"resnet_50", *LIGHT, *HEAVY}
    assert set(BACKBONES) <= set(ANALYSIS_NETWORK_NAMES)  # DLC_<name>_<Task>... of 05


@pytest.fixture(scope="module")
def tiny_project(tmp_path_factory):
    return make_synthetic_project(tmp_path_factory.mktemp("bb") / "p",
                                  SyntheticConfig(image_size=(64, 64), num_frames=12,
                                                  num_labeled=8))


@pytest.mark.parametrize("net_type", ALL_NET_TYPES)
def test_backbone_trains_and_predicts_folded_as_unfolded(net_type, tiny_project):
    """Two steps from scratch on 64x64 frames; folded BatchNorm predicts what unfolded does.

    (No recalibration of the statistics: over four 64x64 crops some channels have almost no
    variance, and ResNet-101's 33 blocks amplify the float32 rounding of either form to
    0.01 px. The next test checks folding on well-conditioned random statistics.)"""
    config = TrainConfig(net_type=net_type, weights=None, train_steps=2, batch_size=2,
                         shuffle=sorted(BACKBONES).index(net_type) + 10, train_fraction=0.75,
                         batchnorm_batches=0, augment=AugmentConfig(crop_size=(64, 64)))
    model_dir = train(tiny_project, config, verbose=0)
    pose = json.loads((model_dir / "pose_config.json").read_text())
    stride = get_backbone(net_type).output_stride
    assert (pose["net_type"], pose["backbone_stride"], pose["stride"]) == (net_type, stride, 8)

    predictor = Predictor(model_dir)
    assert not any(isinstance(layer, layers.BatchNormalization)
                   for layer in predictor.model.layers)
    images = np.stack([load_image(tiny_project.image_path(name))
                       for name in load_labels(tiny_project).index[:3]])
    positions = predictor.predict_batch(images)
    assert positions.shape == (3, 1, len(tiny_project.bodyparts), 3)  # one individual
    # the maps cover the whole scaled image (52 px), not only what Keras's padding reaches
    assert predictor.predict_maps(images)["part_pred"].shape[1:3] == map_shape(
        52, 52, backbone_stride=stride)
    unfolded = keras.saving.load_model(model_dir / "model.keras", compile=False)
    scaled = np.stack([scale_image(im, 0.8) for im in images])  # 64 * 0.8: 52 px
    # on 52 px, Keras's stride-32 padding rounds down (4 cells, 32 px of the 52) where
    # kit's maps round up: the Predictor pads to a multiple of the stride (64 px, 8 cells);
    # MobileNetV2's stride-8 features, which the fused backbone's maps follow, round down too
    unpadded = {32: (4, 4), 8: (6, 6)}.get(stride, map_shape(52, 52, backbone_stride=stride))
    assert unfolded.predict_on_batch(scaled.astype(np.float32))[0].shape[1:3] == unpadded
    logits, locref = unfolded.predict_on_batch(pad_to_stride(scaled, stride).astype(np.float32))
    assert logits.shape[1:3] == map_shape(52, 52, backbone_stride=stride)
    expected = decode(sigmoid(np.asarray(logits)), np.asarray(locref), TargetConfig())
    expected[..., :2] /= 0.8
    np.testing.assert_allclose(positions, expected[:, None], atol=1e-3)


# resnet_50's folding is also tests/test_model.py's
@pytest.mark.parametrize("net_type", [pytest.param("resnet_50", marks=pytest.mark.slow),
                                      *ALL_NET_TYPES])
def test_folding_random_statistics_keeps_positions(net_type):
    """Every BatchNormalization, after Conv2D or DepthwiseConv2D, folds away; with random
    statistics (scales 0.4-2) the decoded positions stay within 1e-3 px."""
    keras.utils.set_random_seed(0)
    model = build_model(3, net_type=net_type)
    rng = np.random.default_rng(1)
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, gamma.shape), rng.normal(0, 0.1, beta.shape),
                               rng.normal(0, 0.1, mean.shape), rng.uniform(0.5, 1.5, var.shape)])
    folded = fold_batchnorm(model)
    assert not any(isinstance(layer, layers.BatchNormalization) for layer in folded.layers)
    images = rng.uniform(0, 255, (2, 64, 96, 3)).astype(np.float32)
    positions = [decode(sigmoid(np.asarray(logits)), np.asarray(locref), TargetConfig())
                 for logits, locref in (m.predict_on_batch(images) for m in (model, folded))]
    np.testing.assert_allclose(positions[1], positions[0], atol=1e-3)


@pytest.mark.parametrize("net_type", ["mobilenet_v2_0.35", "efficientnet-b0", "resnet_101"])
def test_offline_imagenet_names_file_cache_and_fix(net_type, tmp_path, monkeypatch):
    import kit.net.model as kit_model

    def offline(*args, **kwargs):
        raise Exception("URL fetch failure: no network")

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setattr(kit_model.keras.utils, "get_file", offline)
    with pytest.raises(RuntimeError) as error:
        kit_model.resolve_weights("imagenet", net_type)
    expected_file = {"mobilenet_v2_0.35":
                     "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5",
                     "efficientnet-b0": "efficientnetb0_notop.h5",
                     "resnet_101": "resnet101_weights_tf_dim_ordering_tf_kernels_notop.h5"}
    for part in (expected_file[net_type], str(tmp_path / "keras" / "models"), 'weights=""'):
        assert part in str(error.value)


def test_keras_weights_file_loads_by_name(tmp_path):
    """A Keras MobileNetV2 weights file (as Keras's ImageNet one) gives kit's backbone
    exactly Keras's features."""
    keras.utils.set_random_seed(3)
    reference = keras.applications.MobileNetV2(include_top=False, weights=None, alpha=0.35,
                                               input_shape=(None, None, 3))
    reference.save_weights(tmp_path / "m.weights.h5")
    model = build_model(2, weights=tmp_path / "m.weights.h5", net_type="mobilenet_v2_0.35")
    features = keras.Model(model.inputs, model.get_layer("out_relu").output)
    images = np.random.default_rng(0).uniform(0, 255, (1, 64, 96, 3)).astype(np.float32)
    np.testing.assert_allclose(
        features.predict_on_batch(images),
        reference.predict_on_batch(keras.applications.mobilenet_v2.preprocess_input(images)),
        atol=1e-4)


def test_efficientnet_normalizes_with_imagenet_statistics():
    model = build_model(2, net_type="efficientnet-b0")
    norm = next(layer for layer in model.layers if isinstance(layer, layers.Normalization))
    mean, variance = (np.ravel(w) for w in norm.get_weights()[:2])
    np.testing.assert_allclose(mean, [0.485, 0.456, 0.406], rtol=1e-6)
    np.testing.assert_allclose(np.sqrt(variance), [0.229, 0.224, 0.225], rtol=1e-6)
