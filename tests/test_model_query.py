"""kit.net.model_query: a trained model found by what it was trained with."""

import pytest

from kit.net.model_folder import ModelFolder, PoseConfig
from kit.net.model_query import (ModelQuery, find_model, find_models, query_of, query_settings,
                                  trained_with)


def _trained(project, settings: dict, variant: str = "") -> ModelFolder:
    """A finished model folder as training leaves it (an empty network file suffices here)."""
    folder = ModelFolder(project.model_dir(settings.get("shuffle", 1),
                                           settings.get("train_fraction", 0.95), variant=variant))
    folder.save_train_config_dict(settings)
    folder.save_pose_config(PoseConfig(bodyparts=("a", "b"), iteration=project.iteration))
    folder.model_file.write_bytes(b"")
    return folder


@pytest.fixture()
def project(tmp_path):
    from kit.project import create_project

    return create_project(tmp_path / "p", "t", "ann", ["a", "b"])


def test_find_model_takes_the_one_candidate(project):
    plain = _trained(project, {"shuffle": 1, "train_fraction": 0.95})
    _trained(project, {"shuffle": 2, "train_fraction": 0.95})
    unfinished = ModelFolder(project.model_dir(1, 0.95, variant="-n4"))
    unfinished.save_train_config_dict({"shuffle": 1, "train_fraction": 0.95, "train_size": 4})
    assert find_model(project, shuffle=1) == plain  # the unfinished run is no candidate
    assert find_model(project, ModelQuery(shuffle=1, net_type="resnet_50")) == plain
    assert plain.variant == "" and plain.evaluation_dir(project) == project.evaluation_dir(1, 0.95)
    with pytest.raises(FileNotFoundError, match=r"(?s)net_type='mobilenet_v2_0.35'.*shuffle1"):
        find_model(project, shuffle=1, net_type="mobilenet_v2_0.35")
    with pytest.raises(ValueError, match="not both"):
        find_model(project, shuffle=1, variant="-n4")


def test_find_model_lists_several_candidates_with_what_selects_each(project):
    _trained(project, {"shuffle": 1, "train_fraction": 0.95})
    small = _trained(project, {"shuffle": 1, "train_fraction": 0.95, "train_size": 12,
                               "net_type": "mobilenet_v2_0.35"}, "-n12-mobilenet_v2_0.35")
    with pytest.raises(ValueError, match="2 trained models") as error:
        find_model(project, shuffle=1)
    message = str(error.value)
    assert "shuffle1: -p shuffle 1 -p net_type resnet_50 -p train_size 0" in message
    assert ("shuffle1-n12-mobilenet_v2_0.35: -p shuffle 1 -p net_type mobilenet_v2_0.35 "
            "-p train_size 12") in message
    assert find_model(project, shuffle=1, train_size=12) == small
    assert small.variant == "-n12-mobilenet_v2_0.35"
    assert small.evaluation_dir(project) == project.evaluation_dir(
        1, 0.95, variant="-n12-mobilenet_v2_0.35")


def test_find_model_finds_old_suffixed_folders(project):
    """Folders of earlier kit versions: settings lacking newer keys, or none at all."""
    old = _trained(project, {"shuffle": 1, "train_fraction": 0.95, "train_size": 4,
                             "bodyparts": ["b"]}, "-n4-parts-b")
    bare = _trained(project, {}, "-n8-novel-w+v-noaug-efficientnet-b0")
    bare.train_config_file.unlink()  # only the name says what it is
    assert find_model(project, bodyparts="b") == old
    assert find_model(project, net_type="efficientnet-b0") == bare
    assert find_model(project, test_videos="w,v", augment=0, train_size=8) == bare
    assert trained_with(bare) == ModelQuery(1, 0.95, "efficientnet-b0", 8, "all", "w,v", 0, 0,
                                          "random", 0, 0, 25.0, 0, 0, 0.0, mirror=0, elastic=0.0,
                                          pose_balance=0.0, ema_span=0.0)


def test_the_query_of_a_train_config_finds_its_model(project):
    from kit.net.train_config import TrainConfig

    config = TrainConfig(train_size=4, bodyparts=("b",), net_type="mobilenet_v2_0.35")
    folder = _trained(project, config.to_dict(), config.variant)
    _trained(project, TrainConfig().to_dict())
    assert find_model(project, query_of(config.to_dict())) == folder


def test_blocks_splits_and_seeds_tell_models_apart(project):
    from kit.net.train import TrainConfig

    def trained(**settings):
        config = TrainConfig(weights=None, **settings)
        return _trained(project, config.to_dict(), variant=config.variant)

    plain, blocks = trained(), trained(split_method="blocks")
    members = [blocks, trained(split_method="blocks", seed=1), trained(split_method="blocks",
                                                                       seed=2)]
    assert members[1].path.name.endswith("-blocks-seed1")
    assert find_model(project, split_method="random") == plain
    assert find_model(project, split_method="blocks", seed=2) == members[2]
    assert find_models(project, split_method="blocks") == members  # an ensemble's members
    with pytest.raises(ValueError, match=r"(?s)blocks-seed1: -p shuffle 1 -p seed 1"):
        find_model(project, split_method="blocks")
    with pytest.raises(FileNotFoundError, match="seed=7"):
        find_models(project, seed=7)
    for folder in members:  # without saved settings, the name says the same
        folder.train_config_file.unlink()
    assert find_models(project, split_method="blocks") == members


def test_model_settings_select_by_what_no_notebook_parameter_names():
    """04_evaluate and 08_live take the fields that are not parameters of their own in one
    text, and the "several match" listing names them that way."""
    assert query_settings("rotation_deg=180 pseudo_label_frames=200") == {
        "rotation_deg": 180.0, "pseudo_label_frames": 200}
    assert query_settings("") == {}
    with pytest.raises(ValueError, match="'net_type' is a parameter of its own"):
        query_settings("net_type=resnet_50")
    query = ModelQuery(net_type="resnet_50", pseudo_label_frames=200, pretrained=1)
    assert query.flags(["shuffle", "net_type", "pseudo_label_frames", "pretrained"]) == (
        '-p shuffle 1 -p net_type resnet_50 -p model_settings '
        '"pseudo_label_frames=200 pretrained=1"')


def test_a_validation_set_tells_models_apart(project):
    """A model trained with validation_fraction is found by it (saved settings or name)."""
    from kit.net.train import TrainConfig

    configs = [TrainConfig(weights=None, split_method="blocks", validation_fraction=v)
               for v in (0.0, 0.1)]
    plain, held = (_trained(project, c.to_dict(), variant=c.variant) for c in configs)
    assert held.path.name.endswith("-blocks-val0.1")
    assert find_model(project, validation_fraction=0.1) == held
    assert find_model(project, validation_fraction=0) == plain
    held.train_config_file.unlink()  # the name says the same
    assert find_model(project, validation_fraction=0.1) == held


def test_mirrored_bent_balanced_and_averaged_trainings_are_told_apart(project):
    """Each of 03_train's train_settings that gives a model its own folder (mirror, elastic,
    pose_balance, ema_span) finds it again, by its saved settings or by its name alone."""
    from kit.net.data import AugmentConfig
    from kit.net.train import TrainConfig

    configs = {"plain": TrainConfig(weights=None),
               "mirror": TrainConfig(weights=None, augment=AugmentConfig(mirror=True)),
               "elastic": TrainConfig(weights=None, augment=AugmentConfig(elastic=3.0)),
               "balance": TrainConfig(weights=None, pose_balance=1.0),
               "ema": TrainConfig(weights=None, ema_span=0.2)}
    folders = {key: _trained(project, c.to_dict(), variant=c.variant)
               for key, c in configs.items()}
    assert [f.path.name.split("shuffle1")[1] for f in folders.values()] == [
        "", "-mirror", "-elastic3", "-balance1", "-ema0.2"]
    queries = {"plain": dict(mirror=0, elastic=0, pose_balance=0, ema_span=0),
               "mirror": dict(mirror=1), "elastic": dict(elastic=3),
               "balance": dict(pose_balance=1), "ema": dict(ema_span=0.2)}
    for key, query in queries.items():
        assert find_model(project, **query) == folders[key]
    with pytest.raises(ValueError, match='-ema0.2: .*model_settings ".*ema_span=0.2'):
        find_model(project)
    assert query_settings("mirror=1 ema_span=0.2") == {"mirror": 1, "ema_span": 0.2}
    for folder in folders.values():  # without saved settings, the names say the same
        folder.train_config_file.unlink()
    for key, query in queries.items():
        assert find_model(project, **query) == folders[key]
