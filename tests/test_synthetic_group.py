"""Synthetic groups: the truth is exact, the animals meet, cross and cover each other, and the
project on disk is a multi-animal DeepLabCut project whose labels are the truth."""

import math
import time
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml

from kit.__main__ import main
from kit.experiments import synthetic_group as sg
from kit.experiments.synthetic import ground_truth_errors
from kit.experiments.synthetic_animal import BODYPARTS, covers
from kit.experiments.synthetic_group import (
    GroupConfig,
    group_trajectories,
    load_group_ground_truth,
    make_synthetic_group_project,
    render_group_video,
)
from kit.project import load_project
from kit.project.labels import labels_to_array, load_labels
from kit.project.video import iter_frames, video_info

SMALL = GroupConfig(num_animals=3, num_frames=200, image_size=(256, 256), seed=1)


@pytest.fixture(scope="module")
def group_project(tmp_path_factory):
    """SMALL as a project of two videos, 10 labeled frames each, exact labels (read only)."""
    start = time.perf_counter()
    project = make_synthetic_group_project(tmp_path_factory.mktemp("g") / "p", SMALL,
                                           num_videos=2, num_labeled=10)
    return project, time.perf_counter() - start


def _frame_numbers(index: pd.Index) -> np.ndarray:
    return np.array([int(name.rsplit("/img", 1)[1][:-4]) for name in index])


def _body_length(truth) -> float:
    return float(np.linalg.norm(truth.poses[:, :, 0] - truth.poses[:, :, 3], axis=-1).mean())


def _paths_cross(a: np.ndarray, b: np.ndarray, max_lag: int = 30) -> bool:
    """Whether the paths a, b (T, 2) intersect at steps at most ``max_lag`` frames apart."""
    def side(p, q, r):
        return np.sign((q[:, 0] - p[:, 0]) * (r[:, 1] - p[:, 1]) -
                       (q[:, 1] - p[:, 1]) * (r[:, 0] - p[:, 0]))
    for lag in range(-max_lag, max_lag + 1):
        s = slice(max(0, -lag), len(a) - 1 - max(0, lag))
        p, q = a[s], a[s.start + 1:s.stop + 1]
        r, u = b[s.start + lag:s.stop + lag], b[s.start + lag + 1:s.stop + lag + 1]
        if ((side(p, q, r) * side(p, q, u) < 0) & (side(r, u, p) * side(r, u, q) < 0)).any():
            return True
    return False


def test_trajectories_are_deterministic_fast_and_inside_the_frame():
    config = GroupConfig(num_animals=4, num_frames=150, image_size=(160, 120))
    start = time.perf_counter()
    truth = group_trajectories(config)
    assert time.perf_counter() - start < 10  # about 1 s on a loaded 2-core machine
    assert truth.poses.shape == (150, 4, 4, 2) and truth.visible.shape == (150, 4, 4)
    assert truth.individuals == ["animal1", "animal2", "animal3", "animal4"]
    assert truth.bodyparts == list(BODYPARTS) and ["snout", "tailbase"] in truth.skeleton
    np.testing.assert_array_equal(group_trajectories(config).poses, truth.poses)
    assert not np.allclose(group_trajectories(replace(config, seed=2)).poses, truth.poses)
    assert not np.allclose(group_trajectories(replace(config, video=1)).poses, truth.poses)
    assert (truth.poses >= 0).all() and (truth.poses <= [159, 119]).all()
    body = _body_length(truth)
    assert body == pytest.approx(0.2 * 120, rel=0.1)  # animal_size: scaled to the image
    centres = truth.poses.mean(2)
    assert np.abs(np.diff(centres, axis=0)).max() < 0.2 * body  # smooth motion


@pytest.mark.parametrize("seed", range(3))
def test_animals_pass_within_a_body_length_and_cross_paths(seed):
    config = GroupConfig(num_animals=2 + seed % 3, num_frames=300, image_size=(256, 256),
                         seed=seed, occlusion_rate=0.0)  # the length of a tracker test's video
    truth = group_trajectories(config)
    centres, body = truth.poses.mean(2), _body_length(truth)
    pairs = [(i, j) for i in range(config.num_animals) for j in range(i + 1, config.num_animals)]
    distances = np.stack([np.linalg.norm(centres[:, i] - centres[:, j], axis=-1)
                          for i, j in pairs], 1)
    assert (distances.min(0) < body).any()  # a near pass (or contact)
    assert (distances.max(0) > 1.5 * body).all()  # ...but they do not stay together
    assert any(_paths_cross(centres[:, i], centres[:, j]) for i, j in pairs)
    assert 0 < (~truth.visible).mean() < 0.3  # without occluders: hidden under animals


def test_hidden_parts_are_under_an_animal_drawn_later():
    config = replace(SMALL, occlusion_rate=0.0)
    plan = sg._plan(config)
    num_hidden = 0
    for t in range(config.num_frames):
        order = list(plan.order[t])
        for n in range(config.num_animals):
            above = order[order.index(n) + 1:]
            under = np.zeros(len(BODYPARTS), bool)
            for m in above:
                under |= covers(plan.poses[t][m], plan.animals[m], plan.truth.poses[t, n])
            np.testing.assert_array_equal(plan.truth.visible[t, n], ~under)
            num_hidden += under.sum()
    assert num_hidden > 20


def _nearest_animal(colour: np.ndarray, animals) -> int:
    """The animal whose body or ear colour is nearest to ``colour`` (RGB)."""
    candidates = [(np.linalg.norm(colour - np.array(c)), n) for n, a in enumerate(animals)
                  for c in (a.body_rgb, a.ear_rgb)]
    return min(candidates)[1]


def test_drawn_pixels_at_the_keypoints_belong_to_the_right_animal():
    config = replace(SMALL, num_animals=4, num_frames=120, look_alike=False, occlusion_rate=0)
    plan = sg._plan(config)
    ears, hidden = [], []
    scene = np.zeros((256, 256, 3), np.uint8)
    for t in range(config.num_frames):
        img = sg._draw_scene(scene, plan, t).astype(float)
        for n in range(config.num_animals):
            for k, (x, y) in enumerate(plan.truth.poses[t, n]):
                owner = _nearest_animal(img[round(y), round(x)], plan.animals)
                if not plan.truth.visible[t, n, k]:
                    hidden.append(owner != n)  # another animal's colour
                elif BODYPARTS[k].endswith("ear"):  # an ear's centre is inside the ear
                    ears.append(owner == n)
    assert len(hidden) > 20 and np.mean(hidden) > 0.9
    assert np.mean(ears) > 0.97


def test_look_alike_gives_one_look_and_otherwise_each_animal_its_own(tmp_path):
    def looks(look_alike):
        config = replace(SMALL, num_animals=4, num_frames=60, look_alike=look_alike)
        truth = render_group_video(tmp_path / f"v{look_alike}.mp4", config)
        frames = np.stack([f for _, f in iter_frames(tmp_path / f"v{look_alike}.mp4")]).astype(float)
        middle = truth.poses[:, :, [0, 3]].mean(2)  # between snout and tail base: on the body
        seen = truth.visible.all(2)
        colours = np.array([np.median([frames[t, round(y), round(x)] for t, (x, y) in
                                       enumerate(middle[:, n]) if seen[t, n]], axis=0)
                            for n in range(4)])
        return np.linalg.norm(colours[:, None] - colours[None], axis=-1)[np.triu_indices(4, 1)]

    assert looks(True).max() < 30
    assert looks(False).min() > 40
    alike = sg._looks(replace(SMALL, look_alike=True))[0]
    different = sg._looks(replace(SMALL, look_alike=False))[0]
    assert len({a.length for a in alike}) == 1 and len({a.length for a in different}) == 3
    # an individual keeps its looks in every video of the seed
    assert sg._looks(replace(SMALL, look_alike=False, video=3))[0] == different


def test_project_is_a_multi_animal_deeplabcut_project(group_project):
    project, seconds = group_project
    assert seconds < 60  # 15 s for these two 200-frame videos at load average 10 on 2 cores
    on_disk = yaml.safe_load(project.config_path.read_text())
    assert on_disk["multianimalproject"] is True and on_disk["bodyparts"] == "MULTI!"
    assert on_disk["multianimalbodyparts"] == list(BODYPARTS)
    assert on_disk["individuals"] == ["animal1", "animal2", "animal3"]
    assert on_disk["identity"] is False  # look_alike
    project = load_project(project.root)
    assert project.layout.individuals == ("animal1", "animal2", "animal3")
    assert ("snout", "tailbase") in project.skeleton
    info = video_info(project.videos_dir / "group1.mp4")
    assert (info.num_frames, info.width, info.height) == (200, 256, 256)
    labels = load_labels(project)
    assert labels.columns.nlevels == 4 and labels.shape == (20, 3 * 4 * 2)
    assert list(labels.columns.names) == ["scorer", "individuals", "bodyparts", "coords"]
    csv = project.labels_file("group0", ".csv").read_text().splitlines()
    assert csv[1].startswith("individuals,animal1")


def test_labels_are_the_truth_of_visible_parts(group_project):
    project, _ = group_project
    labels = load_labels(project)
    for video in ("group0", "group1"):
        rows = labels[labels.index.str.startswith(f"labeled-data/{video}/")]
        poses, visible = load_group_ground_truth(project, video)
        frames = _frame_numbers(rows.index)
        expected = np.where(visible[frames][..., None], poses[frames], np.nan)
        np.testing.assert_array_equal(labels_to_array(rows, project.bodyparts, project.layout),
                                      expected)
    assert np.isnan(labels.to_numpy()).any()  # some parts hidden on labeled frames


def test_ground_truth_reads_back_exactly(group_project):
    project, _ = group_project
    for video in (0, 1):
        truth = group_trajectories(replace(SMALL, video=video))
        poses, visible = load_group_ground_truth(project, f"group{video}")
        np.testing.assert_array_equal(poses, truth.poses)
        np.testing.assert_array_equal(visible, truth.visible)
    df = pd.read_hdf(project.ground_truth_file("group0"), key="df_with_missing")
    assert list(df.columns.names) == ["scorer", "individuals", "bodyparts", "coords"]
    with pytest.raises(FileNotFoundError, match="make_synthetic_group_project"):
        load_group_ground_truth(project, "group7")
    # the single-animal summary of notebook 05 leaves a group's videos alone
    analysed = [SimpleNamespace(video=project.videos_dir / "group0.mp4")]
    assert ground_truth_errors(project, analysed).empty


def test_label_noise_and_the_command_line(tmp_path):
    sigma = 2.0
    config = GroupConfig(num_animals=2, num_frames=40, image_size=(128, 128), seed=4)
    project = make_synthetic_group_project(tmp_path / "p", config, num_labeled=40,
                                           label_noise_px=sigma)
    labels = load_labels(project)
    poses, visible = load_group_ground_truth(project, "group0")
    frames = _frame_numbers(labels.index)
    points = labels_to_array(labels, project.bodyparts, project.layout)
    error = np.linalg.norm(points - poses[frames], axis=-1)
    np.testing.assert_array_equal(np.isnan(error), ~visible[frames])
    assert np.nanmean(error) == pytest.approx(sigma * math.sqrt(math.pi / 2), rel=0.2)
    assert main(["synthetic", str(tmp_path / "c"), "--animals", "2", "--num-frames", "12",
                 "--num-labeled", "3", "--image-size", "96", "96", "--look-different"]) == 0
    made = load_project(tmp_path / "c")
    assert made.layout.individuals == ("animal1", "animal2") and made.config["identity"] is True
    assert main(["synthetic", str(tmp_path / "bad"), "--animals", "5"]) == 1
