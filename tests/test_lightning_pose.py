"""Lightning Pose projects and files: a tiny project imported, labels written for it to train
on, its predictions read back; malformed inputs named; the shared mirror mouse imported."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import shared_dataset

from kit.project.dlc_tables import table_points
from kit.project.labels import labels_to_array, load_labels, read_labels_file
from kit.project.lightning_pose import (
    import_lp_project,
    read_lp_predictions,
    read_lp_project,
    write_lp_labels,
)
from kit.project.video import save_image, write_video

BODYPARTS = ["nose", "tail"]
# x, y per body part; NaN = not labeled
POINTS = {"img03.png": [1.5, 2.25, 10.0, 4.0], "img07.png": [5.0, 6.5, np.nan, np.nan],
          "img11.png": [7.125, 1.0, 3.0, 3.0]}


def _lp_folder(root, images=POINTS, sessions=False, keypoints=BODYPARTS):
    """A Lightning Pose project: CollectedData.csv, labeled-data/ (or labeled-data/s1/), a
    16x12 video and its config yaml, as Lightning Pose lays them."""
    folder = root / "lp"
    sub = "labeled-data/s1" if sessions else "labeled-data"
    (folder / sub).mkdir(parents=True)
    (folder / "videos").mkdir()
    for name in images:
        save_image(folder / sub / name, np.full((12, 16, 3), 100, np.uint8))
    write_video(folder / "videos" / "session.mp4", [np.zeros((12, 16, 3), np.uint8)] * 3, 10)
    columns = pd.MultiIndex.from_product([["rick"], BODYPARTS, ["x", "y"]],
                                         names=["scorer", "bodyparts", "coords"])
    df = pd.DataFrame(list(images.values()), index=[f"{sub}/{n}" for n in images],
                      columns=columns)
    df.to_csv(folder / "CollectedData.csv")
    (folder / "config_lp.yaml").write_text(
        "data:\n  csv_file: CollectedData.csv\n  num_keypoints: 2\n"
        f"  keypoint_names: [{', '.join(keypoints)}]\nmodel:\n  backbone: resnet18\n")
    return folder


def test_a_project_imports_with_its_labels_images_and_video_linked(tmp_path):
    folder = _lp_folder(tmp_path)
    project = import_lp_project(folder, tmp_path / "kit", video_name="mouse")
    assert project.bodyparts == BODYPARTS and project.scorer == "rick"
    labels = load_labels(project)
    assert list(labels.index) == [f"labeled-data/mouse/{n}" for n in POINTS]
    expected = np.array(list(POINTS.values())).reshape(3, 2, 2)
    np.testing.assert_array_equal(labels_to_array(labels, BODYPARTS), expected)  # exact, NaN kept
    image = project.image_path("labeled-data/mouse/img07.png")
    assert image.is_symlink() and image.resolve() == (folder / "labeled-data/img07.png").resolve()
    video = project.videos_dir / "session.mp4"
    assert video.is_symlink() and str(video) in project.config["video_sets"]


def test_session_folders_stay_the_videos(tmp_path):
    project = import_lp_project(_lp_folder(tmp_path, sessions=True), tmp_path / "kit")
    assert list(load_labels(project).index) == [f"labeled-data/s1/{n}" for n in POINTS]
    assert project.task == "lp"  # the folder's name


def test_labels_written_for_lightning_pose_read_back_as_the_subset(tmp_path):
    project = import_lp_project(_lp_folder(tmp_path), tmp_path / "kit", video_name="mouse")
    images = ["labeled-data/mouse/img11.png", "labeled-data/mouse/img03.png"]
    path = write_lp_labels(project, images, tmp_path / "train.csv")
    back = read_labels_file(path)
    assert list(back.index) == images
    pd.testing.assert_frame_equal(back, load_labels(project).loc[images])
    with pytest.raises(ValueError, match="have no labels"):
        write_lp_labels(project, ["labeled-data/mouse/img99.png"], tmp_path / "bad.csv")


def _predictions(index, with_set: bool) -> pd.DataFrame:
    """A predictions table as Lightning Pose builds one (``heatmap_tracker``, set column)."""
    columns = pd.MultiIndex.from_product([["heatmap_tracker"], BODYPARTS,
                                          ["x", "y", "likelihood"]],
                                         names=["scorer", "bodyparts", "coords"])
    values = np.arange(len(index) * 6, dtype=float).reshape(len(index), 6) + 0.25
    df = pd.DataFrame(values, index=index, columns=columns)
    if with_set:
        df.loc[:, ("set", "", "")] = ["train", "test"][: len(index)]
    return df


def test_predictions_and_video_predictions_read(tmp_path):
    _predictions(["labeled-data/img03.png", "labeled-data/img07.png"], True).to_csv(
        tmp_path / "predictions.csv")
    read = read_lp_predictions(tmp_path / "predictions.csv")
    assert list(read.sets) == ["train", "test"]
    points, parts, _ = table_points(read.table, ("x", "y", "likelihood"))
    assert parts == BODYPARTS and points.shape == (2, 1, 2, 3)
    assert points[1, 0, 1].tolist() == [9.25, 10.25, 11.25]
    _predictions(range(3), False).to_csv(tmp_path / "video.csv")
    video = read_lp_predictions(tmp_path / "video.csv")
    assert video.sets is None and list(video.table.index) == [0, 1, 2]


def test_malformed_inputs_name_the_file(tmp_path):
    folder = _lp_folder(tmp_path)
    (folder / "labeled-data" / "img07.png").unlink()
    with pytest.raises(FileNotFoundError, match="CollectedData.csv labels 1 image"):
        import_lp_project(folder, tmp_path / "a")
    folder = _lp_folder(tmp_path / "b", keypoints=["nose", "paw"])
    with pytest.raises(ValueError, match=r"CollectedData.csv: its body parts"):
        import_lp_project(folder, tmp_path / "b" / "kit")
    folder = _lp_folder(tmp_path / "c")
    text = (folder / "CollectedData.csv").read_text().replace("coords,", "coordinates,", 1)
    (folder / "CollectedData.csv").write_text(text)
    with pytest.raises(ValueError, match="CollectedData.csv"):
        import_lp_project(folder, tmp_path / "c" / "kit")
    (tmp_path / "bad.csv").write_text("frame,x\n0,1\n")
    with pytest.raises(ValueError, match="bad.csv is not a Lightning Pose predictions file"):
        read_lp_predictions(tmp_path / "bad.csv")
    folder = _lp_folder(tmp_path / "e")
    config = folder / "config_lp.yaml"
    config.write_text(config.read_text().replace(
        "keypoint_names", "mirrored_column_matches: [[0], [5]]\n  keypoint_names"))
    with pytest.raises(ValueError, match="config_lp.yaml: data.mirrored_column_matches"):
        read_lp_project(folder)
    config.write_text(config.read_text().replace("[[0], [5]]", "[[0], [1]]"))
    assert read_lp_project(folder).view_pairs == (("nose", "tail"),)
    with pytest.raises(FileNotFoundError, match="No Lightning Pose project folder"):
        import_lp_project(tmp_path / "nowhere", tmp_path / "d")


def test_the_shared_mirror_mouse_imports(tmp_path):
    folder = shared_dataset("lp-mirror-mouse")
    project = import_lp_project(folder, tmp_path / "kit")
    labels = load_labels(project)
    assert len(project.bodyparts) == 17 and project.bodyparts[0] == "paw1LH_top"
    assert len(labels) == 90 and labels.index[0] == "labeled-data/lp-mirror-mouse/img01.png"
    original = pd.read_csv(folder / "CollectedData.csv", header=[0, 1, 2], index_col=0)
    np.testing.assert_array_equal(labels.to_numpy(), original.to_numpy())  # same order, exact
    assert (project.videos_dir / "test_vid.mp4").is_symlink()
    pairs = read_lp_project(folder).view_pairs  # its mirror: top and bottom views, 7 parts
    assert len(pairs) == 7 and pairs[0] == ("paw1LH_top", "paw1LH_bot")
    assert pairs[-1] == ("nose_top", "nose_bot")
    pca = read_lp_project(folder).pca_bodyparts  # the mouse's parts, not the obstacle's
    assert len(pca) == 14 and "obs_top" not in pca and "nose_bot" in pca
