"""06_refine's flat parameters become one set of settings: outliers, the next iteration's
training, the suggestions; the config and the previous model filling the gaps."""

import pytest
from test_model_query import _trained

from kit.net.train_config import TrainConfig
from kit.project import create_project
from kit.results.refine_settings import RefineSettings

FLAT = dict(pcutoff=-1.0, num_frames=5, jump_px=12.0, filter_px=9.0, swap_px=30.0, seed=4,
            train_steps=0, num_suggestions=3, novelty_weight=0.25)


@pytest.fixture()
def previous(tmp_path):
    """(project with pcutoff 0.3, the folder of a model trained 7 steps on 6 frames)."""
    project = create_project(tmp_path / "p", "t", "me", ["a", "b"], pcutoff=0.3)
    config = TrainConfig(train_steps=7, train_size=6, net_type="mobilenet_v2_0.35")
    return project, _trained(project, config.to_dict(), config.variant)


def test_settings_from_the_parameters_the_config_and_the_previous_model(previous):
    project, folder = previous
    settings = RefineSettings.from_parameters(project, folder.path, **FLAT)
    assert settings.pcutoff == 0.3  # the config's, shared by all three
    outliers = settings.outliers
    assert (outliers.num_frames, outliers.pcutoff, outliers.jump_px, outliers.filter_px,
            outliers.swap_px, outliers.seed) == (5, 0.3, 12.0, 9.0, 30.0, 4)
    suggest = settings.suggest
    assert (suggest.num_frames, suggest.novelty_weight, suggest.pcutoff) == (3, 0.25, 0.3)
    train = settings.train  # the previous model's settings, from its weights, all frames
    assert train.weights == str(folder.model_file) and train.train_steps == 7
    assert train.net_type == "mobilenet_v2_0.35" and train.train_size == 0


def test_given_values_win_and_bad_ones_are_refused(previous):
    project, folder = previous
    settings = RefineSettings.from_parameters(
        project, folder.path, **{**FLAT, "pcutoff": 0.8, "train_steps": 2})
    assert settings.outliers.pcutoff == settings.suggest.pcutoff == settings.pcutoff == 0.8
    assert settings.train.train_steps == 2
    with pytest.raises(ValueError, match="pcutoff"):
        RefineSettings.from_parameters(project, folder.path, **{**FLAT, "pcutoff": 1.5})
    with pytest.raises(ValueError, match="novelty_weight=2"):
        RefineSettings.from_parameters(project, folder.path, **{**FLAT, "novelty_weight": 2})
