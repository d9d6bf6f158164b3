"""kit.net.decoders: maps -> poses, chosen once from the pose config; a new decoder is one
function and one registry line."""

import shutil

import numpy as np
import pytest

from kit.net.assembly import AssemblyConfig
from kit.net.decoders import DECODERS, Decoded, bottom_up, get_decoder, register_decoder
from kit.net.model_folder import ModelFolder, PoseConfig
from kit.net.predict import Predictor
from kit.net.targets import TargetConfig, make_targets
from kit.results.evaluate import evaluate_model


def argmax_only(maps, pose, assembly):
    """A stand-in decoder: each score map's best cell centre, no location refinement."""
    scores = maps["part_pred"]
    n, h, w, k = scores.shape
    flat = scores.reshape(n, h * w, k)
    rows, cols = np.unravel_index(flat.argmax(1), (h, w))
    xy = (np.stack([cols, rows], -1) + 0.5) * pose.stride
    return Decoded(np.concatenate([xy, flat.max(1)[..., None]], -1)[:, None], None,
                   np.zeros(n, np.int64))


def test_single_animal_decoder_by_hand():
    pose = PoseConfig(bodyparts=("a", "b"))
    points = np.array([[20.5, 12.25], [40.0, 30.0]])
    scores, _, locref, _ = make_targets(points, (6, 8), TargetConfig())
    decoded = get_decoder(pose.decoder)({"part_pred": scores[None], "locref": locref[None]},
                                        pose, AssemblyConfig())
    assert decoded.poses.shape == (1, 1, 2, 3) and decoded.identity is None
    np.testing.assert_allclose(decoded.poses[0, 0, :, :2], points, atol=0.5)
    assert decoded.num_dropped.tolist() == [0]


def test_registry_names_the_choices():
    assert get_decoder("bottom_up") is bottom_up
    with pytest.raises(ValueError, match=r"Unknown decoder 'top_down'.*bottom_up"):
        get_decoder("top_down")
    with pytest.raises(ValueError, match="exists"):
        register_decoder("single_animal", argmax_only)


def test_stand_in_decoder_runs_04_evaluates_code_path(trained_synthetic, tmp_path):
    """Registered once and named by a model's pose config, a decoder is what evaluation
    (``evaluate_model``, which 04_evaluate calls) predicts with."""
    project, predictor, _ = trained_synthetic
    original = ModelFolder(predictor.model_dir)
    copy = ModelFolder(original.path.with_name(original.path.name + "-standin"))
    shutil.copytree(original.path, copy.path)
    pose = copy.load_pose_config()
    copy.save_pose_config(PoseConfig.from_dict({**pose.to_dict(), "decoder": "argmax_only"}))
    register_decoder("argmax_only", argmax_only)
    try:
        evaluation = evaluate_model(project, copy, pcutoff=0.0)
        stand_in = Predictor(copy.path)
    finally:
        del DECODERS["argmax_only"]
        shutil.rmtree(copy.path)
    assert stand_in.decoder is argmax_only
    images = np.stack([np.asarray(i) for i in _images(project, evaluation.predictions.index)])
    maps = predictor.predict_maps(images)
    expected = argmax_only(maps, pose, None).poses[:, 0]
    expected[..., :2] /= pose.global_scale
    got = evaluation.predictions.to_numpy().reshape(expected.shape)
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    assert (evaluation.folder / "evaluation.csv").is_file()


def _images(project, names):
    from kit.project.video import load_image

    return [load_image(project.image_path(name)) for name in names]
