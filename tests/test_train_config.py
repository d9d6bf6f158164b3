"""Training settings (kit.net.train_config): validation, derived values, the saved form and
the learning-rate schedule. Nothing here trains; tests/test_train.py does."""

import pytest

from kit.net.data import AugmentConfig
from kit.net.optimizer import learning_rate_schedule, make_optimizer
from kit.net.train_config import EXECUTION_ONLY, TrainConfig


def test_sgd_schedule_is_deeplabcuts_scaled():
    schedule = learning_rate_schedule(TrainConfig(train_steps=1030))
    assert [float(schedule(s)) for s in (0, 9, 11, 429, 431, 731)] == pytest.approx(
        [0.005, 0.005, 0.02, 0.02, 0.002, 0.001])


def test_bad_settings_raise():
    with pytest.raises(ValueError, match="optimizer"):
        TrainConfig(optimizer="rmsprop")
    with pytest.raises(ValueError, match="save_every=-1"):
        TrainConfig(train_steps=10, save_every=-1)
    with pytest.raises(ValueError, match="run_eagerly"):
        TrainConfig(run_eagerly="sometimes")
    with pytest.raises(ValueError, match="precision must be one of"):
        TrainConfig(precision="float16")
    with pytest.raises(ValueError, match="num_workers=-1"):
        TrainConfig(num_workers=-1)
    assert 1 <= TrainConfig().num_workers <= 8
    assert "num_workers" in EXECUTION_ONLY  # a resumed run may use another machine's count
    assert TrainConfig(train_steps=1000).steps_per_checkpoint == 100
    assert TrainConfig(train_steps=7).steps_per_checkpoint == 1
    assert TrainConfig(train_steps=887).steps_per_checkpoint == 88  # prime: was every step
    config = TrainConfig(train_steps=5, augment=AugmentConfig(mirror=True))
    assert TrainConfig.from_dict(config.to_dict()) == config


def test_variant_names_what_differs():
    assert TrainConfig().variant == ""
    assert TrainConfig(train_size=4, bodyparts=("b",), test_videos=("w",),
                       augment=AugmentConfig(enabled=False)).variant == "-n4-parts-b-novel-w-noaug"
    assert TrainConfig(bodyparts=("a", "c"), test_videos=("v", "w")).variant == "-parts-a+c-novel-v+w"
    assert TrainConfig(train_size=4, net_type="efficientnet-b0").variant == "-n4-efficientnet-b0"


def test_from_parameters_reads_the_notebook_parameters():
    config = TrainConfig.from_parameters(
        shuffle=2, train_fraction=0.8, train_steps=10, batch_size=4, net_type="resnet_50",
        weights="", optimizer="adam", learning_rate=0.0, save_every=0, seed=3, crop_size=64,
        augment=False, mirror=True, train_size=5, bodyparts="a,b", test_videos="",
        precision="float32")
    assert config == TrainConfig(
        shuffle=2, train_fraction=0.8, train_steps=10, batch_size=4, weights=None,
        optimizer="adam", learning_rate=None, seed=3, train_size=5, bodyparts=("a", "b"),
        augment=AugmentConfig(enabled=False, mirror=True, crop_size=(64, 64)))
    assert TrainConfig.from_parameters(weights="x.h5", learning_rate=0.01).weights == "x.h5"
    assert TrainConfig.from_parameters() == TrainConfig()
    assert TrainConfig.from_parameters(num_workers=-1).num_workers == TrainConfig().num_workers
    assert TrainConfig.from_parameters(num_workers=0).num_workers == 0
    with pytest.raises(ValueError, match=r"Unknown training parameters \['project_dir'\]"):
        TrainConfig.from_parameters(project_dir="p")


def test_settings_text_holds_the_settings_not_given_on_their_own():
    """03_train's ``settings``: "name=value ...", each value of its default's type, the
    flat conversions after (pairs, tuples); a name given on its own, unknown, mistyped or
    without a value is refused, naming it."""
    config = TrainConfig.from_parameters(
        train_steps=5, settings="unlabeled_pairs=4 temporal_loss_weight=1e-3 augment=false "
                                "view_pairs=n_top:n_bot,p_top:p_bot pca_bodyparts=n_top,p_top")
    assert (config.train_steps, config.unlabeled_pairs, config.temporal_loss_weight) == (5, 4, 1e-3)
    assert config.view_pairs == (("n_top", "n_bot"), ("p_top", "p_bot"))
    assert config.pca_bodyparts == ("n_top", "p_top") and not config.augment.enabled
    assert TrainConfig.from_parameters(settings="") == TrainConfig()
    for text, message in [("train_steps=9", "'train_steps' is a parameter of its own"),
                          ("unlabeled_pair=4", "no setting 'unlabeled_pair'"),
                          ("unlabeled_pairs=four", "unlabeled_pairs='four': expected an integer"),
                          ("mirror=maybe", "mirror='maybe': expected true or false"),
                          ("unlabeled_pairs", "'unlabeled_pairs' is not name=value"),
                          ("seed=1 seed=2", "'seed' is given twice")]:
        with pytest.raises(ValueError, match=message):
            TrainConfig.from_parameters(train_steps=5, settings=text)


def test_imagenet_and_resnet_50_by_default():
    config = TrainConfig()
    assert (config.weights, config.net_type) == ("imagenet", "resnet_50")
    with pytest.raises(ValueError, match=r"Unknown net_type 'resnet50'.*'resnet_50'"):
        TrainConfig(net_type="resnet50")


def test_split_method_and_augmentation_parameters():
    config = TrainConfig.from_parameters(split_method="blocks", rotation_deg=180.0,
                                         scale_min=0.7, scale_max=1.1, crop_jitter=0.5)
    assert config.split_method == "blocks" and config.variant == "-blocks-rot180"  # own folder
    assert config.augment == AugmentConfig(rotation_deg=180.0, scale_range=(0.7, 1.1),
                                           crop_jitter=0.5)
    # the augmentation in force is saved with the run (train_config.json) and read back
    saved = config.to_dict()
    assert saved["split_method"] == "blocks"
    assert saved["augment"]["rotation_deg"] == 180.0 and saved["augment"]["crop_jitter"] == 0.5
    assert saved["augment"]["scale_range"] == [0.7, 1.1]
    assert TrainConfig.from_dict(saved) == config
    # DeepLabCut's defaults until a benchmark decides otherwise
    default = TrainConfig.from_parameters()
    assert default.split_method == "random" and default.augment.rotation_deg == 25.0
    assert default.augment.scale_range == (0.5, 1.25) and default.augment.crop_jitter == 0.25
    assert TrainConfig.from_parameters(scale_max=2.0).augment.scale_range == (0.5, 2.0)
    assert default.augment.elastic == 0.0  # off, as DeepLabCut's default
    assert TrainConfig.from_parameters(settings="elastic=2").augment.elastic == 2.0
    with pytest.raises(ValueError, match="split_method must be one of"):
        TrainConfig(split_method="sequential")
    with pytest.raises(ValueError, match=r"rotation_deg must be in \[0, 180\]"):
        TrainConfig.from_parameters(rotation_deg=270.0)
    with pytest.raises(ValueError, match="Scales must be positive and ordered"):
        TrainConfig.from_parameters(scale_min=1.5, scale_max=1.0)


def test_view_pairs_from_a_notebook_string_and_back_from_the_saved_settings():
    config = TrainConfig.from_parameters(view_pairs="nose_top:nose_bot,paw_top:paw_bot",
                                         unlabeled_pairs=2, pca_bodyparts="nose_top,paw_top")
    assert config.view_pairs == (("nose_top", "nose_bot"), ("paw_top", "paw_bot"))
    assert config.pca_bodyparts == ("nose_top", "paw_top")
    assert config.variant == "-unlabeled2views"  # not the folder of the run without them
    assert TrainConfig.from_dict(config.to_dict()) == config
    assert TrainConfig.from_parameters(view_pairs="").view_pairs == ()
    with pytest.raises(ValueError, match="view_pairs"):
        TrainConfig.from_parameters(view_pairs="nose_top")


def test_ema_span_sets_the_averages_time_constant():
    """ema_span: the weights' moving average over that share of the run (Keras's use_ema)."""
    assert not make_optimizer(TrainConfig(train_steps=10)).use_ema
    config = TrainConfig(train_steps=1000, ema_span=0.2, optimizer="adam")
    optimizer = make_optimizer(config)
    assert optimizer.use_ema and optimizer.ema_momentum == pytest.approx(1 - 1 / 200)
    assert make_optimizer(TrainConfig(train_steps=3, ema_span=0.1)).ema_momentum == 0.0
    assert config.variant == "-ema0.2"
    assert TrainConfig.from_parameters(settings="ema_span=0.2").ema_span == 0.2
    assert TrainConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="ema_span=1.5"):
        TrainConfig(ema_span=1.5)
