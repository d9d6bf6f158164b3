"""Multi-animal projects as DeepLabCut writes them: config keys, 4-level label files, the
shared DeepLabCut samples round-tripped, and the errors of mixed-up projects."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import run_dlc_check, shared_dataset

from kit.project import create_project, load_project
from kit.project.extract import open_or_create_project
from kit.project.labels import (
    labels_to_array,
    load_labels,
    make_labels_frame,
    read_labels_file,
    save_labels,
    split_index_of,
    write_labels_file,
)
from kit.project.multianimal import SINGLE, AnimalLayout


def _pair_project(root: Path, unique=("feeder",)):
    return create_project(root, "pair", "me", ["snout", "tail"], individuals=["m1", "m2"],
                          uniquebodyparts=list(unique), skeleton=[["snout", "tail"]])


def test_new_project_writes_deeplabcuts_keys(tmp_path):
    project = _pair_project(tmp_path / "p")
    config = yaml.safe_load(project.config_path.read_text())
    assert config["multianimalproject"] is True and config["identity"] is False
    assert config["bodyparts"] == "MULTI!" and config["individuals"] == ["m1", "m2"]
    assert config["multianimalbodyparts"] == ["snout", "tail"]
    assert config["uniquebodyparts"] == ["feeder"]
    assert project.layout == AnimalLayout(("m1", "m2"), ("snout", "tail"), ("feeder",))
    assert project.bodyparts == ["snout", "tail", "feeder"]
    assert project.layout.table_individuals == ["m1", "m2", SINGLE]
    assert create_project(tmp_path / "one", "t", "me", ["a"]).layout is None


def test_open_or_create_makes_a_multianimal_project_and_reopens_it(tmp_path):
    made = open_or_create_project(tmp_path / "p", "pair", "me", ["snout", "tail"], ["m1", "m2"])
    assert made.layout == AnimalLayout(("m1", "m2"), ("snout", "tail"))
    assert open_or_create_project(tmp_path / "p", "pair", "me", ["snout", "tail"]) == made
    with pytest.raises(ValueError, match=r"individuals=\['m1', 'm2'\].*individuals=\['m1'\]"):
        open_or_create_project(tmp_path / "p", "pair", "me", ["snout", "tail"], ["m1"])


def test_deeplabcut_23_config_opens(tmp_path):
    config = shared_dataset("dlc-format-samples") / "madlc_230_config.yaml"
    (tmp_path / "p").mkdir()
    shutil.copy(config, tmp_path / "p" / "config.yaml")
    project = load_project(tmp_path / "p")  # default_net_type dlcrnet_ms5, bodyparts MULTI!
    assert project.layout.individuals == ("individual1", "individual2", "individual3")
    assert project.bodyparts == ["A", "B", "C", "D", "E"]
    assert project.skeleton == [("A", "B"), ("B", "C"), ("A", "C")]


def _pair_points(num_frames: int) -> np.ndarray:
    """(frames, m1 m2 single, snout tail feeder, 2): NaN where an individual lacks a part."""
    points = np.random.default_rng(0).uniform(5, 60, (num_frames, 3, 3, 2))
    points[:, :2, 2] = np.nan  # animals have no feeder
    points[:, 2, :2] = np.nan  # "single" has only the feeder
    points[1, 1] = np.nan  # m2 not labeled in frame 1: normal data
    return points


def test_labels_round_trip_through_h5_and_csv(tmp_path):
    project = _pair_project(tmp_path / "p")
    names = [f"labeled-data/v/img{i}.png" for i in range(3)]
    df = make_labels_frame(_pair_points(3), names, "me", project.bodyparts, project.layout)
    assert df.columns.names == ["scorer", "individuals", "bodyparts", "coords"]
    assert df.columns.get_level_values("individuals").tolist() == (
        ["m1"] * 4 + ["m2"] * 4 + ["single"] * 2)  # DeepLabCut's column order
    path = save_labels(project, "v", df)
    for suffix in (".h5", ".csv"):
        back = read_labels_file(path.with_suffix(suffix))
        pd.testing.assert_frame_equal(back, df, check_exact=True, check_names=False)
    np.testing.assert_array_equal(labels_to_array(load_labels(project), project.bodyparts,
                                                  project.layout), _pair_points(3))


@pytest.mark.parametrize("name", ["madlc_testdata.csv", "madlc_testdata_v2.csv",
                                  "maudlc_testdata_v2.csv", "CollectedData_LM.csv"])
def test_deeplabcut_samples_round_trip_byte_for_byte(tmp_path, name):
    """Read and written back by kit, each sample is the file DeepLabCut writes after its own
    normalisation (coordinates as floats), with the index in the sample's form."""
    sample = shared_dataset("dlc-format-samples") / "labeled-data" / "video" / name
    df = read_labels_file(sample)
    target = tmp_path / "labeled-data" / "video" / "CollectedData_x.h5"
    write_labels_file(df, target, split_index=split_index_of(sample.with_suffix(".h5")))
    split = split_index_of(sample.with_suffix(".h5"))
    deeplabcut = pd.read_csv(sample, header=[0, 1, 2, 3], index_col=[0, 1, 2] if split else 0)
    expected = tmp_path / "expected.csv"
    deeplabcut.astype(np.float64).to_csv(expected)
    assert target.with_suffix(".csv").read_bytes() == expected.read_bytes()
    assert read_labels_file(target).equals(df)


def test_sample_labels_load_into_a_project_of_their_layout(tmp_path):
    sample = shared_dataset("dlc-format-samples") / "labeled-data" / "video"
    project = create_project(tmp_path / "p", "t", "Scorer", ["A", "B", "C"],
                             individuals=["Animal1", "Animal2"], uniquebodyparts=["D", "E"])
    project.labeled_data_dir("video").mkdir(parents=True)
    shutil.copy(sample / "maudlc_testdata_v2.csv", project.labels_file("video", ".csv"))
    labels = load_labels(project)
    points = labels_to_array(labels, project.bodyparts, project.layout)
    assert points.shape == (len(labels), 3, 5, 2)
    np.testing.assert_array_equal(points[0, 0, :3].ravel(), np.arange(6.0))  # Animal1 A B C
    np.testing.assert_array_equal(points[0, 1, :3].ravel(), np.arange(6.0, 12.0))
    assert np.isnan(points[0, 2, 3:]).all()  # the unique parts are not labeled in frame 0
    assert split_index_of(project.labels_file("video"))
    save_labels(project, "video", labels)  # keeps DeepLabCut's three index columns
    assert project.labels_file("video", ".csv").read_text().splitlines()[4].startswith(
        "labeled-data,video,img000.png,")


def test_mixed_up_projects_name_the_file_and_the_fix(tmp_path):
    project = _pair_project(tmp_path / "p")
    single = create_project(tmp_path / "s", "t", "me", ["snout", "tail"])
    names = ["labeled-data/v/img0.png"]
    one_animal = make_labels_frame(np.ones((1, 2, 2)), names, "me", ["snout", "tail"])
    with pytest.raises(ValueError, match="single-animal label file, but .*config.yaml is multi"):
        save_labels(project, "v", one_animal)
    stranger = make_labels_frame(np.ones((1, 3, 3, 2)), names, "me", project.bodyparts,
                                 AnimalLayout(("m1", "m3"), ("snout", "tail"), ("feeder",)))
    with pytest.raises(ValueError, match=r"\('m3', 'snout'\).*Add them to the config"):
        save_labels(project, "v", stranger)
    multi = make_labels_frame(_pair_points(2)[:1], names, "me", project.bodyparts,
                              project.layout)
    with pytest.raises(ValueError, match="multi-animal label file, but .*config.yaml is single"):
        save_labels(single, "v", multi)
    assert not project.labels_file("v").exists() and not single.labels_file("v").exists()
    text = project.config_path.read_text().replace("- - snout\n  - tail", "- - snout\n  - nose")
    project.config_path.write_text(text)
    with pytest.raises(ValueError, match=r"skeleton names body parts \['nose'\]"):
        load_project(project.root)


def test_deeplabcut_creates_a_training_dataset_from_a_kit_multianimal_project(
        dlc_python, tmp_path):
    project = _pair_project(tmp_path / "p")
    project.labeled_data_dir("v").mkdir(parents=True)
    names = [f"labeled-data/v/img{i:03d}.png" for i in range(6)]
    for name in names:
        cv2.imwrite(str(project.root / name), np.full((64, 80, 3), 40, np.uint8))
    save_labels(project, "v", make_labels_frame(_pair_points(6), names, "me", project.bodyparts,
                                                project.layout))
    report = run_dlc_check(dlc_python, project.root)
    assert report["bodyparts"] == "MULTI!" and report["training_dataset_rows"] == 6
