"""Labels whose left and right body parts are on the wrong sides (kit.labeling.label_audit):
found among a turning animal's frames, for one or several animals, and in the openfield
project's labels, where one frame has its ears swapped."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import shared_dataset

from kit.labeling.label_audit import (body_axis, project_side_swaps, side_pairs, side_swaps,
                                     swap_sides)
from kit.labeling.label_store import LabelStore
from kit.project import create_project, load_project
from kit.project.labels import load_labels, make_labels_frame, save_labels
from kit.project.splits import make_split

PARTS = ["snout", "leftear", "rightear", "tailbase"]


def turning_mouse(num_frames: int, seed: int = 0) -> np.ndarray:
    """(frames, 4, 2) snout, ears, tail base of a mouse seen from above (image y down),
    heading every way, ears 10 px to either side of a point 12 px behind the snout."""
    rng = np.random.default_rng(seed)
    angle = rng.uniform(-np.pi, np.pi, num_frames)
    ahead = np.stack([np.cos(angle), np.sin(angle)], -1)
    left = np.stack([np.sin(angle), -np.cos(angle)], -1)  # the animal's left, seen from above
    centre = rng.uniform(100, 300, (num_frames, 2))
    head = centre + 50 * ahead
    points = np.stack([head, head - 12 * ahead + 10 * left, head - 12 * ahead - 10 * left,
                       centre - 60 * ahead], 1)
    return points + rng.normal(0, 1.0, points.shape)


def test_side_pairs_are_found_from_the_names():
    names = ["snout", "leftear", "rightear", "ear_l", "ear_r", "L-paw", "R-paw", "LeftHand",
             "RightHand", "tail", "paw1LH_top", "paw1RH_top", "leftonly", "wingL", "wingR",
             "forelegL4", "forelegR4", "LEFT_EYE", "RIGHT_EYE"]
    assert side_pairs(names) == [("leftear", "rightear"), ("ear_l", "ear_r"),
                                 ("L-paw", "R-paw"), ("LeftHand", "RightHand"),
                                 ("wingL", "wingR"), ("forelegL4", "forelegR4"),
                                 ("LEFT_EYE", "RIGHT_EYE")]
    assert side_pairs(["snout", "tail", "nail_l"]) == []  # no partner, no l inside a word


def test_a_swapped_frame_is_found_among_every_heading():
    points = turning_mouse(40)
    assert body_axis(points[:, None], PARTS, ["leftear", "rightear"]) == ("snout", "tailbase")
    images = [f"img{i}.png" for i in range(40)]
    assert side_swaps(points[:, None], PARTS, images).empty  # every frame agrees
    points[[7, 23]] = points[[7, 23]][:, [0, 2, 1, 3]]  # ears swapped in two frames
    found = side_swaps(points[:, None], PARTS, images)
    assert found.image.tolist() == ["img7.png", "img23.png"]
    assert found.iloc[0][["left", "right", "agreeing_frames", "frames"]].tolist() == [
        "leftear", "rightear", 38, 40]


def test_frames_without_a_side_and_a_side_view_are_not_judged():
    points = turning_mouse(40)
    head_on = points[5].copy()
    points[5, 1] = points[5, 2] = (head_on[0] + head_on[3]) / 2  # both ears on the axis
    points[6, 1] = np.nan  # one ear not placed
    images = [f"img{i}.png" for i in range(40)]
    assert side_swaps(points[:, None], PARTS, images).empty
    half = turning_mouse(40, seed=1)
    half[::2] = half[::2][:, [0, 2, 1, 3]]  # seen from either side: no rule to break
    assert side_swaps(half[:, None], PARTS, images).empty
    assert side_swaps(points[:, None], PARTS, images, pairs=[]).empty


def test_each_animal_of_a_multianimal_project_is_checked(tmp_path):
    project = create_project(tmp_path / "p", "pair", "me", PARTS, individuals=["m1", "m2"],
                             uniquebodyparts=["feeder"])
    points = np.full((30, 3, 5, 2), np.nan)  # m1, m2, single; four parts and the feeder
    points[:, 0, :4], points[:, 1, :4] = turning_mouse(30, 2), turning_mouse(30, 3)
    points[:, 2, 4] = 20.0
    points[11, 1, 1:3] = points[11, 1, [2, 1]]  # m2's ears swapped in frame 11
    names = [f"labeled-data/v/img{i:03d}.png" for i in range(30)]
    save_labels(project, "v", make_labels_frame(points, names, "me", project.bodyparts,
                                                project.layout))
    found = project_side_swaps(load_project(project.root))
    assert found[["image", "individual", "left"]].values.tolist() == [
        ["labeled-data/v/img011.png", "m2", "leftear"]]
    store = LabelStore(project, "v", [])
    assert swap_sides(store, found) == ["labeled-data/v/img011.png"]
    assert project_side_swaps(load_project(project.root)).empty
    after = load_labels(project).loc["labeled-data/v/img011.png", ("me", "m2")]
    assert after[["leftear", "rightear"]].tolist() == pytest.approx(  # m2's ears back,
        points[11, 1, [2, 1]].ravel())  # m1's and the feeder as they were
    assert store.all_points("labeled-data/v/img011.png")[[0, 2]] == pytest.approx(
        points[11, [0, 2]], nan_ok=True)


def test_swapping_back_keeps_the_file_before_and_an_unplaced_ear(tmp_path):
    project = create_project(tmp_path / "p", "mouse", "me", PARTS)
    points = turning_mouse(20)
    points[4], points[9] = points[4][[0, 2, 1, 3]], points[9][[0, 2, 1, 3]]
    points[12, 2] = np.nan  # the right ear not placed
    names = [f"labeled-data/v/img{i:03d}.png" for i in range(20)]
    path = save_labels(project, "v", make_labels_frame(points, names, "me", PARTS))
    found = project_side_swaps(project)
    assert found.image.tolist() == [names[4], names[9]]
    extra = [found.iloc[:1].assign(image=names[12]),  # asked by hand: the unplaced ear swaps
             found.iloc[:1].assign(image="labeled-data/w/img000.png")]  # another video: none
    assert swap_sides(LabelStore(project, "v", []), pd.concat([found, *extra])) == [
        names[4], names[9], names[12]]
    fixed = points.copy()
    fixed[[4, 9, 12]] = fixed[[4, 9, 12]][:, [0, 2, 1, 3]]
    assert load_labels(project).to_numpy().reshape(20, 4, 2) == pytest.approx(
        fixed, nan_ok=True)
    backup = pd.read_hdf(path.with_name(path.name + ".bak"))  # the file before: one save
    assert backup.to_numpy().reshape(20, 4, 2) == pytest.approx(points, nan_ok=True)
    assert project_side_swaps(project).empty


def test_the_openfield_projects_swapped_ears_are_found():
    project = load_project(shared_dataset("openfield-Pranav-2018-10-30"))
    found = project_side_swaps(project)
    assert found.image.tolist() == ["labeled-data/m4s1/img0102.png"]
    assert found.iloc[0][["agreeing_frames", "frames"]].tolist() == [115, 116]
    labels = load_labels(project)  # the blocks split's test block: the last fifth
    split = make_split(list(labels.index), 0.8, 1, method="blocks")
    assert project_side_swaps(project, split=split).split.tolist() == ["test"]


@pytest.mark.parametrize("pairs", [[("leftear", "rightear")], None])
def test_given_pairs_and_axis_are_used(pairs):
    points = turning_mouse(20)
    points[3] = points[3][[0, 2, 1, 3]]
    found = side_swaps(points[:, None], PARTS, list(range(20)), pairs=pairs,
                       axis=("tailbase", "snout"))
    assert found.image.tolist() == [3]
