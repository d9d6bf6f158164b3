"""kit's .h5 files open with the other pandas major version (DeepLabCut keeps pandas below 3)
and with DeepLabCut's own readers: read in separate environments, not by kit's own reader."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import REPO, run_dlc_check, write_unstamped_h5

from kit.__main__ import main
from kit.experiments.synthetic import SyntheticConfig, make_synthetic_project
from kit.project import DiskFullError, hdf
from kit.project.hdf import (
    needs_rewrite,
    read_h5,
    read_h5_attrs,
    rewrite_h5,
    rewrite_project_h5,
    write_h5,
)
from kit.project.labels import make_labels_frame, write_labels_file
from kit.project.venvs import own_venv
from kit.results import analyze
from kit.results.evaluate import evaluate
from kit.results.filters import FilterConfig, filter_analysis
from kit.results.outliers import extract_with_predictions

READER = REPO / "tests" / "interop" / "read_tables.py"
PANDAS_MAJOR = int(pd.__version__.split(".")[0])
OTHER_PANDAS = "pandas>=2.1,<3" if PANDAS_MAJOR >= 3 else "pandas>=3"


@pytest.fixture(scope="session")
def other_pandas_python() -> Path:
    """The python of a venv with the other pandas major version (pandas 2 when kit runs on 3)."""
    folder = Path.home() / ".cache" / "kit" / f"venv-pandas{2 if PANDAS_MAJOR >= 3 else 3}"
    try:
        return own_venv(folder, [OTHER_PANDAS, "tables>=3.9"], timeout_s=600)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as e:
        output = getattr(e, "stderr", "") or ""
        if os.environ.get("CI"):  # CI must really run the other pandas
            raise
        pytest.skip(f"could not build a venv with {OTHER_PANDAS} in {folder}: {e} {output[-300:]}")


def _read_elsewhere(python: Path, paths: list[Path]) -> dict:
    out = subprocess.run([str(python), str(READER), *map(str, paths)], check=True,
                         capture_output=True, text=True, timeout=300)
    return json.loads(out.stdout)


def _assert_same_frame(path: Path, seen: dict) -> None:
    assert "error" not in seen, f"{path}: {seen['error']}"
    here = pd.read_hdf(path)
    assert seen["index"] == here.index.tolist(), path
    assert seen["index_names"] == list(here.index.names), path
    assert [tuple(c) for c in seen["columns"]] == here.columns.tolist(), path
    assert seen["column_names"] == list(here.columns.names), path
    values = np.array(seen["values"], dtype=np.float64).reshape(here.shape)
    np.testing.assert_array_equal(values, here.to_numpy(np.float64), err_msg=str(path))


def _every_kind(project, predictor, video, folder: Path) -> dict[str, Path]:
    """One file of every kind of table kit writes, each by kit's own code."""
    files = {"labels": next(project.root.glob("labeled-data/*/CollectedData_*.h5")),
             "ground truth": project.ground_truth_file("animal0")}
    labels = make_labels_frame([[[1.5, np.nan], [3.25, 4.0]]], ["labeled-data/vidé/img0.png"],
                               "tester", ["a", "b"])
    write_labels_file(labels, folder / "unicode" / "CollectedData_tester.h5")
    files["labels, unicode path, NaN"] = folder / "unicode" / "CollectedData_tester.h5"
    config = analyze.AnalyzeConfig(train_fraction=0.75, output_dir=str(folder), progress=False,
                                   batch_size=4, save_every=4)

    class Stop(Exception):
        pass

    def stop(done: int) -> None:
        if done >= 8:
            raise Stop

    with pytest.raises(Stop):
        analyze.analyze_video(project, video, config, predictor, on_batch=stop)
    partial = next(folder.glob("*.partial.h5"))
    files["partial analysis"] = partial.rename(folder / "kept.partial.h5")
    result = analyze.analyze_video(project, video, config, predictor)
    files["analysis"] = result.h5
    files["filtered analysis"] = filter_analysis(result.h5, FilterConfig(method="median"))
    evaluation = evaluate(project, train_fraction=0.75, pcutoff=0.1)
    files["evaluation predictions"] = evaluation.folder / "predictions.h5"
    extract_with_predictions(project, video, result.h5, [3, 5])
    files["machine labels"] = project.machine_labels_file("animal0")
    return files


def test_every_kind_of_h5_loads_identically_in_the_other_pandas(
        trained_synthetic, other_pandas_python, tmp_path):
    files = _every_kind(*trained_synthetic, tmp_path)
    report = _read_elsewhere(other_pandas_python, list(files.values()))
    assert report["pandas"].split(".")[0] != str(PANDAS_MAJOR)
    loaded = [kind for kind, path in files.items() if "error" not in report["tables"][str(path)]]
    print(f"{len(loaded)} of {len(files)} kinds load in pandas {report['pandas']}: {loaded}")
    for path in files.values():
        _assert_same_frame(path, report["tables"][str(path)])
    assert json.loads(read_h5_attrs(files["partial analysis"])["kit_settings"])["num_frames"] > 0


def test_rewrite_makes_old_files_readable_keeps_a_backup(other_pandas_python, tmp_path):
    project = make_synthetic_project(tmp_path / "p",
        SyntheticConfig(num_videos=1, num_frames=10, num_labeled=4, image_size=(48, 48)))
    old = write_unstamped_h5(project.labeled_data_dir("animal0") / "CollectedData_old.h5")
    before = read_h5(old)
    bytes_before = old.read_bytes()
    assert needs_rewrite(old) and not needs_rewrite(project.ground_truth_file("animal0"))
    if PANDAS_MAJOR >= 3:  # the defect itself, as DeepLabCut's environment sees it
        seen = _read_elsewhere(other_pandas_python, [old])["tables"][str(old)]
        assert "'NoneType' object has no attribute 'startswith'" in seen["error"]
    assert main(["rewrite-h5", str(project.root)]) == 0
    assert old.with_name(old.name + ".bak").read_bytes() == bytes_before
    pd.testing.assert_frame_equal(pd.read_hdf(old), before)  # now pandas 2 reads it as is
    _assert_same_frame(old, _read_elsewhere(other_pandas_python, [old])["tables"][str(old)])
    assert not rewrite_h5(old) and rewrite_project_h5(project.root) == []


def test_write_h5_empty_frame_and_bad_file(tmp_path):
    empty = make_labels_frame(np.zeros((0, 1, 2)), [], "s", ["p"])
    path = write_h5(empty, tmp_path / "empty.h5")
    assert pd.read_hdf(path).columns.equals(empty.columns) and not needs_rewrite(path)
    (tmp_path / "junk.h5").write_text("not hdf5")
    with pytest.raises(ValueError, match="junk.h5.*cannot be opened as an HDF5 file"):
        needs_rewrite(tmp_path / "junk.h5")


def test_deeplabcut_reads_a_kit_project(trained_synthetic, dlc_python, tmp_path):
    python = dlc_python
    project, predictor, _ = trained_synthetic
    fresh = make_synthetic_project(tmp_path / "p",
        SyntheticConfig(num_videos=1, num_frames=10, num_labeled=6, image_size=(64, 64), seed=1))
    config = analyze.AnalyzeConfig(train_fraction=0.75, output_dir=str(tmp_path / "a"),
                                   progress=False)
    result = analyze.analyze_video(project, project.videos_dir / "animal0.mp4", config, predictor)
    filtered = filter_analysis(result.h5, FilterConfig(method="median"))
    report = run_dlc_check(python, fresh.root, result.h5, filtered)
    assert report["bodyparts"] == fresh.bodyparts
    assert report["check_labels_images"] == 6 and report["training_dataset_rows"] == 6
    assert all(a["equal_to_read_hdf"] and a["rows"] > 0 and a["plots"] > 0
               for a in report["analyses"].values())
    assert len(report["analyses"]) == 2


def test_a_full_disk_during_an_h5_write_keeps_the_previous_file(tmp_path, monkeypatch):
    """HDF5 reports nothing when the disk fills up mid-write (seen on a 3 MB tmpfs): the file
    is read back before it replaces the old one, and the error says how to resume."""
    small = make_labels_frame(np.zeros((1, 1, 2)), ["labeled-data/v/a.png"], "s", ["p"])
    path = write_h5(small, tmp_path / "a.h5")
    before = path.read_bytes()
    close = pd.HDFStore.close

    def close_then_lose_the_end(store):
        written, mode = Path(store._path), store._mode
        close(store)
        if mode == "w":  # what a full disk leaves: a file cut short
            written.write_bytes(written.read_bytes()[: written.stat().st_size // 2])

    monkeypatch.setattr(pd.HDFStore, "close", close_then_lose_the_end)
    monkeypatch.setattr(hdf.shutil, "disk_usage", lambda _: shutil._ntuple_diskusage(1, 1, 0))
    big = make_labels_frame(np.ones((500, 1, 2)), [f"i{n}" for n in range(500)], "s", ["p"])
    with pytest.raises(DiskFullError, match=r"a\.h5.*previous version.*run the same command"):
        write_h5(big, path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["a.h5"]
