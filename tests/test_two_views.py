"""kit.net.two_views: a mirror rig's two views decoded together (the ``two_views`` decoder)."""

import dataclasses
import shutil

import numpy as np
import pytest

from kit.live.export import export_model
from kit.live.predictor import LiveConfig, LivePredictor
from kit.net.assembly import AssemblyConfig
from kit.net.data import AugmentConfig
from kit.net.decoders import get_decoder
from kit.net.model_folder import ModelFolder, PoseConfig
from kit.net.predict import Predictor
from kit.net.targets import TargetConfig, make_targets
from kit.net.test_scales import at_offset
from kit.net.train import TrainConfig, train
from kit.net.two_views import use_two_views, with_view_prior
from kit.project.video import iter_frames
from kit.results.analyze import AnalyzeConfig, analyze_videos
from kit.results.evaluate import evaluate_model

PAIR = (("paw_top", "paw_bot"),)


def rig_pose(num_frames: int = 30, apart: bool = False) -> PoseConfig:
    """A pose config of a rig: one paw seen from the side (above) and from below, one x;
    the two views overlapping (each y anywhere in 10-110) or ``apart`` (the side view's y
    10-50, the view from below's 75-120, as a mirror rig's)."""
    rng = np.random.default_rng(0)
    x, y_top, y_bot = rng.uniform(10, 110, (3, num_frames))
    if apart:
        y_top, y_bot = rng.uniform(10, 50, num_frames), rng.uniform(75, 120, num_frames)
    points = np.stack([np.stack([x, y_top], -1),
                       np.stack([x + rng.normal(0, 0.5, num_frames), y_bot], -1)], axis=1)
    return with_view_prior(PoseConfig(bodyparts=("paw_top", "paw_bot"), global_scale=1.0),
                           points, PAIR)


def maps_with_peaks(peaks: list[list[tuple[float, float, float]]]):
    """Score maps (1, 16, 16, K) of 128-pixel images: each body part's Gaussian peaks
    (x, y, height), and location refinement to the nearest peak."""
    config = TargetConfig()
    scores, locref = np.zeros((16, 16, len(peaks))), np.zeros((16, 16, 2 * len(peaks)))
    for part, part_peaks in enumerate(peaks):
        for x, y, height in sorted(part_peaks, key=lambda p: p[2]):  # the highest's locref
            s, _, ref, _ = make_targets(np.array([[x, y]]), (16, 16), config)
            scores[..., part] = np.maximum(scores[..., part], height * s[..., 0])
            near = s[..., 0] > 0
            locref[near, 2 * part:2 * part + 2] = ref[near, :2]
    return {"part_pred": scores[None], "locref": locref[None]}


def test_a_view_that_disagrees_is_found_again_where_it_agrees():
    """Above, the paw is clear at x = 40; below, the network scores the other paw (x = 100)
    higher than this one (x = 40): the argmax takes the wrong one, two_views the right one,
    with its own (lower) score as likelihood."""
    pose = rig_pose()
    assert pose.decoder == "two_views" and pose.view_pairs == PAIR
    assert 0 < pose.view_tolerance_px < 2
    maps = maps_with_peaks([[(40, 30, 0.9)], [(100, 90, 0.6), (40, 90, 0.4)]])
    argmax = get_decoder("single_animal")(maps, pose, AssemblyConfig()).poses[0, 0]
    views = get_decoder("two_views")(maps, pose, AssemblyConfig()).poses[0, 0]
    np.testing.assert_allclose(argmax[1, :2], [100, 90], atol=0.5)
    np.testing.assert_allclose(views[1, :2], [40, 90], atol=0.5)
    assert views[1, 2] == pytest.approx(0.4, abs=0.02)
    np.testing.assert_allclose(views[0], argmax[0])  # the stronger view stays


def test_views_that_agree_keep_the_argmax():
    pose = rig_pose()
    maps = maps_with_peaks([[(40, 30, 0.9)], [(40, 90, 0.6), (100, 90, 0.4)]])
    argmax = get_decoder("single_animal")(maps, pose, AssemblyConfig()).poses
    np.testing.assert_array_equal(get_decoder("two_views")(maps, pose, AssemblyConfig()).poses,
                                  argmax)


def test_a_pair_whose_labels_scatter_more_is_held_to_its_own_spread():
    """Nine pairs labeled to 0.5 px, a tenth (a tail's middle, placed on other points of
    the tail in the two views) to 6 px: the tenth gets its own, wider tolerance, so a view
    10 px off the subspace, as its labels often are, keeps its argmax; held to the pooled
    tolerance it would move to a faint peak elsewhere (300 px on the mirror mouse's tail)."""
    rng = np.random.default_rng(0)
    names, points = [], []
    for k, spread in enumerate([0.5] * 9 + [6.0]):
        x, y_top, y_bot = rng.uniform(10, 110, (3, 40))
        points += [np.stack([x, y_top], -1), np.stack([x + rng.normal(0, spread, 40), y_bot], -1)]
        names += [f"part{k}_top", f"part{k}_bot"]
    pairs = tuple((names[i], names[i + 1]) for i in range(0, len(names), 2))
    pose = with_view_prior(PoseConfig(bodyparts=tuple(names), global_scale=1.0),
                           np.stack(points, axis=1), pairs)
    assert pose.view_tolerances_px[:9] == (pose.view_tolerance_px,) * 9
    assert pose.view_tolerances_px[9] > 3 * pose.view_tolerance_px
    peaks = [[]] * 18 + [[(40, 30, 0.9)], [(50, 90, 0.6), (40, 90, 0.05)]]
    maps = maps_with_peaks(peaks)
    own = get_decoder("two_views")(maps, pose, AssemblyConfig()).poses[0, 0, 19]
    pooled = get_decoder("two_views")(maps, dataclasses.replace(pose, view_tolerances_px=()),
                                      AssemblyConfig()).poses[0, 0, 19]
    np.testing.assert_allclose(own[:2], [50, 90], atol=0.5)  # the argmax, kept
    assert abs(pooled[0] - 50) > 5
    saved = PoseConfig.from_dict(pose.to_dict())  # its pose_config.json, read back
    assert saved.view_tolerances_px == pose.view_tolerances_px
    with pytest.raises(ValueError, match="one tolerance per view pair"):
        dataclasses.replace(pose, view_tolerances_px=(1.0,))


def test_a_view_seen_in_the_other_view_is_found_in_its_own():
    """The mirror mouse's far misses: the network's map of the paw from below fires on the
    side view above, at the paw's own x (which the subspace alone cannot refuse: x agrees,
    and a view's y is free), stronger than on the view below. With the views apart in the
    labels, the decoder finds each view's part in its own view."""
    pose = rig_pose(apart=True)
    nx, ny, c = pose.view_boundary
    assert (nx, ny) == pytest.approx((0, 1), abs=0.05) and 50 < c < 75
    assert not rig_pose().view_boundary  # views that overlap: no line
    with pytest.raises(ValueError, match="view_boundary is a line"):
        dataclasses.replace(pose, view_boundary=(0.0, 1.0))
    decode = get_decoder("two_views")
    # the argmax from below lies above: moved to its best cell below
    maps = maps_with_peaks([[(40, 30, 0.9)], [(40, 36, 0.95), (40, 100, 0.5)]])
    views = decode(maps, pose, AssemblyConfig()).poses[0, 0]
    np.testing.assert_allclose(views[1, :2], [40, 100], atol=0.5)
    assert views[1, 2] == pytest.approx(0.5, abs=0.02)
    np.testing.assert_allclose(views[0, :2], [40, 30], atol=0.5)
    unbounded = dataclasses.replace(pose, view_boundary=())  # a model of before: kept above
    np.testing.assert_allclose(decode(maps, unbounded, AssemblyConfig()).poses[0, 0, 1, :2],
                               [40, 36], atol=0.5)
    # the view below found again where it agrees: below, not on a stronger cell above
    maps = maps_with_peaks([[(40, 30, 0.9)], [(100, 100, 0.6), (40, 44, 0.35), (40, 100, 0.3)]])
    views = decode(maps, pose, AssemblyConfig()).poses[0, 0]
    np.testing.assert_allclose(views[1, :2], [40, 100], atol=0.5)
    np.testing.assert_allclose(decode(maps, unbounded, AssemblyConfig()).poses[0, 0, 1, :2],
                               [40, 44], atol=0.5)
    # the side view's map fires on the view below (the tail there, its own hidden): the side
    # view is the one found again, beside the view below, however sure its best cell above
    maps = maps_with_peaks([[(40, 100, 0.95), (100, 20, 0.8), (40, 30, 0.1)], [(40, 100, 0.7)]])
    views = decode(maps, pose, AssemblyConfig()).poses[0, 0]
    np.testing.assert_allclose(views[:, :2], [[40, 30], [40, 100]], atol=0.5)


def test_a_crop_of_the_frame_keeps_its_views_apart():
    """Live prediction's dynamic cropping: maps of a crop from y = 40 of the frame; the view
    below's paw at the crop's y = 60 (the frame's 100) is below the line (the frame's y ~62)
    once the pose config is moved with the crop, and taken for the side view's without."""
    pose = rig_pose(apart=True)
    maps = maps_with_peaks([[(40, 5, 0.9)], [(40, 60, 0.6), (100, 100, 0.1)]])
    moved = at_offset(pose, 0, 40)
    assert moved.view_boundary[2] == pytest.approx(pose.view_boundary[2] - 40, abs=2)
    views = get_decoder("two_views")(maps, moved, AssemblyConfig()).poses[0, 0]
    np.testing.assert_allclose(views[:, :2], [[40, 5], [40, 60]], atol=0.5)
    unmoved = get_decoder("two_views")(maps, pose, AssemblyConfig()).poses[0, 0]
    assert abs(unmoved[1, 1] - 60) > 10
    assert at_offset(pose, 0, 0) == pose


def test_too_few_labeled_pairs_decode_each_part_on_its_own():
    with pytest.warns(UserWarning, match="fewer than 6 pairs"):
        pose = rig_pose(num_frames=5)
    assert pose.decoder == "single_animal" and not pose.view_pairs
    with pytest.raises(ValueError, match="two_views decoder needs view_pairs"):
        PoseConfig(bodyparts=("paw_top", "paw_bot"), decoder="two_views")
    saved = rig_pose(apart=True).to_dict()  # its pose_config.json, read back
    assert PoseConfig.from_dict(saved) == rig_pose(apart=True)


def test_a_model_trained_before_decodes_its_views_together(trained_synthetic):
    """use_two_views fits the subspace on the model's training frames and names the decoder
    in its pose config; evaluation (04_evaluate), prediction and live prediction (ONNX) then
    use it."""
    project, predictor, video = trained_synthetic
    original = ModelFolder(predictor.model_dir)
    copy = ModelFolder(original.path.with_name(original.path.name + "-views"))
    shutil.copytree(original.path, copy.path)
    try:
        with pytest.raises(ValueError, match="needs view_pairs"):
            use_two_views(project, copy)  # trained without view_pairs
        parts = list(predictor.pose.bodyparts)
        pose = use_two_views(project, copy, ((parts[1], parts[2]),))
        assert copy.load_pose_config() == pose and pose.decoder == "two_views"
        views = Predictor(copy.path)
        assert views.decoder_name == "two_views"
        evaluation = evaluate_model(project, copy, pcutoff=0.0)
        assert np.isfinite(evaluation.test_rmse)
        # live prediction, exported to ONNX, decodes the same way
        frames = [frame for _, frame in iter_frames(video, 0, 3)]
        live = LivePredictor.load(export_model(copy.path), LiveConfig(
            runtime="onnx", warmup_hw=frames[0].shape[:2]))
        assert live.info["decoder"] == "two_views" and live.info["view_pairs"]
        expected = views.predict_batch(np.stack(frames))
        got = np.stack([live.get_pose(frame) for frame in frames])
        np.testing.assert_allclose(got[..., :2], expected[..., :2], atol=0.1)
    finally:
        shutil.rmtree(copy.path)


def test_an_analysis_names_its_decoder_and_is_not_reused_by_another(trained_synthetic, tmp_path):
    """A video analysed with the argmax is not taken for the two_views decoder's analysis
    (nor resumed): the same model with another decoder asks for overwrite."""
    project, predictor, video = trained_synthetic
    original = ModelFolder(predictor.model_dir)
    copy = ModelFolder(original.path.with_name(original.path.name + "-views2"))
    shutil.copytree(original.path, copy.path)
    settings = AnalyzeConfig(shuffle=1, train_fraction=0.75, variant=copy.variant,
                             output_dir=str(tmp_path), max_frames=4, progress=False)
    try:
        first = analyze_videos(project, [video], settings)[0]
        assert "decoder" not in first.metadata  # as before kit chose
        parts = list(predictor.pose.bodyparts)
        use_two_views(project, copy, ((parts[1], parts[2]),))
        with pytest.raises(ValueError, match="decoder"):
            analyze_videos(project, [video], settings)
        again = analyze_videos(project, [video], dataclasses.replace(settings, overwrite=True))
        assert again[0].metadata["decoder"] == "two_views" and not again[0].skipped
    finally:
        shutil.rmtree(copy.path)


def test_training_with_view_pairs_names_the_decoder(two_videos):
    """A run with ``view_pairs`` (here two ears, as if one point in two views) saves the
    two_views decoder, fitted on its training frames, in its pose config."""
    config = TrainConfig(train_steps=2, batch_size=2, train_fraction=0.9, weights=None,
                         net_type="mobilenet_v2_0.35", batchnorm_batches=1, num_workers=1,
                         augment=AugmentConfig(crop_size=(64, 64)),
                         view_pairs=(("leftear", "rightear"),))
    model_dir = train(two_videos, config, verbose=0)
    predictor = Predictor(model_dir)
    assert predictor.decoder_name == "two_views"
    assert predictor.pose.view_pairs == (("leftear", "rightear"),)
    poses = predictor.predict_images([np.zeros((64, 64, 3), np.uint8)] * 2)
    assert poses.shape == (2, 1, len(two_videos.bodyparts), 3) and np.isfinite(poses).all()
