import numpy as np
import pandas as pd
import pytest

from kit.project import create_project
from kit.project.labels import (
    labels_to_array,
    load_labels,
    make_labels_frame,
    read_labels_file,
    save_labels,
)


@pytest.fixture
def project(tmp_path):
    return create_project(tmp_path / "p", "t", "ann", ["snout", "leftear", "tail"])


def _frame(project, n=5, seed=0):
    rng = np.random.default_rng(seed)
    pts = rng.uniform(0, 500, (n, 3, 2)).round(3) + 1 / 3
    pts[1, 2] = np.nan  # an occluded part is normal data
    names = [f"labeled-data/v/img{i:03d}.png" for i in range(n)]
    return make_labels_frame(pts, names, project.scorer, project.bodyparts), pts


def test_round_trip_h5_and_csv_exact(project):
    df, pts = _frame(project)
    path = save_labels(project, "v", df)
    assert path == project.labels_file("v")
    back = read_labels_file(path)
    pd.testing.assert_frame_equal(back, df)
    assert np.array_equal(labels_to_array(back, project.bodyparts), pts, equal_nan=True)
    csv = read_labels_file(project.labels_file("v", ".csv"))
    np.testing.assert_allclose(csv.to_numpy(), df.to_numpy(), rtol=0, atol=1e-12)
    raw = pd.read_hdf(path)  # what DeepLabCut reads
    assert list(raw.columns.names) == ["scorer", "bodyparts", "coords"]
    assert raw.index[0] == "labeled-data/v/img000.png"


def test_openfield_labels_round_trip_identically(openfield, tmp_path):
    import shutil

    from kit.project import load_project

    original = pd.read_hdf(openfield / "labeled-data/m4s1/CollectedData_Pranav.h5")
    copy = tmp_path / "of"
    shutil.copytree(openfield, copy)
    project = load_project(copy)
    labels = load_labels(project)
    assert labels.shape == (116, 8)
    save_labels(project, "m4s1", labels)
    pd.testing.assert_frame_equal(pd.read_hdf(project.labels_file("m4s1")), original)


def test_save_keeps_a_backup_of_the_previous_version(project):
    df, _ = _frame(project)
    save_labels(project, "v", df)
    df2 = df.copy()
    df2.iloc[0, 0] = 1.5
    save_labels(project, "v", df2)
    backup = project.labels_file("v").with_name("CollectedData_ann.h5.bak")
    assert pd.read_hdf(backup).iloc[0, 0] == df.iloc[0, 0]
    assert read_labels_file(project.labels_file("v")).iloc[0, 0] == 1.5


def test_load_labels_concatenates_videos_in_config_order(project):
    df, _ = _frame(project)
    save_labels(project, "v", df)
    other = df.rename(index=lambda s: s.replace("/v/", "/w/"))
    shuffled = other.loc[:, [("ann", "tail", "x"), ("ann", "tail", "y"), ("ann", "snout", "x"),
                             ("ann", "snout", "y"), ("ann", "leftear", "x"), ("ann", "leftear", "y")]]
    save_labels(project, "w", shuffled)
    labels = load_labels(project)
    assert len(labels) == 10
    assert list(labels.columns.get_level_values("bodyparts")[::2]) == project.bodyparts
    assert np.allclose(labels.iloc[5:].to_numpy(), df.to_numpy(), equal_nan=True)


def test_wrong_header_names_the_file(project):
    path = project.labeled_data_dir("v") / "CollectedData_ann.csv"
    path.parent.mkdir(parents=True)
    path.write_text("scorer,ann,ann\nlabeled-data/v/a.png,1,2\n")
    with pytest.raises(ValueError, match="CollectedData_ann.csv"):
        load_labels(project)


def test_bodyparts_differing_from_config(project):
    df, pts = _frame(project)
    other = make_labels_frame(pts, df.index, "ann", ["snout", "leftear", "nose"])
    from kit.project.labels import write_labels_file

    write_labels_file(other, project.labels_file("v"))
    with pytest.raises(ValueError, match=r"Missing in the file: \['tail'\].*not in the config: \['nose'\]"):
        load_labels(project)


def test_duplicate_rows_are_refused(project):
    df, _ = _frame(project)
    with pytest.raises(ValueError, match="labels the same image twice"):
        save_labels(project, "v", pd.concat([df, df.iloc[:1]]))


def test_truncated_h5_gives_clear_error(project):
    df, _ = _frame(project)
    path = save_labels(project, "v", df)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(ValueError, match="truncated or corrupted"):
        read_labels_file(path)
