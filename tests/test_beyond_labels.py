"""kit.experiments.beyond_labels: every method trains on the same blocks split and is scored
on its test block, with its jitter on the video and its wall time."""

import dataclasses
import zlib

import numpy as np
import pandas as pd
import pytest

from kit.experiments import beyond_labels
from kit.experiments.beyond_labels import (
    METHODS,
    BeyondConfig,
    compare_methods,
    method_steps,
    planned_steps,
    train_config,
)
from kit.experiments.beyond_labels_tables import against_supervised, chosen_methods, read_points
from kit.experiments.synthetic import SyntheticConfig, make_synthetic_project
from kit.experiments.synthetic_group import GroupConfig, make_synthetic_group_project
from kit.net.model_query import find_models
from kit.net.predict import Predictor
from kit.net.pretrain import PretrainConfig, pretrained_with, pretraining_seconds
from kit.net.train import training_seconds
from kit.plots import plot_beyond_labels
from kit.project.labels import labels_to_array, load_labels
from kit.project.video import load_image


def tiny_project(tmp_path):
    return make_synthetic_project(tmp_path / "p", SyntheticConfig(
        image_size=(64, 64), num_frames=24, num_labeled=12))


def tiny_config(**kwargs):
    return BeyondConfig(train_sizes=(6,), train_steps=3, net_type="mobilenet_v2_0.35",
                        batch_size=2, crop_size=64, pretrain_share=0.34, video_frames=8,
                        pcutoff=0.0, batchnorm_batches=2, **kwargs)


@pytest.mark.usefixtures("eks_available")  # the ensemble's video analysis is smoothed
def test_an_ensemble_trains_on_the_frames_a_single_model_does(tmp_path):
    """Its members have folders of their own (seeds after the single model's), the single
    model's training frames and test block, and it is scored and smoothed like one model."""
    project = tiny_project(tmp_path)
    lines = []
    table = compare_methods(project, tiny_config(methods=("full_rotation", "ensemble")),
                            tmp_path / "out", progress=lines.append)
    assert table.method.tolist() == ["full_rotation", "ensemble"]
    models = find_models(project, seed=-1, net_type="mobilenet_v2_0.35", split_method="blocks")
    assert sorted(m.load_train_config().seed for m in models) == [0, 1, 2, 3]
    splits = {m.load_split() for m in models}
    assert len(splits) == 1  # one split: same training frames, same test block
    test = next(iter(splits)).test
    assert (table.num_points == len(test) * len(project.bodyparts)).all()
    assert np.isfinite(table[["mean_px", "median_px", "p90_px", "jitter_px", "roughness_px",
                              "wall_s"]]).all(axis=None)
    assert table.below_pcutoff.between(0, 1).all()  # a share of the video's points
    assert (table.train_s > 0).all() and (table.train_s < table.wall_s).all()
    assert (table.steps == 3).all() and len(lines) == len(table)
    assert list((tmp_path / "out" / "videos" / "ensemble-blocks-6").glob("*-seed1-*"))
    assert (tmp_path / "out" / "beyond_labels.csv").is_file()
    points = read_points(tmp_path / "out")  # every test point of every run
    assert points.groupby("method").size().to_dict() == dict(zip(table.method, table.num_points))
    against = against_supervised(points)  # no supervised run here: nothing to compare with
    assert against.empty


def test_each_method_against_supervised_training_on_the_same_points():
    """Point by point on the same split and size: half the error is -50% with no doubt;
    supervised training itself and another size's runs are not compared."""
    base = pd.DataFrame({"image": np.repeat([f"img{i}" for i in range(10)], 2),
                         "individual": "single animal", "bodypart": ["nose", "tail"] * 10,
                         "error_px": np.linspace(1, 20, 20), "split": "blocks",
                         "train_size": 50, "method": "supervised"})
    halved = base.assign(method="full_rotation", error_px=base.error_px / 2)
    other = base.assign(train_size=20, method="pretrained")  # no supervised run at 20
    against = against_supervised(pd.concat([base, halved.iloc[::-1], other]), num_resamples=50)
    assert against.method.unique().tolist() == ["full_rotation"]
    assert against.statistic.tolist() == ["mean", "median", "p90"]
    np.testing.assert_allclose(against[["change", "low", "high"]], -0.5)
    assert against.supervised_px.iloc[0] == pytest.approx(10.5)


def test_a_validation_block_scores_each_run_where_its_method_is_chosen(tmp_path):
    """With validation_fraction every run keeps the frames just before its test block out of
    training and is scored there too; the points say which frames they are, the comparison
    with supervised training reads the test block only, and the choice the validation."""
    project = tiny_project(tmp_path)
    table = compare_methods(project, tiny_config(methods=("full_rotation",),
                                                 validation_fraction=0.25), tmp_path / "out")
    model, = find_models(project, seed=-1, net_type="mobilenet_v2_0.35", split_method="blocks")
    split = model.load_split()
    assert model.load_train_config().validation_fraction == 0.25 and len(split.validation) == 3
    assert not {*split.validation} & {*split.train, *split.test}
    points = read_points(tmp_path / "out")
    assert set(points.loc[points.frames == "validation", "image"]) == set(split.validation)
    assert set(points.loc[points.frames == "test", "image"]) == set(split.test)
    row = table.iloc[0]
    assert row.num_points == len(split.test) * len(project.bodyparts)
    validation = points.loc[points.frames == "validation", "error_px"]
    assert row.val_median_px == pytest.approx(validation.median())
    assert row.val_mean_px == pytest.approx(validation.mean()) and np.isnan(row.val_mAP)
    assert row.rotation_deg == 180.0  # the range it trained with (the config's)
    chosen = chosen_methods(table)
    assert chosen.chosen.tolist() == ["full_rotation"]
    assert chosen.test_median_px.iloc[0] == row.median_px


def test_the_method_chosen_is_the_validation_blocks_best_not_the_tests():
    """Per training size, the lowest validation error (the highest mAP; by default the mAP
    where there is one) wins, whatever the test block says; supervised training's test
    figures beside it."""
    rows = [("supervised", "blocks", 50, 5.0, 4.0, 60.0), ("pretrained", "blocks", 50, 9.0, 3.0,
                                                           80.0),
            ("pretrained", "blocks", 20, 2.0, 6.0, 50.0), ("supervised", "random", 50, 1.0, 1.0,
                                                           99.0)]
    table = pd.DataFrame([{"method": m, "split": s, "train_size": n, "mean_px": test,
                           "median_px": test, "p90_px": test, "val_median_px": val,
                           "val_mAP": ap} for m, s, n, test, val, ap in rows])
    chosen = chosen_methods(table, "median_px").set_index("train_size")
    assert chosen.chosen.to_dict() == {20: "pretrained", 50: "pretrained"}
    assert chosen.loc[50, "test_median_px"] == 9.0 and chosen.loc[50, "supervised_median_px"] == 5
    assert np.isnan(chosen.loc[20, "supervised_median_px"])
    assert chosen_methods(table, "mAP").chosen.to_dict() == {0: "pretrained", 1: "pretrained"}
    table.loc[0, "val_mAP"] = 90.0
    assert chosen_methods(table, "mAP").chosen.tolist() == ["pretrained", "supervised"]
    # By default several animals (an mAP) are chosen on it, one animal on the median.
    assert chosen_methods(table).chosen.tolist() == ["pretrained", "supervised"]
    assert "val_mAP" in chosen_methods(table)
    table["val_mAP"] = np.nan
    assert chosen_methods(table).chosen.tolist() == ["pretrained", "pretrained"]
    assert "val_median_px" in chosen_methods(table)


def test_the_rotation_chosen_on_the_video_then_the_method_on_the_validation_block():
    """rotation_by_video: the range whose training leaves fewer of the video's points below
    pcutoff (supervised: 25 degrees, full_rotation: the project's), then the validation
    block's best of the methods trained with that range; without both rows' shares, as
    before; a project whose range is 25 degrees keeps every method."""
    rows = [("supervised", 25.0, 2.0, 0.05), ("full_rotation", 180.0, 3.0, 0.01),
            ("pretrained", 180.0, 2.5, 0.02), ("supervised", 25.0, 1.0, 0.05)]
    table = pd.DataFrame([{"method": m, "split": "blocks" if i < 3 else "random",
                           "train_size": 50, "mean_px": 9.0 + i, "median_px": 9.0 + i,
                           "p90_px": 9.0 + i, "val_median_px": val, "below_pcutoff": below,
                           "rotation_deg": degrees}
                          for i, (m, degrees, val, below) in enumerate(rows)])
    assert chosen_methods(table).chosen.tolist() == ["supervised"]
    chosen = chosen_methods(table, rotation_by_video=True).iloc[0]
    assert (chosen.chosen, chosen.rotation_by_video) == ("pretrained", "full_rotation")
    assert (chosen.test_median_px, chosen.supervised_median_px) == (11.0, 9.0)
    table.loc[0, "below_pcutoff"] = 0.001  # 25 degrees surer on the video: supervised alone
    assert chosen_methods(table, rotation_by_video=True).chosen.tolist() == ["supervised"]
    table.loc[1:2, "rotation_deg"] = 25.0  # every method at 25 degrees: every one a candidate
    table.loc[2, "val_median_px"] = 1.5
    assert chosen_methods(table, rotation_by_video=True).chosen.tolist() == ["pretrained"]
    table.loc[1, "below_pcutoff"] = np.nan  # no video figure: the validation block alone
    chosen = chosen_methods(table, rotation_by_video=True).iloc[0]
    assert chosen.chosen == "pretrained" and chosen.rotation_by_video is None


def networks_that_find_every_animal(project, monkeypatch):
    """Networks that find every animal, which 3 training steps do not: in evaluation
    (Predictor.predict_images) the labeled animals, Gaussian noise of 1 px added (drawn per
    model) and their order reversed; on the video (predict_assemblies) the first labeled
    frame's animals, standing still."""
    labels = load_labels(project)
    truth = labels_to_array(labels, project.bodyparts, project.layout)
    by_image = {load_image(project.image_path(name)).tobytes(): points
                for name, points in zip(labels.index, truth)}

    def with_likelihood(xy):
        return np.concatenate([xy, np.full((*xy.shape[:-1], 1), 0.9)], axis=-1)

    def predict_images(self, images, batch_size=8):
        rng = np.random.default_rng(zlib.crc32(self.model_dir.name.encode()))
        xy = np.stack([by_image[image.tobytes()] for image in images])[:, ::-1]
        return with_likelihood(xy + rng.normal(0, 1.0, xy.shape))

    def predict_assemblies(self, images):
        poses = with_likelihood(np.repeat(truth[:1], len(images), axis=0))
        return poses, None, np.zeros(len(images), int)

    monkeypatch.setattr(Predictor, "predict_images", predict_images)
    monkeypatch.setattr(Predictor, "predict_assemblies", predict_assemblies)


def test_several_animals_every_method_is_scored(tmp_path, monkeypatch):
    """A two-animal project: each method trains on the blocks split (the losses on
    unlabeled frames on the assembled animals) and is scored on the animals matched to the
    labeled ones (errors of the noise, OKS mAP), its jitter from the tracked analysis; the
    ensemble by its members' median, without jitter."""
    project = make_synthetic_group_project(tmp_path / "group", GroupConfig(
        num_animals=2, num_frames=24, image_size=(64, 64)), num_labeled=12)
    networks_that_find_every_animal(project, monkeypatch)
    lines = []
    table = compare_methods(project, tiny_config(methods=(
        "supervised", "unlabeled_losses", "pretrained", "ensemble")), tmp_path / "out",
        progress=lines.append)
    assert len(lines) == len(table)
    assert table.method.tolist() == ["supervised", "unlabeled_losses", "pretrained", "ensemble",
                                     "supervised"]
    assert table.split.tolist() == ["blocks"] * 4 + ["random"]
    scores = table[["mean_px", "median_px", "p90_px", "mAP"]]
    assert np.isfinite(scores).all(axis=None) and (table.median_px < 3).all()
    assert (table.mAP > 0).all() and (table.num_predicted == table.num_points).all()
    ensemble = table.method == "ensemble"
    assert (table.jitter_px[~ensemble] == 0).all() and table.jitter_px[ensemble].isna().all()
    assert (table.roughness_px[~ensemble] == 0).all()  # still animals: neither moves nor noise
    assert table.below_pcutoff[~ensemble].between(0, 1).all()
    assert table.below_pcutoff[ensemble].isna().all()
    assert list(tmp_path.glob("out/videos/supervised-blocks-6/*/*_el.h5"))  # tracked


@pytest.mark.slow
@pytest.mark.usefixtures("eks_available")
def test_every_method_runs_on_the_blocks_split_and_is_scored(tmp_path):
    project = tiny_project(tmp_path)
    table = compare_methods(project, tiny_config(), tmp_path / "out")
    assert table.method.tolist() == [*METHODS, "supervised"]
    assert table.split.tolist() == ["blocks"] * len(METHODS) + ["random"]
    assert np.isfinite(table[["mean_px", "median_px", "p90_px", "jitter_px"]]).all(axis=None)
    assert list(project.root.glob("kit-models/pretrained/mobilenet_v2_0.35-mask1.weights.h5"))


def test_methods_differ_only_in_what_they_name():
    config = BeyondConfig()
    plain = train_config(config, METHODS["supervised"], 50, 600)
    rotated = train_config(config, METHODS["full_rotation"], 50, 600)
    assert plain.augment.rotation_deg == 25.0 and rotated.augment.rotation_deg == 180.0
    assert plain.split_method == rotated.split_method == "blocks"
    assert train_config(config, METHODS["unlabeled_losses"], 50, 600).unlabeled_pairs == 2
    assert train_config(config, METHODS["self_training"], 50, 600).pseudo_label_frames == 200
    mirrored = train_config(config, METHODS["mirrored"], 50, 600)
    assert mirrored.augment == dataclasses.replace(rotated.augment, mirror=True)
    assert mirrored.variant == rotated.variant.replace("-rot180", "-rot180-mirror")  # own folder
    # A rig whose views do not turn: no method rotates beyond DeepLabCut's 25 degrees, and
    # the losses on unlabeled frames add the two views' agreement.
    rig = BeyondConfig(rotation_deg=25.0, view_pairs=(("nose_top", "nose_bot"),),
                       global_scale=0.6)
    rotated = train_config(rig, METHODS["full_rotation"], 50, 600)
    assert rotated.augment.rotation_deg == 25.0 and rotated.augment.global_scale == 0.6
    assert train_config(rig, METHODS["unlabeled_losses"], 50, 600).variant.endswith(
        "-unlabeled2views-mobilenet_v2_1.0")
    with pytest.raises(ValueError, match="methods from"):
        BeyondConfig(methods=("magic",))
    # Further TrainConfig settings reach every method; what the comparison sets is refused.
    tuned = BeyondConfig(train_settings="temporal_min_confidence=0.05 locref_loss_weight=0.1")
    for name in ("supervised", "unlabeled_losses"):
        run = train_config(tuned, METHODS[name], 50, 600)
        assert (run.temporal_min_confidence, run.locref_loss_weight) == (0.05, 0.1)
    with pytest.raises(ValueError, match="'unlabeled_pairs' is a parameter of its own"):
        train_config(BeyondConfig(train_settings="unlabeled_pairs=8"),
                     METHODS["unlabeled_losses"], 50, 600)


def test_a_time_budget_gives_each_method_the_steps_that_fit_in_it(monkeypatch):
    """Steps from each network's measured seconds per step: the unlabeled step costs twice
    here, so it gets half the steps; the ensemble shares one budget, ensemble_3x has three."""
    config = BeyondConfig(time_budget_s=10.0, train_steps=7)
    monkeypatch.setattr(beyond_labels, "seconds_per_step",
                        lambda project, run: 0.5 if run.unlabeled_pairs else 0.25)
    steps = {name: method_steps(None, config, name, 50) for name in METHODS}
    assert steps == {"supervised": 40, "full_rotation": 40, "mirrored": 40, "unlabeled_losses": 20,
                     "pretrained": 40, "ensemble": 40, "ensemble_3x": 120, "self_training": 40}
    assert method_steps(None, BeyondConfig(train_steps=7), "ensemble_3x", 50) == 21  # no budget


def test_the_planned_steps_are_timed_once_and_kept(monkeypatch, tmp_path):
    """All methods timed before any training, and an interrupted comparison started again
    reuses the plan: other timings would be other settings in the finished folders."""
    timed = []
    monkeypatch.setattr(beyond_labels, "seconds_per_step",
                        lambda project, run: timed.append(run.seed) or 0.5)
    config = BeyondConfig(methods=("supervised", "ensemble"), train_sizes=(20, 50),
                          time_budget_s=10.0)
    assert planned_steps(None, config, tmp_path) == {
        "supervised/20": 20, "ensemble/20": 20, "supervised/50": 20, "ensemble/50": 20}
    assert len(timed) == 4 and (tmp_path / "planned_steps_10s.json").is_file()
    monkeypatch.setattr(beyond_labels, "seconds_per_step", lambda project, run: 0.25)
    assert planned_steps(None, config, tmp_path)["supervised/50"] == 20  # kept, not retimed


def test_the_figure_reads_errors_as_plain_pixels():
    """A log axis (a failed method is far off) labelled 6, 7, 8, 9, not 6x10^0."""
    table = pd.DataFrame([(m, s, 50, 11.0, median, 22.0, 9, 9, np.nan, jitter, jitter / 3,
                           0.1, wall, wall,
                           100, *[np.nan] * 4, 25.0)
                          for m, s, median, jitter, wall in (
                              ("supervised", "blocks", 6.1, 6.4, 890.0),
                              ("ensemble", "blocks", 9.0, 4.2, 1390.0),
                              ("supervised", "random", 6.5, 6.1, 1290.0))],
                         columns=beyond_labels.COLUMNS)
    figure = plot_beyond_labels(table)
    figure.canvas.draw()
    by_size = figure.axes[0]
    labels = [t.get_text() for t in by_size.get_yticklabels(minor=True) if t.get_text()]
    assert {"6", "7", "8", "9"} <= set(labels), labels
    assert not any("^" in text for text in labels)  # mathtext's 6\times10^{0}
    assert [t.get_text() for t in figure.axes[2].get_xticklabels()] == ["supervised", "ensemble"]
    unsure = figure.axes[3]  # the video's points below pcutoff, one bar per method
    assert unsure.get_ylabel() == "share of the video's points below pcutoff"
    assert [bar.get_height() for bar in unsure.patches] == [0.1, 0.1]
    rough = figure.axes[4]  # the video's noise, one bar per method
    assert [bar.get_height() for bar in rough.patches] == pytest.approx([6.4 / 3, 4.2 / 3])
    older = plot_beyond_labels(table.drop(columns=["below_pcutoff", "roughness_px"]))
    assert len(older.axes) == 3  # a table of before them


def test_video_figures_read_the_moves_and_the_unsure_share_of_the_analysis(tmp_path,
                                                                          monkeypatch):
    """jitter: the median move of parts above pcutoff in both frames; roughness: of a steady
    move, none; below_pcutoff: the share of the predicted points below it (an animal not
    found, NaN, is not a point)."""
    from types import SimpleNamespace

    from kit.project.analysis_file import predictions_frame, save_analysis

    poses = np.zeros((4, 2, 2, 3))  # 4 frames, 2 animals, 2 parts, moving 3 px a frame
    poses[..., 0] = 3.0 * np.arange(4)[:, None, None]
    poses[..., 2] = 0.9
    poses[1, 0, 1, 2] = 0.2  # one unsure point: its two moves are left out of the jitter
    poses[:, 1] = np.nan  # the second animal never found
    h5 = tmp_path / "v.h5"
    save_analysis(h5, predictions_frame(poses, range(4), "kit", ["a", "b"], ["m1", "m2"]))
    monkeypatch.setattr(beyond_labels.analyze, "find_videos", lambda project: ["v.mp4"])
    monkeypatch.setattr(beyond_labels.analyze, "analyze_videos",
                        lambda project, videos, settings: [SimpleNamespace(h5=h5)])
    folder = SimpleNamespace(variant="")
    figures = beyond_labels.video_figures(None, [folder], BeyondConfig(video_frames=4),
                                          tmp_path)
    assert figures == {"jitter_px": pytest.approx(3.0), "roughness_px": pytest.approx(0.0),
                       "below_pcutoff": pytest.approx(1 / 8)}
    assert np.isnan(beyond_labels.video_figures(
        None, [folder], BeyondConfig(video_frames=0), tmp_path)["below_pcutoff"])


def counted_pretraining(monkeypatch) -> list:
    """The comparison's pretraining, each call appended to the list returned."""
    calls = []
    real = beyond_labels.pretrain
    monkeypatch.setattr(beyond_labels, "pretrain",
                        lambda *args, **kwargs: calls.append(1) or real(*args, **kwargs))
    return calls


def test_a_finished_pretrained_run_is_evaluated_again_without_pretraining(tmp_path,
                                                                          monkeypatch):
    """A comparison started again reuses finished models; the pretrained method's pretraining
    (minutes on a real project) is one of them, not redone before its pose model is found."""
    project = tiny_project(tmp_path)
    calls = counted_pretraining(monkeypatch)
    first, _ = beyond_labels.run_method(project, tiny_config(), "pretrained", 6)
    again, steps = beyond_labels.run_method(project, tiny_config(), "pretrained", 6)
    assert len(calls) == 1 and steps == 3
    assert [m.path for m in again] == [m.path for m in first] and again[0].is_trained()
    assert again[0].load_train_config().weights.endswith(".weights.h5")
    # what the run cost is read back from its files: pose steps' and pretraining's seconds
    pose_s = training_seconds(again[0].path)
    assert beyond_labels.train_seconds(again) == pytest.approx(
        pose_s + pretraining_seconds(again[0].load_train_config().weights)) and pose_s > 0


def test_a_second_training_size_reuses_the_same_pretraining(tmp_path, monkeypatch):
    """Each training size's pretrained run starts from the same pretraining (same settings,
    same file): done once, not once per size; other settings are not taken for it."""
    project = tiny_project(tmp_path)
    calls = counted_pretraining(monkeypatch)
    four, _ = beyond_labels.run_method(project, tiny_config(), "pretrained", 4)
    six, _ = beyond_labels.run_method(project, tiny_config(), "pretrained", 6)
    assert len(calls) == 1 and four[0].path != six[0].path and six[0].is_trained()
    weights = six[0].load_train_config().weights
    assert weights == four[0].load_train_config().weights
    settings = PretrainConfig(net_type="mobilenet_v2_0.35", train_steps=1, batch_size=2,
                              crop_size=64, span=(0.0, 0.8), seed=0)
    assert pretrained_with(weights, settings)
    assert not pretrained_with(weights, dataclasses.replace(settings, seed=1))
