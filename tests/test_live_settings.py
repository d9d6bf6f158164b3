"""08_live's flat parameters become one set of settings: the source, the live predictor's
config, the frames kept as stills and how they are drawn, the config filling the gaps."""

import pytest

from kit.live.live_settings import LiveSettings
from kit.project import create_project

FLAT = dict(source="", pcutoff=-1.0, runtime="onnx", resize=0.5, dynamic=True, margin_px=20,
            forward="kalman", lag_s=-1.0, tracker="ellipse", num_frames=12, num_stills=3,
            test_passes=False)


def test_defaults_come_from_the_project(coloured_clip, tmp_path):
    project = create_project(tmp_path / "p", "t", "me", ["a", "b"], videos=[coloured_clip],
                             pcutoff=0.3, skeleton=[["a", "b"]])
    settings = LiveSettings.from_parameters(project, tmp_path / "model", **FLAT)
    assert settings.source == str(project.videos_dir / coloured_clip.name)  # the first video
    config = settings.config
    assert config.warmup_hw == (48, 64)  # the 64x48 video's blank frame
    assert config.dynamic == (True, 0.3, 20) and config.track.tracker == "ellipse"
    assert (config.runtime, config.resize, config.forward, config.lag_s) == (
        "onnx", 0.5, "kalman", -1.0)
    assert settings.keep == {0, 5, 11}  # 3 stills spread over 12 frames
    assert settings.num_animals == 1 and settings.style.color_by == "bodypart"
    assert settings.style.pcutoff == 0.3 and settings.style.skeleton == (("a", "b"),)
    assert settings.out_dir == tmp_path / "model" / "live"


def test_given_values_and_several_animals(coloured_clip, tmp_path):
    project = create_project(tmp_path / "p", "t", "me", ["a", "b"], pcutoff=0.3,
                             individuals=["m1", "m2", "m3"])
    settings = LiveSettings.from_parameters(
        project, tmp_path / "model", **{**FLAT, "source": str(coloured_clip), "pcutoff": 0.6,
                                        "dynamic": False, "num_stills": 2,
                                        "test_passes": True})
    assert settings.source == str(coloured_clip)
    assert settings.config.dynamic == (False, 0.6, 20) and settings.style.pcutoff == 0.6
    assert settings.config.test_passes
    assert settings.keep == {0, 11}
    assert settings.num_animals == 3 and settings.style.color_by == "individual"
    with pytest.raises(ValueError, match="'linear'"):
        LiveSettings.from_parameters(project, tmp_path / "model",
                                     **{**FLAT, "source": str(coloured_clip), "forward": "linear"})
