"""Bad inputs: each gives a clear error (naming the file and the fix) or a correct result.

The corpus in one place: 71 bad inputs, 59 answered by a clear error and 12 by a
correct result. "here" = this file; the others are tested beside their module.

=====  ==========================================================  ======  ==============================
 #     bad input                                                   answer  tested in
=====  ==========================================================  ======  ==============================
 1     video: not a video (junk bytes)                             error   test_video::test_unopenable_and_empty_videos_name_the_file
 2     video: container with zero frames                           error   test_video::test_unopenable_and_empty_videos_name_the_file
 3     video: path does not exist                                  error   test_video::test_unopenable_and_empty_videos_name_the_file
 4     video: half an mp4 (index lost)                             error   test_video::test_truncated_video_is_flagged
 5     video: half an AVI, FrameReader                             result  test_video::test_truncated_video_is_flagged (.truncated)
 6     video: half an AVI, read_frames past the end                error   test_video::test_truncated_video_is_flagged
 7     video: half an AVI, analyze                                 result  test_analyze::test_truncated_video_is_flagged (warning, truncated: true)
 8     video: junk / empty files given to analyze                  error   test_analyze::test_unreadable_videos_and_missing_model_give_clear_errors
 9     video: FrameReader starting past the truncation             result  here: test_reader_starting_past_the_truncation
 10    video: a folder given as a video                            error   here: test_folder_given_as_video
 11    labels: wrong header (one header row, csv)                  error   test_labels::test_wrong_header_names_the_file
 12    labels: body parts differ from the config                   error   test_labels::test_bodyparts_differing_from_config
 13    labels: duplicate rows (save_labels)                        error   test_labels::test_duplicate_rows_are_refused
 14    labels: truncated .h5                                       error   test_labels::test_truncated_h5_gives_clear_error
 15-23 labels on disk: multi-animal 4-row header, flat columns,    error   here: test_bad_label_file_names_file_and_fix
       coords x/y/z, two scorers, a Series, duplicate rows, rows
       equal up to a backslash, a cell "abc", an empty .h5
 24    labels: .csv cut short in the middle of a row               error   here: test_bad_label_file_names_file_and_fix (was read as NaN)
 25    labels: .csv cut short in the header                        error   here: test_bad_label_file_names_file_and_fix
 26    labels: empty .csv                                          error   here: test_bad_label_file_names_file_and_fix
 27    labels: a likelihood column (machine labels)                result  here: test_likelihood_column_is_dropped
 28    labels: saved rows indexing another video's folder          error   here: test_save_labels_outside_the_video_folder
 29    labels: a row whose image is missing                        error   here: test_label_row_without_image
 30    labels: coordinates outside the image (training)            result  here: test_odd_project_trains (left out, warning names file and rows)
 31    labels: coordinates outside the image (evaluation)          result  here: test_odd_project_evaluates (not counted, warning names rows)
 32    labels: only NaN                                            error   here: test_only_nan_labels_say_so
 33    labels: a training frame's row deleted, then resume         error   here: test_labels_deleted_after_the_split_was_saved
 34    images: grayscale, RGBA, 16-bit, corrupt (load_image)       error   test_data::test_load_image_gray_rgba_16bit_and_odd_paths (+ results)
 35    images: grayscale, RGBA, 16-bit in one project              result  here: test_odd_project_trains
 36    images: mixed sizes in one project (train, evaluate)        result  here: test_odd_project_trains, test_odd_project_evaluates
 37-42 config: no bodyparts, pcutoff "high", pcutoff 1.5, unknown  error   test_project::test_bad_config_names_file_and_key
       network, TrainingFraction [0], duplicate bodyparts
 43    config: no config.yaml                                      error   test_project::test_missing_config_says_how_to_fix
 44-51 config: no Task, no scorer, Task null, bodyparts a string,  error   here: test_bad_config_names_file_and_fix
       a null body part, iteration "one", TrainingFraction 0.95,
       pcutoff true
 52-54 config: an empty file, invalid YAML, a YAML list            error   here: test_unreadable_config_names_file_and_fix
 55    paths with spaces and non-ASCII: create, label, train,      result  here: test_odd_project_* (project, labeled-data folder, images);
       evaluate, analyze                                                   test_crash_safety::test_killed_analysis_resumes_to_the_same_output (video)
 56    empty project (no labeled-data)                             error   here: test_empty_project_says_label_some_frames_first
 57    labeled-data folders without label files                    error   here: test_empty_project_says_label_some_frames_first
 58    training fraction that leaves no test frames                error   here: test_fraction_leaving_no_test_frames
 59    train_fraction 1.0: evaluation without test frames          result  here: test_evaluation_without_test_frames (test_rmse NaN)
 60    p-cutoff outside [0, 1]: evaluate (1.5, -0.1, NaN)          error   here: test_pcutoff_outside_0_1 (+ test_evaluate::test_error_table_by_hand)
 61    p-cutoff outside [0, 1]: analysis filters, drawing,         error   here: test_pcutoff_outside_0_1
       analysis figures
 62    analysis: truncated analysis .h5 (filter, figures)          error   here: test_truncated_analysis_file
 63    analysis: corrupt .partial.h5 and a stale temporary         result  test_crash_safety::test_corrupt_partial_analysis_starts_over (warns)
 64-69 labels vs project (load_labels, LabelStore, Labeler; .h5   error   here: test_label_file_not_fitting_the_project_changes_nothing
       and .csv; files byte-identical after): a multi-animal file          (test_multianimal::test_mixed_up_projects_name_the_file_and_the_fix:
       in a single-animal project, the reverse, an individual, a           save_labels)
       body part, a unique part the config lacks (several animals),
       a body part the config lacks (one animal)
 70    labels: some animals of a frame not labeled                 result  here: test_some_animals_not_labeled_is_normal_data (NaN)
 71    config: a skeleton edge naming an unknown body part (one    error   here: test_skeleton_naming_an_unknown_part_at_load
       animal, several)
=====  ==========================================================  ======  ==============================
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import make_blob_project

from kit.net.data import AugmentConfig
from kit.net.train import TrainConfig, get_split, read_train_log, train
from kit.plots import save_analysis_figures
from kit.project import create_project, load_project
from kit.project.analysis_file import predictions_frame
from kit.project.drawing import PoseStyle
from kit.project.labels import load_labels, make_labels_frame, read_labels_file, save_labels
from kit.project.splits import make_split
from kit.project.video import FrameReader, video_info
from kit.results.evaluate import Evaluation, evaluate
from kit.results.filters import FilterConfig, filter_analysis

ODD_FOLDER = "my project é ü"  # spaces and non-ASCII, all the way down
ODD_VIDEO = "vidé o 1"
TINY = {"train_steps": 2, "batch_size": 2, "save_every": 2, "train_fraction": 0.75, "weights": None,
        "batchnorm_batches": 2, "augment": AugmentConfig(crop_size=(64, 64))}


def _write_png(path: Path, image: np.ndarray) -> None:
    ok, data = cv2.imencode(".png", image)
    assert ok
    path.write_bytes(data.tobytes())


# --- a whole project with odd paths, image formats, sizes and labels outside the image ---


@pytest.fixture(scope="module")
def odd(tmp_path_factory):
    """A project in a folder with spaces and accents: 8 frames of two sizes (64x64, 48x80) as
    RGB, gray, RGBA and 16-bit PNGs; one training and one test label outside the image.
    Trained 2 steps and evaluated; the warnings of both are recorded."""
    root = tmp_path_factory.mktemp("odd") / ODD_FOLDER / "sub ü"
    project = create_project(root, "odd", "ann", ["a", "b"])
    folder = project.labeled_data_dir(ODD_VIDEO)
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    names, points = [], []
    for i in range(8):
        h, w = (64, 64) if i % 2 == 0 else (48, 80)
        pts = rng.uniform((10, 10), (w - 10, h - 10), (2, 2))
        img = np.full((h, w, 3), 30, np.uint8)
        for (x, y), color in zip(pts, [(60, 200, 255), (255, 120, 60)]):
            cv2.circle(img, (round(x), round(y)), 4, color, -1, cv2.LINE_AA)
        kind = ("rgb", "gray", "rgba", "16bit")[i % 4]
        image = {"rgb": img, "gray": cv2.cvtColor(img, cv2.COLOR_BGR2GRAY),
                 "rgba": cv2.cvtColor(img, cv2.COLOR_BGR2BGRA),
                 "16bit": img.astype(np.uint16) * 257}[kind]
        name = f"labeled-data/{ODD_VIDEO}/img{i:02d} {kind}.png"
        _write_png(project.root / name, image)
        names.append(name)
        points.append(pts)
    points = np.array(points)
    split = make_split(names, 0.75, 1, 0)
    out_train, out_test = split.train[0], split.test[0]
    points[names.index(out_train), 1] = (150.0, 20.0)  # right of the image
    points[names.index(out_test), 0] = (-20.0, 5.0)  # left of it
    save_labels(project, ODD_VIDEO, make_labels_frame(points, names, "ann", ["a", "b"]))
    project = load_project(root)
    with warnings.catch_warnings(record=True) as train_warnings:
        warnings.simplefilter("always")
        model_dir = train(project, TrainConfig(**TINY), verbose=0)
    with warnings.catch_warnings(record=True) as eval_warnings:
        warnings.simplefilter("always")
        evaluation = evaluate(project, train_fraction=0.75)
    return {"project": project, "model_dir": model_dir, "names": names, "points": points,
            "out_train": out_train, "out_test": out_test, "evaluation": evaluation,
            "train_warnings": [str(w.message) for w in train_warnings],
            "eval_warnings": [str(w.message) for w in eval_warnings]}


def test_odd_project_trains(odd):
    model_dir = odd["model_dir"]
    assert (model_dir / "model.keras").is_file()
    assert ODD_FOLDER in str(model_dir)
    assert np.isfinite(read_train_log(model_dir)["loss"]).all()
    outside = [m for m in odd["train_warnings"] if "outside their image" in m]
    assert len(outside) == 1, odd["train_warnings"]
    message = outside[0]
    assert f"{ODD_VIDEO}/CollectedData_ann.h5" in message  # the file
    assert odd["out_train"] in message and "'b' (x=150.0, y=20.0)" in message  # the row
    assert "labeler" in message  # the fix
    assert odd["out_test"] not in message  # test frames are not trained on
    # the label file itself is untouched: nothing is lost
    kept = read_labels_file(odd["project"].labels_file(ODD_VIDEO))
    assert kept.loc[odd["out_train"], ("ann", "b", "x")] == 150.0


def test_odd_project_evaluates(odd):
    evaluation = odd["evaluation"]
    table = evaluation.table.set_index(["split", "bodypart"])
    assert set(evaluation.table.split) == {"train", "test"}
    # 2 test frames (one of each size) x 2 parts, minus the label outside the image
    assert table.loc[("test", "all"), "num_labels"] == 3
    assert np.isfinite(evaluation.test_rmse)
    assert evaluation.test_rmse < 100  # the -20 px label would count as a huge error
    outside = [m for m in odd["eval_warnings"] if "outside their" in m]  # train, then test
    assert len(outside) == 2 and all("labeler" in m and ODD_FOLDER in m for m in outside)
    assert odd["out_train"] in outside[0] and odd["out_test"] in outside[1]
    assert (evaluation.folder / "evaluation.csv").is_file()
    predictions = evaluation.predictions  # every frame, of both sizes
    assert sorted(predictions.index) == sorted(odd["names"])
    assert np.isfinite(predictions.to_numpy()).all()


def test_evaluation_without_test_frames(odd):
    evaluation = odd["evaluation"]
    train_only = evaluation.table[evaluation.table.split == "train"]
    no_test = Evaluation(train_only, evaluation.predictions, evaluation.labels, (), 0.6,
                         evaluation.folder, evaluation.bodyparts)
    assert math.isnan(no_test.test_rmse)


# --- labels ----------------------------------------------------------------------------


@pytest.fixture
def project(tmp_path):
    return create_project(tmp_path / "p q", "t", "ann", ["a", "b"])


def _table(scorer="ann", bodyparts=("a", "b"), n=3, video="v"):
    pts = np.arange(n * len(bodyparts) * 2, dtype=float).reshape(n, len(bodyparts), 2) + 0.25
    return make_labels_frame(pts, [f"labeled-data/{video}/img{i}.png" for i in range(n)],
                             scorer, bodyparts)


def _h5(df):
    return lambda path: df.to_hdf(path, key="df_with_missing")


def _csv_text(edit):
    def write(path):
        _table().to_csv(path)
        path.write_text(edit(path.read_text()), encoding="utf-8")
    return write


_FOUR_LEVELS = pd.DataFrame(
    np.zeros((2, 4)), index=["labeled-data/v/a.png", "labeled-data/v/b.png"],
    columns=pd.MultiIndex.from_product([["ann"], ["mouse1"], ["a", "b"], ["x", "y"]]))
_XYZ = pd.DataFrame(np.zeros((1, 3)), index=["labeled-data/v/a.png"],
                    columns=pd.MultiIndex.from_product([["ann"], ["a"], ["x", "y", "z"]]))
_TWO_SCORERS = pd.concat([_table("ann", ("a",)), _table("bob", ("b",))], axis=1)
_DUPLICATED = pd.concat([_table(), _table().iloc[:1]])
_BACKSLASH = _table().rename(index={"labeled-data/v/img1.png": "labeled-data\\v\\img0.png"})


@pytest.mark.parametrize("suffix, write, match", [
    (".h5", _h5(_FOUR_LEVELS), r"is a multi-animal label file, but .*config.yaml is single"),
    (".h5", _h5(pd.DataFrame(np.zeros((2, 2)))), r"wrong header: 1 column level.*three header"),
    (".h5", _h5(_XYZ), r"wrong header: coords \['x', 'y', 'z'\].*three header rows"),
    (".h5", _h5(_TWO_SCORERS), r"mixes several scorers.*three header rows"),
    (".h5", _h5(pd.Series([1.0, 2.0])), r"does not hold a label table"),
    (".h5", _h5(_DUPLICATED), r"labels the same image twice.*Delete the duplicate rows"),
    (".h5", _h5(_BACKSLASH), r"img0.png'\]. Delete the duplicate rows"),
    (".csv", _csv_text(lambda t: t.replace("11.25", "abc")), r"not a number.*Fix that cell"),
    (".h5", lambda path: path.write_bytes(b""), r"truncated or corrupted.*Restore it"),
    (".csv", _csv_text(lambda t: t[:-12]), r"line\(s\) \[6\] have fewer cells.*truncated"),
    (".csv", _csv_text(lambda t: t[:30]), r"truncated or corrupted.*Restore it"),
    (".csv", lambda path: path.write_text(""), r"truncated or corrupted.*Restore it"),
], ids=["four-levels", "flat", "xyz", "two-scorers", "series", "duplicates", "backslash",
        "not-a-number", "empty-h5", "csv-cut-in-a-row", "csv-cut-in-header", "empty-csv"])
def test_bad_label_file_names_file_and_fix(project, suffix, write, match):
    path = project.labels_file("v", suffix)
    path.parent.mkdir(parents=True)
    write(path)
    with pytest.raises(ValueError, match=match) as info:
        load_labels(project)
    assert str(path) in str(info.value)


def test_likelihood_column_is_dropped(project):
    """Machine labels (x, y, likelihood) read as labels: the likelihood is left out."""
    df = _table()
    likelihood = pd.DataFrame(
        0.9, index=df.index, columns=pd.MultiIndex.from_product([["ann"], ["a", "b"],
                                                                 ["likelihood"]]))
    path = project.labels_file("v")
    path.parent.mkdir(parents=True)
    pd.concat([df, likelihood], axis=1).to_hdf(path, key="df_with_missing")
    pd.testing.assert_frame_equal(load_labels(project), df)


def test_save_labels_outside_the_video_folder(project):
    with pytest.raises(ValueError, match=r"must index images under labeled-data/w/"):
        save_labels(project, "w", _table(video="v"))


def test_label_row_without_image(tmp_path):
    project = make_blob_project(tmp_path / "p", num_frames=4)
    for image in project.labeled_data_dir("v").glob("*.png"):
        image.unlink()
    with pytest.raises(FileNotFoundError, match=r"img000\d.png.*delete its row from the label"):
        train(project, TrainConfig(**TINY), verbose=0)


def test_labels_deleted_after_the_split_was_saved(tmp_path):
    """An interrupted run resumed after a training frame's labels were deleted."""
    project = make_blob_project(tmp_path / "p", num_frames=4)
    config = TrainConfig(**TINY)
    split = get_split(project, config, load_labels(project))
    labels = read_labels_file(project.labels_file("v"))
    save_labels(project, "v", labels.drop(index=split.train[0]))
    with pytest.raises(ValueError, match=r"split.json trains on 1 frame.*Restore their labels"):
        train(project, config, verbose=0)


def test_only_nan_labels_say_so(tmp_path):
    project = make_blob_project(tmp_path / "p", num_frames=4, missing_rate=1.0)
    with pytest.raises(ValueError, match=r"None of the \d training frames has a usable label.*CollectedData_tester.h5.*Label some"):
        train(project, TrainConfig(**TINY), verbose=0)


def test_empty_project_says_label_some_frames_first(tmp_path):
    project = create_project(tmp_path / "p", "t", "ann", ["a"])
    with pytest.raises(ValueError, match="label some frames first") as info:
        train(project, TrainConfig(**TINY), verbose=0)
    assert str(project.labeled_data_root) in str(info.value)
    (project.labeled_data_dir("v")).mkdir()  # frames extracted, none labeled yet
    _write_png(project.labeled_data_dir("v") / "img0.png", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match="label some frames first"):
        train(project, TrainConfig(**TINY), verbose=0)


def test_fraction_leaving_no_test_frames(tmp_path):
    project = make_blob_project(tmp_path / "p", num_frames=3)
    with pytest.raises(ValueError, match=r"0 test frames.*choose a fraction") as info:
        train(project, TrainConfig(**{**TINY, "train_fraction": 0.9}), verbose=0)
    assert str(project.labeled_data_root) in str(info.value)


# --- config.yaml ---------------------------------------------------------------------


@pytest.mark.parametrize("edit, match", [
    (lambda c: c.pop("Task"), r"no 'Task' key. Add a task name"),
    (lambda c: c.pop("scorer"), r"no 'scorer' key. Add the labeler's name"),
    (lambda c: c.update(Task=None), r"no 'Task' key"),
    (lambda c: c.update(bodyparts="a, b"), r"'bodyparts' must be a list of body part names"),
    (lambda c: c.update(bodyparts=["a", None]), r"non-empty list of names.*None"),
    (lambda c: c.update(iteration="one"), r"'iteration' has the wrong type.*e.g. iteration: 0"),
    (lambda c: c.update(TrainingFraction=0.95), r"'TrainingFraction' has the wrong type.*list"),
    (lambda c: c.update(pcutoff=True), r"'pcutoff' has the wrong type.*e.g. pcutoff: 0.6"),
], ids=["no-task", "no-scorer", "task-null", "bodyparts-string", "bodypart-null",
        "iteration-string", "fraction-number", "pcutoff-bool"])
def test_bad_config_names_file_and_fix(project, edit, match):
    config = yaml.safe_load(project.config_path.read_text())
    edit(config)
    project.config_path.write_text(yaml.safe_dump(config))
    with pytest.raises(ValueError, match=match) as info:
        load_project(project.root)
    assert str(project.config_path) in str(info.value)


@pytest.mark.parametrize("text, match", [
    ("", r"is not a project configuration.*create_project"),
    ("Task: t\nbodyparts: [a, b\n", r"(?s)is not valid YAML.*Fix the line"),
    ("- Task\n- scorer\n", r"is not a project configuration.*Received: list"),
], ids=["empty", "invalid-yaml", "a-list"])
def test_unreadable_config_names_file_and_fix(project, text, match):
    project.config_path.write_text(text)
    with pytest.raises(ValueError, match=match) as info:
        load_project(project.root)
    assert str(project.config_path) in str(info.value)


# --- videos, p-cutoff, analysis files ---------------------------------------------------


def test_reader_starting_past_the_truncation(tmp_path):
    full = tmp_path / "full é.avi"
    writer = cv2.VideoWriter(str(full), cv2.VideoWriter_fourcc(*"MJPG"), 25, (32, 32))
    rng = np.random.default_rng(0)
    for _ in range(20):
        writer.write(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    writer.release()
    cut = tmp_path / "cut é.avi"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 3])
    with FrameReader(cut, start=18) as reader:
        assert list(reader) == []
    assert reader.truncated and reader.num_read == 0


def test_folder_given_as_video(tmp_path):
    with pytest.raises(ValueError, match=r"No video at .*videos dir.*Check the path"):
        video_info(tmp_path / "videos dir")


def test_pcutoff_outside_0_1(blob_project, tmp_path):
    for bad in (1.5, -0.1, float("nan")):
        with pytest.raises(ValueError, match=r"pcutoff must be in \[0, 1\]"):
            evaluate(blob_project, train_fraction=0.75, pcutoff=bad)
        with pytest.raises(ValueError, match=r"pcutoff"):
            FilterConfig(pcutoff=bad)
        with pytest.raises(ValueError, match=r"pcutoff is a likelihood, in \[0, 1\].*pcutoff="):
            PoseStyle(pcutoff=bad)
        with pytest.raises(ValueError, match=r"pcutoff is a likelihood.*Pass e.g. the config's"):
            save_analysis_figures(tmp_path / "a.h5", pcutoff=bad)


def test_truncated_analysis_file(tmp_path):
    

    h5 = tmp_path / "clipDLC_resnet50_x.h5"
    df = predictions_frame(np.random.default_rng(0).random((30, 1, 2, 3)), range(30), "DLC", ["a", "b"])
    df.to_hdf(h5, key="df_with_missing", format="table")
    h5.write_bytes(h5.read_bytes()[: h5.stat().st_size // 2])
    with pytest.raises(ValueError, match=r"clipDLC_resnet50_x.h5 cannot be read.*analyze the"):
        filter_analysis(h5, FilterConfig())
    with pytest.raises(ValueError, match=r"clipDLC_resnet50_x.h5 cannot be read.*analyze the"):
        save_analysis_figures(h5, pcutoff=0.6)


# --- several animals: mixed-up layouts, unknown individuals and body parts, skeleton ----


def _files(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` and its bytes: nothing may change when a call fails."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def _pair(tmp_path, unique=("feeder",)):
    return create_project(tmp_path / "pair", "t", "ann", ["a", "b"], individuals=["m1", "m2"],
                          uniquebodyparts=list(unique), skeleton=[["a", "b"]])


def _four_levels(pairs, n=2):
    columns = pd.MultiIndex.from_tuples([("ann", i, b, c) for i, b in pairs for c in "xy"],
                                         names=["scorer", "individuals", "bodyparts", "coords"])
    return pd.DataFrame(np.arange(n * len(columns), dtype=float).reshape(n, -1) + 0.5,
                        index=[f"labeled-data/v/img{i}.png" for i in range(n)], columns=columns)


_MA_PAIRS = [("m1", "a"), ("m1", "b"), ("m2", "a"), ("m2", "b"), ("single", "feeder")]


def _label_opening_calls(project):
    """The ways a stage reads a label file: all must refuse it and leave the disk as it was."""
    from kit.labeling.label_store import LabelStore
    from kit.labeling.labeler import Labeler
    return [lambda: load_labels(project), lambda: LabelStore(project, "v", []),
            lambda: Labeler(project, video="v")]


@pytest.mark.parametrize("kind, table, match", [
    ("single", _four_levels([("m1", "a"), ("m1", "b")]), r"is a multi-animal label file, but .*config.yaml is single.*"
                             r"Open it in a project of its kind"),
    ("pair", _table(), r"is a single-animal label file, but .*config.yaml is multi.*"
                       r"Open it in a project of its kind"),
    ("pair", _four_levels([*_MA_PAIRS, ("m3", "a"), ("m3", "b")]),
     r"individuals not in the config: \['m3'\]; body parts not in the config: \[\].*"
     r"Add them to the config, or relabel"),
    ("pair", _four_levels([*_MA_PAIRS, ("m1", "c")]),
     r"individuals not in the config: \[\]; body parts not in the config: \['c'\].*"
     r"Add them to the config"),
    ("pair", _four_levels([*_MA_PAIRS[:4], ("single", "lamp")]),
     r"body parts not in the config: \['lamp'\]"),
    ("single", _table(bodyparts=("a", "b", "c")),
     r"not in the config: \['c'\].*Make the config's bodyparts list match"),
], ids=["multi-in-single", "single-in-multi", "unknown-individual", "unknown-part",
        "unknown-unique-part", "unknown-part-single"])
def test_label_file_not_fitting_the_project_changes_nothing(tmp_path, kind, table, match):
    project = _pair(tmp_path) if kind == "pair" else create_project(
        tmp_path / "single", "t", "ann", ["a", "b"])
    folder = project.labeled_data_dir("v")
    folder.mkdir(parents=True)
    _write_png(folder / "img0.png", np.zeros((8, 8, 3), np.uint8))
    for suffix in (".h5", ".csv"):
        path = project.labels_file("v", suffix)
        table.to_hdf(path, key="df_with_missing") if suffix == ".h5" else table.to_csv(path)
        before = _files(project.root)
        for call in _label_opening_calls(project):
            with pytest.raises(ValueError, match=match) as info:
                call()
            assert str(path) in str(info.value)
            assert _files(project.root) == before  # no lock, no backup, no rewrite
        path.unlink()


def test_some_animals_not_labeled_is_normal_data(tmp_path):
    project = _pair(tmp_path)
    project.labeled_data_dir("v").mkdir(parents=True)
    table = _four_levels([("m1", "a"), ("m1", "b")])  # m2 and the feeder never labeled
    table.to_hdf(project.labels_file("v"), key="df_with_missing")
    labels = load_labels(project)
    assert labels.columns.tolist() == project.layout.columns("ann").tolist()
    assert labels.loc[:, (slice(None), "m1")].notna().all().all()
    assert labels.loc[:, (slice(None), ["m2", "single"])].isna().all().all()


@pytest.mark.parametrize("kind", ["single", "pair"])
def test_skeleton_naming_an_unknown_part_at_load(tmp_path, kind):
    project = _pair(tmp_path) if kind == "pair" else create_project(
        tmp_path / "single", "t", "ann", ["a", "b"], skeleton=[["a", "b"]])
    text = project.config_path.read_text().replace("- - a\n  - b", "- - a\n  - nose")
    project.config_path.write_text(text)
    before = _files(project.root)
    with pytest.raises(ValueError, match=r"skeleton names body parts \['nose'\].*Fix the "
                                         r"skeleton's pairs") as info:
        load_project(project.root)
    assert str(project.config_path) in str(info.value) and _files(project.root) == before
