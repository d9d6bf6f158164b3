"""DeepLabCut's tables on disk: both column layouts, both index layouts, .h5 and .csv, tiny
tables and DeepLabCut's own samples (../shared/datasets/dlc-format-samples)."""

import itertools
import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import REPO

from kit.project.dlc_tables import (
    COLUMN_NAMES,
    MULTI_COLUMN_NAMES,
    csv_layout,
    has_split_index,
    make_table,
    read_table,
    table_coords,
    table_points,
    write_table,
)

SAMPLES = REPO.parent / "shared" / "datasets" / "dlc-format-samples" / "labeled-data" / "video"
IMAGES = [f"labeled-data/v/img{i}.png" for i in range(3)]


def _points(num_individuals):
    points = np.arange(3 * num_individuals * 2 * 2, dtype=np.float64).reshape(
        3, num_individuals, 2, 2) + 0.125
    points[1, 0, 1] = np.nan
    return points


@pytest.mark.parametrize("individuals", [None, ["mouse1", "mouse2"]], ids=["single", "multi"])
@pytest.mark.parametrize("split", [False, True], ids=["paths", "split-index"])
@pytest.mark.parametrize("suffix", [".h5", ".csv"])
def test_round_trip_either_layout(tmp_path, individuals, split, suffix):
    points = _points(1 if individuals is None else 2)
    df = make_table(points, IMAGES, "ann", ["a", "b"], individuals, ["x", "y"])
    path = write_table(df, tmp_path / f"CollectedData_ann{suffix}", split=split)
    assert has_split_index(path) is split
    back = read_table(path)
    assert list(back.index) == IMAGES
    assert list(back.columns.names) == (COLUMN_NAMES if individuals is None
                                        else MULTI_COLUMN_NAMES)
    again, bodyparts, found = table_points(back, table_coords(back, [("x", "y")], path))
    assert bodyparts == ["a", "b"] and found == individuals
    np.testing.assert_array_equal(again, points)  # exact, NaN kept
    if suffix == ".csv":
        layout = csv_layout(path)
        assert (layout.num_header, layout.num_index, layout.num_rows) == (
            3 if individuals is None else 4, 3 if split else 1, 3)


def test_first_row_without_values_is_kept(tmp_path):
    """pandas reads an all-empty first row as the index names; it comes back as a row."""
    points = _points(1)
    points[0] = np.nan
    for index in (IMAGES, [0, 1, 2]):
        df = make_table(points, index, "ann", ["a", "b"], None, ["x", "y"])
        back = read_table(write_table(df, tmp_path / "t.csv"))
        assert list(back.index) == index and np.isnan(back.iloc[0]).all()
        np.testing.assert_array_equal(back.to_numpy(np.float64), df.to_numpy())


def test_frame_numbers_and_other_coords(tmp_path):
    """An analysis-like table: integer index, coords x, y, z, error, views."""
    coords = ["x", "y", "z", "error", "views"]
    points = np.random.default_rng(0).normal(size=(4, 2, 3, 5))
    df = make_table(points, range(4), "kit-3d", ["a", "b", "c"], ["m1", "m2"], coords)
    for suffix in (".h5", ".csv"):
        back = read_table(write_table(df, tmp_path / f"p{suffix}"))
        assert list(back.index) == [0, 1, 2, 3]
        assert table_coords(back, [("x", "y", "likelihood"), coords], "p") == tuple(coords)
        np.testing.assert_array_equal(table_points(back, coords)[0], points)


def test_bad_tables_name_the_file_and_the_fix(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("scorer,ann,ann\nframe,x,y\n0,1,2\n")
    with pytest.raises(ValueError, match=r"bad.csv has no DeepLabCut table header.*expected"):
        read_table(path)
    path.write_text("scorer,ann,ann\nbodyparts,a,a\ncoords,x,y\n0,1,2\n1,3\n")
    with pytest.raises(ValueError, match=r"line\(s\) \[5\] have fewer cells"):
        read_table(path)
    with pytest.raises(ValueError, match=r"\.h5 or \.csv. Received: .*t.txt"):
        write_table(pd.DataFrame(), tmp_path / "t.txt")
    with pytest.raises(ValueError, match=r"needs its individuals axis"):
        make_table(np.zeros((2, 2, 2)), [0, 1], "ann", ["a", "b"], None, ["x", "y"])
    flat = pd.DataFrame(np.zeros((1, 3)), columns=pd.MultiIndex.from_product(
        [["ann"], ["a"], ["x", "y", "z"]]))
    with pytest.raises(ValueError, match=r"t.h5 is not a pose table.*coords: \['x', 'y', 'z'\]"):
        table_coords(flat, [("x", "y")], "t.h5")


def _sample(name):
    path = SAMPLES / name
    if not path.is_file():
        pytest.skip(f"DeepLabCut's format samples are not at {SAMPLES} (../shared absent)")
    return path


@pytest.mark.parametrize("name, num_header, num_index", [
    ("dlc_testdata.csv", 3, 1), ("dlc_testdata_v2.csv", 3, 3), ("madlc_testdata.csv", 4, 1),
    ("madlc_testdata_v2.csv", 4, 3), ("maudlc_testdata_v2.csv", 4, 3),
    ("CollectedData_LM.csv", 4, 3)])  # maudlc_testdata.csv's header rows differ in length:
# pandas (and so DeepLabCut) cannot read it
def test_deeplabcuts_samples(tmp_path, name, num_header, num_index):
    path = _sample(name)
    layout = csv_layout(path)
    assert (layout.num_header, layout.num_index) == (num_header, num_index)
    df = read_table(path).astype(np.float64)
    assert df.index[0] == "labeled-data/video/img000.png"
    assert df.columns.nlevels == num_header and df.columns.names[-1] == "coords"
    points, bodyparts, individuals = table_points(df, ("x", "y"))
    assert bodyparts[:3] == ["A", "B", "C"] and (individuals is None) == (num_header == 3)
    np.testing.assert_array_equal(points[0, 0, :3].ravel(), np.arange(6.0))
    for suffix in (".csv", ".h5"):  # written back in the same layout, read back the same
        copy = write_table(df, tmp_path / f"copy{suffix}", split=num_index == 3)
        assert has_split_index(copy) is (num_index == 3)
        pd.testing.assert_frame_equal(read_table(copy), df, check_index_type=False)


def test_the_other_pandas_reads_every_layout(tmp_path):
    """Every layout written here opens identically in the other pandas major (DeepLabCut's
    pandas 2 when kit runs on 3), in its own environment (built by tests/test_hdf.py)."""
    major = int(pd.__version__.split(".")[0])
    python = Path.home() / ".cache" / "kit" / f"venv-pandas{2 if major >= 3 else 3}" / "bin" / \
        "python"
    if not python.exists():
        pytest.skip(f"no venv with the other pandas at {python} (tests/test_hdf.py builds it)")
    paths = []
    for individuals, split in itertools.product([None, ["m1", "m2"]], [False, True]):
        df = make_table(_points(1 if individuals is None else 2), IMAGES, "ann", ["a", "b"],
                        individuals, ["x", "y"])
        paths.append(write_table(df, tmp_path / f"{len(paths)}.h5", split=split))
    coords = ["x", "y", "z", "error", "views"]
    df = make_table(np.ones((2, 2, 1, 5)), range(2), "kit-3d", ["a"], ["m1", "m2"], coords)
    paths.append(write_table(df, tmp_path / "poses_3d.h5"))
    out = subprocess.run([str(python), str(REPO / "tests" / "interop" / "read_tables.py"),
                          *map(str, paths)], check=True, capture_output=True, text=True,
                         timeout=300)
    report = json.loads(out.stdout)
    for path in paths:
        seen, here = report["tables"][str(path)], pd.read_hdf(path)
        assert "error" not in seen, f"{path}: {seen}"
        assert [tuple(c) for c in seen["columns"]] == here.columns.tolist(), path
        assert seen["column_names"] == list(here.columns.names), path
        assert [tuple(i) if isinstance(i, list) else i for i in seen["index"]] == \
            here.index.tolist(), path
        np.testing.assert_array_equal(np.array(seen["values"], np.float64).reshape(here.shape),
                                      here.to_numpy(np.float64))
