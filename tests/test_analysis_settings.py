"""05_analyze_videos' flat parameters become one set of settings, the config filling the gaps."""

import pytest

from kit.project import create_project
from kit.results.analysis_settings import AnalysisSettings

FLAT = dict(shuffle=2, train_fraction=-1.0, batch_size=4, crop="0,64,8,40", downscale=2.0,
            save_csv=True, overwrite=False, output_dir="", filter="savgol", filter_window=7,
            max_gap=3, pcutoff=-1.0, trail_length=2)


def test_defaults_come_from_the_config(tmp_path):
    project = create_project(tmp_path / "p", "t", "me", ["a", "b"], pcutoff=0.3,
                             TrainingFraction=[0.8], skeleton=[["a", "b"]])
    settings = AnalysisSettings.from_parameters(project, **FLAT)
    assert settings.pcutoff == 0.3 and settings.analyze.train_fraction == 0.8
    assert settings.analyze.crop == (0, 64, 8, 40) and settings.analyze.output_dir is None
    assert (settings.filter.method, settings.filter.window, settings.filter.pcutoff) == (
        "savgol", 7, 0.3)
    assert settings.style.skeleton == (("a", "b"),) and settings.style.trail_length == 2
    chosen = AnalysisSettings.from_parameters(project, **{**FLAT, "pcutoff": 0.9, "filter": "",
                                                          "train_fraction": 0.5})
    assert chosen.filter is None and chosen.style.pcutoff == 0.9
    assert chosen.analyze.train_fraction == 0.5
    with pytest.raises(ValueError, match="pcutoff"):
        AnalysisSettings.from_parameters(project, **{**FLAT, "pcutoff": 1.5})


def test_smooth_param_zero_lets_eks_fit_it(tmp_path):
    """05's smooth_param: 0 (the default) is eks's own fit (None), a positive value is kept,
    a negative one is refused; without the parameter, eks fits it too."""
    project = create_project(tmp_path / "p", "t", "me", ["a", "b"], TrainingFraction=[0.8])
    assert AnalysisSettings.from_parameters(project, **FLAT).ensemble.smooth_param is None
    fitted = AnalysisSettings.from_parameters(project, **FLAT, smooth_param=0.0)
    assert fitted.ensemble.smooth_param is None
    chosen = AnalysisSettings.from_parameters(project, **FLAT, smooth_param=2.5)
    assert chosen.ensemble.smooth_param == 2.5
    with pytest.raises(ValueError, match="smooth_param=-1.0"):
        AnalysisSettings.from_parameters(project, **FLAT, smooth_param=-1.0)


def test_settings_text_and_defaults_fill_what_the_cell_leaves_out(tmp_path):
    """05's ``settings`` ("crop=... downscale=2") sets what its parameters cell does not
    list; what neither gives takes FLAT_DEFAULTS; a name the cell gives is refused there."""
    project = create_project(tmp_path / "p", "t", "me", ["a", "b"], TrainingFraction=[0.8])
    cell = dict(shuffle=1, train_fraction=-1.0, pcutoff=-1.0, filter="")
    settings = AnalysisSettings.from_parameters(
        project, **cell, settings="crop=0,64,8,40 downscale=2 trail_length=3 save_csv=false")
    assert settings.analyze.crop == (0, 64, 8, 40) and settings.analyze.downscale == 2.0
    assert settings.style.trail_length == 3 and not settings.analyze.save_csv
    plain = AnalysisSettings.from_parameters(project, **cell)
    assert plain.analyze.crop is None and plain.analyze.save_csv and plain.analyze.batch_size == 8
    with pytest.raises(ValueError, match="'filter' is a parameter of its own"):
        AnalysisSettings.from_parameters(project, **cell, settings="filter=median")
