"""The labeler driven through its event handlers, checked on disk after every step.

Also: the lock between kernels, merging a concurrent change, check-labels
drawings, frame extraction (kit function and notebook), the labeling notebook
headless, and a label file that survives SIGKILL while being saved.
"""

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
import warnings

import matplotlib
import numpy as np
import pandas as pd
import pytest
from conftest import REPO, write_unstamped_h5
from matplotlib.backend_bases import KeyEvent, MouseEvent

from kit.experiments.runner import run_notebook
from kit.experiments.synthetic import SyntheticConfig, make_synthetic_project
from kit.labeling.check_labels import (
    draw_labeled_frame,
    draw_labeled_frames,
    labeled_frames_grid,
)
from kit.labeling.label_store import LOCK_NAME, LabelsLockedError, LabelStore
from kit.labeling.labeler import Labeler
from kit.project import create_project, load_project
from kit.project.extract import (
    ExtractConfig,
    add_videos,
    extract_for_labeling,
    open_or_create_project,
)
from kit.project.frame_picking import extract_frames
from kit.project.hdf import needs_rewrite
from kit.project.labels import (
    labels_to_array,
    load_labels,
    make_labels_frame,
    read_labels_file,
    save_labels,
)

VIDEO = "animal0"
NOTEBOOKS = REPO / "notebooks"


@pytest.fixture(autouse=True, scope="module")
def agg_backend():
    matplotlib.use("Agg")  # the widget works without a browser; tests drive its handlers


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """Synthetic 64x64 project: frames 1, 3, 6, 8 labeled; frames 2, 5, 9 extracted, unlabeled."""
    root = tmp_path_factory.mktemp("template") / "p"
    project = make_synthetic_project(root,
        SyntheticConfig(image_size=(64, 64), num_frames=10, num_labeled=4))
    extract_frames(project, project.videos_dir / f"{VIDEO}.mp4", ExtractConfig(num_frames=3))
    return root


@pytest.fixture
def project(template, tmp_path):
    shutil.copytree(template, tmp_path / "p")
    return load_project(tmp_path / "p")


@pytest.fixture
def open_labeler():
    made = []

    def make(project, **kwargs):
        made.append(Labeler(project, **kwargs))
        return made[-1]

    yield make
    for labeler in made:
        labeler.close()


def on_disk(project, name=None):
    df = read_labels_file(project.labels_file(VIDEO))
    return df if name is None else df.loc[name].to_numpy().reshape(-1, 2)


def test_opens_at_first_unlabeled_frame_and_click_places_and_advances(project, open_labeler):
    before = on_disk(project)
    labeler = open_labeler(project)
    assert labeler.video == VIDEO and labeler.name == f"labeled-data/{VIDEO}/img02.png"
    assert len(labeler.images) == 7 and labeler.part == 0
    labeler.on_click(10.25, 20.5)
    points = on_disk(project, labeler.name)
    assert points[0].tolist() == [10.25, 20.5] and np.isnan(points[1:]).all()
    assert labeler.part == 1
    labeler.on_click(30.0, 31.0)
    assert on_disk(project, labeler.name)[1].tolist() == [30.0, 31.0]
    after = on_disk(project)
    pd.testing.assert_frame_equal(after.loc[before.index], before)  # other frames kept
    assert set(after.columns.get_level_values("scorer")) == {"synthetic"}
    assert project.labels_file(VIDEO).with_name("CollectedData_synthetic.h5.bak").is_file()


def test_first_label_of_a_new_project(tmp_path, template, open_labeler):
    project = open_or_create_project(tmp_path / "new", "t", "me", ["a", "b"])
    extract_for_labeling(
        add_videos(project, [template / "videos/animal0.mp4"]),
        [template / "videos/animal0.mp4"],
        ExtractConfig(num_frames=2),
    )
    labeler = open_labeler(project)
    labeler.on_click(1.5, 2.5)
    saved = on_disk(project)
    assert saved.index.tolist() == [labeler.name]  # only frames with labels are written
    assert (
        saved.to_numpy()[0, :2].tolist() == [1.5, 2.5] and np.isnan(saved.to_numpy()[0, 2:]).all()
    )


def test_drag_moves_a_point(project, open_labeler):
    labeler = open_labeler(project)
    labeler.on_click(10.0, 10.0)
    labeler.on_press(12.0, 11.0)  # within the pick radius of (10, 10): grabs snout
    assert labeler.part == 0
    labeler.on_motion(20.0, 20.0)
    assert on_disk(project, labeler.name)[0].tolist() == [10.0, 10.0]  # saved on release only
    labeler.on_release(25.5, 26.5)
    assert on_disk(project, labeler.name)[0].tolist() == [25.5, 26.5]
    labeler.on_press(50.0, 50.0)  # far from any point: places the selected part
    labeler.on_release(50.0, 50.0)
    assert on_disk(project, labeler.name)[0].tolist() == [50.0, 50.0]


def test_delete_by_key_button_and_right_click(project, open_labeler):
    labeler = open_labeler(project)
    for x in (10.0, 20.0, 30.0):
        labeler.on_click(x, x)
    labeler.select_part(0)
    labeler.on_key("delete")
    assert np.isnan(on_disk(project, labeler.name)[0]).all()
    labeler.on_key("2")
    labeler.on_key("backspace")
    assert np.isnan(on_disk(project, labeler.name)[1]).all()
    labeler.on_click(31.0, 29.0, button=3)  # right click near rightear
    points = on_disk(project, labeler.name)
    assert np.isnan(points).all() and labeler.name in on_disk(project).index


def test_navigation_keys_and_next_unlabeled(project, open_labeler):
    labeler = open_labeler(project)
    names = [n.rsplit("/", 1)[-1] for n in labeler.images]
    assert names == [
        "img01.png",
        "img02.png",
        "img03.png",
        "img05.png",
        "img06.png",
        "img08.png",
        "img09.png",
    ]
    assert labeler.frame == 1
    labeler.on_key("n")
    assert labeler.frame == 2 and labeler.part == 0
    labeler.on_key("right")
    labeler.on_key("left")
    labeler.on_key("p")
    assert labeler.frame == 1
    labeler.on_key("p")
    labeler.on_key("p")
    assert labeler.frame == 0  # stays at the first frame
    labeler.on_key("n")
    labeler.on_click(5.0, 5.0)  # img02 is now labeled
    labeler.on_key("u")
    assert labeler.name.endswith("img05.png")
    labeler.on_key("3")
    assert labeler.part == 2
    labeler.on_key("down")
    labeler.on_key("down")
    assert labeler.part == 0
    labeler.on_key("up")
    assert labeler.part == 3
    labeler.on_key("x")  # unbound: nothing happens
    assert labeler.part == 3 and "img05" in labeler.status.value


def test_reopening_resumes_at_first_unlabeled_frame(project, open_labeler):
    labeler = open_labeler(project)
    labeler.on_click(5.0, 6.0)
    labeler.close()
    again = open_labeler(project)
    assert again.name.endswith("img05.png")
    assert again.store.points(f"labeled-data/{VIDEO}/img02.png")[0].tolist() == [5.0, 6.0]


def test_matplotlib_events_are_forwarded_in_image_pixels(project, open_labeler):
    labeler = open_labeler(project)
    canvas, start = labeler.fig.canvas, labeler.frame
    assert canvas.get_width_height() == (64, 64)  # one figure pixel per image pixel
    # Display coordinates count from the bottom left; image pixel centres sit at integers.
    canvas.callbacks.process(
        "button_press_event", MouseEvent("button_press_event", canvas, 20, 64 - 10, button=1)
    )
    assert on_disk(project, labeler.name)[0] == pytest.approx([19.5, 9.5])
    canvas.callbacks.process("key_press_event", KeyEvent("key_press_event", canvas, "n"))
    canvas.callbacks.process("key_press_event", KeyEvent("key_press_event", canvas, "p"))
    assert labeler.frame == start  # "p" is ours, not matplotlib's pan
    canvas.callbacks.process("scroll_event", MouseEvent("scroll_event", canvas, 32, 32, step=1))
    assert np.diff(labeler.ax.get_xlim())[0] == pytest.approx(64 / 1.25)


def test_suggestions_are_drawn_accepted_and_dragged(project, open_labeler):
    names = [f"labeled-data/{VIDEO}/img02.png"]
    values = np.array([[[10, 10, 0.9], [40, 40, 0.2], [20, 50, 0.95], [50, 20, 0.99]]], float)
    columns = pd.MultiIndex.from_product([["net"], project.bodyparts, ["x", "y", "likelihood"]])
    suggestions = pd.DataFrame(values.reshape(1, -1), index=names, columns=columns)
    labeler = open_labeler(project, suggestions=suggestions)
    assert labeler.view.doubtful.get_xydata().tolist() == [[40.0, 40.0]]  # below pcutoff 0.6
    labeler.on_press(51.0, 21.0)  # click on the tailbase suggestion accepts it
    labeler.on_release(51.0, 21.0)
    assert on_disk(project, names[0])[3].tolist() == [50.0, 20.0]
    labeler.on_press(20.0, 49.0)  # drag the rightear suggestion elsewhere
    labeler.on_motion(22.0, 47.0)
    labeler.on_release(23.0, 46.0)
    assert on_disk(project, names[0])[2].tolist() == [23.0, 46.0]
    labeler.on_key("a")  # accepts snout (0.9), not leftear (0.2)
    points = on_disk(project, names[0])
    assert points[0].tolist() == [10.0, 10.0] and np.isnan(points[1]).all()


def test_lock_live_holder_read_only_or_refused(project, open_labeler):
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock = project.labeled_data_dir(VIDEO) / LOCK_NAME
        lock.write_text(
            json.dumps(
                {
                    "pid": holder.pid,
                    "host": socket.gethostname(),
                    "scorer": "other",
                    "time": "now",
                    "token": "x",
                }
            )
        )
        with pytest.raises(LabelsLockedError, match=f"held by process {holder.pid}"):
            Labeler(project, on_locked="raise")
        with pytest.warns(UserWarning, match="Read-only"):
            labeler = open_labeler(project)
        before = project.labels_file(VIDEO).read_bytes()
        labeler.on_click(10.0, 10.0)
        assert labeler.read_only and project.labels_file(VIDEO).read_bytes() == before
        assert "Read-only" in labeler.status.value
        swap = pd.DataFrame([{"image": labeler.images[1], "individual": "single animal",
                              "left": "leftear", "right": "rightear"}])
        with pytest.raises(LabelsLockedError, match="nothing swapped"):
            labeler.swap_sides(swap)
        assert project.labels_file(VIDEO).read_bytes() == before
        labeler.close()
        assert json.loads(lock.read_text())["pid"] == holder.pid  # not ours to remove
    finally:
        holder.kill()
        holder.wait()


def test_lock_stale_taken_over_same_kernel_handed_on_released(project, open_labeler):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock = project.labeled_data_dir(VIDEO) / LOCK_NAME
    lock.write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname(), "token": "x"}))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        first = open_labeler(project)
    assert not first.read_only and json.loads(lock.read_text())["pid"] == os.getpid()
    second = open_labeler(project)  # the cell run again in the same kernel
    assert not second.read_only and first.read_only
    second.close()
    assert not lock.exists()


def test_concurrent_change_is_merged_with_a_warning(project, open_labeler):
    labeler = open_labeler(project)
    other = on_disk(project)  # another kernel edits frame img01 meanwhile
    other.loc[f"labeled-data/{VIDEO}/img01.png"] = 7.0
    save_labels(project, VIDEO, other)
    with pytest.warns(UserWarning, match="changed by someone else"):
        labeler.on_click(3.0, 4.0)
    assert on_disk(project, f"labeled-data/{VIDEO}/img01.png").tolist() == [[7.0, 7.0]] * 4
    assert on_disk(project, labeler.name)[0].tolist() == [3.0, 4.0]
    assert "merged" in labeler.status.value
    labeler.on_click(5.0, 6.0)  # in sync again: no warning
    assert "merged" not in labeler.status.value


def test_check_labels_draws_one_png_per_labeled_frame(project, open_labeler):
    labeler = open_labeler(project)
    labeler.on_click(10.0, 10.0)
    paths = draw_labeled_frames(project)
    folder = project.check_labels_dir(VIDEO)
    assert sorted(p.name for p in folder.glob("*.png")) == [
        "img01.png",
        "img02.png",
        "img03.png",
        "img06.png",
        "img08.png",
    ]
    assert len(paths) == 5 and all(p.parent == folder for p in paths)
    assert len(labeled_frames_grid(paths).axes) == 8


def test_extract_adds_frames_and_keeps_labeled_ones(tmp_path, template):
    video = template / "videos" / f"{VIDEO}.mp4"
    project = open_or_create_project(tmp_path / "new", "t", "me", ["a", "b"])
    project = add_videos(project, [video])
    first = extract_for_labeling(project, [video], ExtractConfig(num_frames=3))
    names = [p.name for p in first[VIDEO]]
    labels = make_labels_frame(
        np.ones((3, 2, 2)), [f"labeled-data/{VIDEO}/{n}" for n in names], "me", ["a", "b"]
    )
    save_labels(project, VIDEO, labels)
    stamps = {p: p.stat().st_mtime_ns for p in first[VIDEO]}
    project = add_videos(open_or_create_project(tmp_path / "new", "t", "me", ["a", "b"]), [video])
    second = extract_for_labeling(project, [video], ExtractConfig(num_frames=2))
    assert len(second[VIDEO]) == 2 and not set(second[VIDEO]) & set(first[VIDEO])
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items())
    pd.testing.assert_frame_equal(read_labels_file(project.labels_file(VIDEO)), labels)
    assert list(project.config["video_sets"]) == [str(project.videos_dir / video.name)]
    with pytest.raises(ValueError, match="lists bodyparts"):
        open_or_create_project(tmp_path / "new", "t", "me", ["a", "c"])
    with pytest.raises(ValueError, match="Unknown method"):
        ExtractConfig(method="random")


def test_create_project_notebook_twice(tmp_path, template):
    params = {
        "project_dir": str(tmp_path / "nb"),
        "videos": [str(template / "videos/animal0.mp4")],
        "bodyparts": ["a", "b"],
        "numframes2pick": 2,
    }
    run_notebook(
        NOTEBOOKS / "01_create_project.ipynb",
        params,
        runs_dir=tmp_path / "runs",
        log_to_console=False,
    )
    project = load_project(tmp_path / "nb")
    assert len(list(project.labeled_data_dir(VIDEO).glob("*.png"))) == 2
    old = write_unstamped_h5(project.labeled_data_dir(VIDEO) / "old.h5")
    run_notebook(
        NOTEBOOKS / "01_create_project.ipynb",
        {**params, "method": "kmeans"},
        runs_dir=tmp_path / "runs",
        log_to_console=False,
    )
    assert len(list(project.labeled_data_dir(VIDEO).glob("*.png"))) == 4
    assert not needs_rewrite(old) and old.with_name("old.h5.bak").is_file()


def test_label_notebook_runs_headless(project, tmp_path):
    result = run_notebook(
        NOTEBOOKS / "02_label_frames.ipynb",
        {"project_dir": str(project.root)},
        runs_dir=tmp_path / "runs",
        log_to_console=False,
    )
    text = result.notebook.read_text()
    assert "4 labeled frames drawn into" in text
    assert "\"0 labeled frame(s) with a left and right body part the other way round" in text
    assert len(list(project.check_labels_dir(VIDEO).glob("*.png"))) == 4


def test_label_notebook_puts_swapped_ears_back(project, tmp_path):
    labels = load_labels(project)  # the four labeled frames, and the three unlabeled given
    names = sorted(str(p.relative_to(project.root)).replace("\\", "/")  # the first's labels
                   for p in project.labeled_data_dir(VIDEO).glob("*.png"))
    points = labels_to_array(labels, project.bodyparts)
    points = np.concatenate([points, np.repeat(points[:1], len(names) - len(points), 0)])
    names = list(labels.index) + [n for n in names if n not in labels.index]
    points[2, [1, 2]] = points[2, [2, 1]]  # the third frame's ears swapped
    save_labels(project, VIDEO, make_labels_frame(points, names, project.scorer,
                                                  project.bodyparts))
    result = run_notebook(NOTEBOOKS / "02_label_frames.ipynb",
                          {"project_dir": str(project.root), "swap_listed_sides": True},
                          runs_dir=tmp_path / "runs", log_to_console=False)
    text = result.notebook.read_text()
    assert "\"1 labeled frame(s) with a left and right body part the other way round" in text
    assert "\"put back in 1 frame(s), 0 left" in text
    after = labels_to_array(load_labels(project).loc[names], project.bodyparts)
    points[2, [1, 2]] = points[2, [2, 1]]
    assert after == pytest.approx(points)
    assert project.labels_file(VIDEO).with_name(f"CollectedData_{project.scorer}.h5.bak").is_file()


CHILD = textwrap.dedent("""
    import sys
    import numpy as np
    from kit.project.labels import make_labels_frame, save_labels
    from kit.project import create_project, load_project

    project = load_project(sys.argv[1])
    names = [f"labeled-data/v/img{i:02d}.png" for i in range(20)]
    version = 0
    while True:
        points = np.full((20, len(project.bodyparts), 2), float(version))
        save_labels(project, "v", make_labels_frame(points, names, project.scorer,
                                                    project.bodyparts))
        if version == 0:
            print("saved", flush=True)
        version += 1
""")


def test_sigkill_while_saving_never_leaves_a_broken_file(project):
    rng = random.Random(0)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for _ in range(3):
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(project.root)],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert child.stdout.readline().strip() == "saved"
        child.stdout.close()
        time.sleep(rng.uniform(0, 0.3))
        os.kill(child.pid, signal.SIGKILL)  # at a random moment of the save loop
        child.wait()
        for suffix in (".h5", ".csv"):
            values = np.unique(read_labels_file(project.labels_file("v", suffix)).to_numpy())
            assert len(values) == 1 and values[0] == int(values[0])  # exactly one version
    LabelStore(project, "v", [])  # opening clears the temporary files of dead writers
    assert not [p for p in project.labeled_data_dir("v").iterdir() if p.name.startswith(".tmp")]


def test_lock_liveness_check_never_signals_a_process_on_windows(monkeypatch):
    """On Windows os.kill(pid, 0) is CTRL_C_EVENT: it would interrupt the other labeler."""
    from kit.labeling import label_store

    def no_kill(*args):
        raise AssertionError(f"os.kill{args} on Windows")

    asked = []
    monkeypatch.setattr(label_store.os, "kill", no_kill)
    monkeypatch.setattr(label_store, "_pid_alive_windows", lambda pid: asked.append(pid) or True)
    monkeypatch.setattr(label_store.sys, "platform", "win32")
    assert label_store._pid_alive(1234) and asked == [1234]
    monkeypatch.undo()
    assert label_store._pid_alive(os.getpid())  # POSIX: this process runs


# --- several animals: individuals m1, m2 (snout, tail) and the unique part feeder (single) ---


@pytest.fixture(scope="module")
def ma_template(template, tmp_path_factory):
    """A multi-animal project over the synthetic video: 4 extracted frames, none labeled."""
    root = tmp_path_factory.mktemp("ma") / "pair"
    video = template / "videos" / f"{VIDEO}.mp4"
    project = create_project(root, "pair", "me", ["snout", "tail"], videos=[video],
                             individuals=["m1", "m2"], uniquebodyparts=["feeder"],
                             skeleton=[["snout", "tail"]])
    extract_for_labeling(project, [video], ExtractConfig(num_frames=4))
    return root


@pytest.fixture
def ma_project(ma_template, tmp_path):
    shutil.copytree(ma_template, tmp_path / "pair")
    return load_project(tmp_path / "pair")


def ma_on_disk(project, name):
    """(3, 3, 2): rows m1, m2, single; body parts snout, tail, feeder; NaN where missing."""
    df = read_labels_file(project.labels_file(VIDEO))
    assert df.columns.names == ["scorer", "individuals", "bodyparts", "coords"]
    return labels_to_array(df.loc[[name]], project.bodyparts, project.layout)[0]


def test_multianimal_choose_individual_click_and_save_four_levels(ma_project, open_labeler):
    labeler = open_labeler(ma_project)
    assert labeler.individuals == ["m1", "m2", "single"]
    assert (labeler.individual, labeler.part) == (0, 0)
    labeler.on_click(10.0, 11.0)  # m1 snout, then m1 tail is selected
    assert (labeler.individual, labeler.part) == (0, 1)
    labeler.on_click(12.0, 13.0)  # m1 tail; m1 is done: m2 snout comes next
    assert (labeler.individual, labeler.part) == (1, 0)
    labeler.on_key("i")  # m2 -> single: it lacks snout, so its first unplaced part, feeder
    assert (labeler.individual, labeler.part) == (2, 2)
    labeler.on_key("I")  # m2 has no feeder: its first unplaced part, snout
    labeler.on_key("I")  # m1 has snout: kept
    assert labeler.individual == 0 and labeler.part == 0
    labeler.panel.groups[1][1].click()  # the individual selector's m2 button
    assert (labeler.individual, labeler.part) == (1, 0)
    labeler.on_key("2")
    labeler.on_click(40.0, 41.0)  # m2 tail
    labeler.on_key("3")  # feeder belongs to single only
    assert (labeler.individual, labeler.part) == (2, 2)
    labeler.on_click(60.0, 5.0)
    points = ma_on_disk(ma_project, labeler.name)
    assert points[0, :2].tolist() == [[10.0, 11.0], [12.0, 13.0]]
    assert np.isnan(points[1, 0]).all() and points[1, 1].tolist() == [40.0, 41.0]
    assert points[2, 2].tolist() == [60.0, 5.0] and np.isnan(points[:2, 2]).all()
    df = read_labels_file(ma_project.labels_file(VIDEO))  # exactly DeepLabCut's columns
    assert df.columns.tolist() == ma_project.layout.columns("me").tolist()
    assert df.index.tolist() == [labeler.name]  # only frames with labels are written
    assert ma_project.labels_file(VIDEO).with_name("CollectedData_me.h5.bak").is_file()
    assert (labeler.individual, labeler.part) == (1, 0)  # wrapped round to m2 snout
    assert "selected: <b>m2 snout</b>" in labeler.status.value
    assert labeler.panel.groups[1][1].layout.border and not labeler.panel.groups[1][0].layout.border
    labeler.on_key("3")
    labeler.on_key("down")  # single has one part: stays on feeder
    assert (labeler.individual, labeler.part) == (2, 2)


def test_multianimal_drag_and_delete_any_individual(ma_project, open_labeler):
    labeler = open_labeler(ma_project)
    labeler.on_click(10.0, 10.0)  # m1 snout; m1 tail selected
    labeler.on_key("i")  # m2, keeping the body part: m2 tail
    labeler.on_click(40.0, 40.0)
    labeler.on_key("I")
    labeler.on_press(41.0, 41.0)  # m2's point: grabbed, m2 tail selected
    assert (labeler.individual, labeler.part) == (1, 1)
    labeler.on_motion(45.0, 45.0)
    labeler.on_release(46.0, 47.0)
    points = ma_on_disk(ma_project, labeler.name)
    assert points[1, 1].tolist() == [46.0, 47.0] and points[0, 0].tolist() == [10.0, 10.0]
    labeler.on_click(11.0, 10.0, button=3)  # right click on m1 snout
    points = ma_on_disk(ma_project, labeler.name)
    assert np.isnan(points[0]).all() and points[1, 1].tolist() == [46.0, 47.0]


def test_multianimal_copy_from_previous_labeled_frame(ma_project, open_labeler):
    labeler = open_labeler(ma_project)
    first = labeler.name
    for x in (10.0, 12.0, 40.0, 42.0, 60.0):  # m1 snout, tail, m2 snout, tail, feeder
        labeler.on_click(x, x)
    labeler.next_frame()
    labeler.on_key("c")  # selected m1: copies m1 only
    points = ma_on_disk(ma_project, labeler.name)
    assert points[0, :2].tolist() == [[10.0, 10.0], [12.0, 12.0]]
    assert np.isnan(points[1:]).all() and "copied 2 point(s) of m1" in labeler.status.value
    assert (labeler.individual, labeler.part) == (1, 0)  # the next unplaced point
    labeler.on_click(30.0, 31.0)  # m2 snout placed by hand is kept by the copy
    labeler.next_frame()
    labeler.previous_frame()
    labeler.on_key("C")  # every individual, from the previous labeled frame
    points = ma_on_disk(ma_project, labeler.name)
    assert points[1, :2].tolist() == [[30.0, 31.0], [42.0, 42.0]]
    assert points[2, 2].tolist() == [60.0, 60.0]
    assert ma_on_disk(ma_project, first)[0, 0].tolist() == [10.0, 10.0]  # source untouched
    labeler.go_to(0)
    labeler.on_key("c")  # nothing earlier
    assert "nothing to copy" in labeler.status.value


def test_multianimal_colours_by_individual_markers_by_part(ma_project, project, open_labeler):
    labeler = open_labeler(ma_project)
    colors = {}
    for (i, k), line in zip(labeler.slots, labeler.view.labels):
        colors.setdefault(i, set()).add(matplotlib.colors.to_hex(line.get_color()))
    assert all(len(c) == 1 for c in colors.values())  # one colour per individual
    assert len(set.union(*colors.values())) == 3  # m1, m2, single
    markers = [line.get_marker() for line in labeler.view.labels]
    assert markers[:2] == ["o", "s"] and markers[0] == markers[2]  # snout, tail; m2's snout
    one = open_labeler(project)  # one animal: colours by body part, dots, as before
    assert len({matplotlib.colors.to_hex(line.get_color()) for line in one.view.labels}) == 4
    assert {line.get_marker() for line in one.view.labels} == {"o"}


def test_multianimal_resume_and_lock(ma_project, open_labeler):
    labeler = open_labeler(ma_project)
    labeler.on_click(5.0, 6.0)
    labeler.on_key("i")
    labeler.on_click(20.0, 21.0)  # m2 tail (the body part is kept)
    labeler.close()
    again = open_labeler(ma_project)  # resumes at the first frame with no label
    assert again.frame == 1 and not again.read_only
    points = again.store.all_points(labeler.name)
    assert points[0, 0].tolist() == [5.0, 6.0] and points[1, 1].tolist() == [20.0, 21.0]
    again.close()
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock = ma_project.labeled_data_dir(VIDEO) / LOCK_NAME
        lock.write_text(json.dumps({"pid": holder.pid, "host": socket.gethostname(),
                                    "scorer": "other", "time": "now", "token": "x"}))
        with pytest.warns(UserWarning, match="Read-only"):
            locked = open_labeler(ma_project)
        before = ma_project.labels_file(VIDEO).read_bytes()
        locked.on_key("i")
        locked.on_click(30.0, 30.0)
        locked.on_key("C")
        assert locked.read_only and ma_project.labels_file(VIDEO).read_bytes() == before
    finally:
        holder.kill()
        holder.wait()


def test_multianimal_check_labels_draws_every_individual(ma_project, open_labeler):
    labeler = open_labeler(ma_project)
    for x in (10.0, 12.0, 40.0, 42.0, 60.0):  # m1 snout, tail, m2 snout, tail, feeder
        labeler.on_click(x, x)
    labeler.next_frame()
    labeler.on_key("i")
    labeler.on_click(30.0, 30.0)  # m2 snout only: m1 is not labeled here (NaN, normal)
    paths = draw_labeled_frames(ma_project)
    assert [p.name for p in paths] == [n.rsplit("/", 1)[-1] for n in labeler.images[:2]]
    points = labels_to_array(load_labels(ma_project), ma_project.bodyparts, ma_project.layout)
    fig = draw_labeled_frame(np.zeros((64, 64, 3), np.uint8), points[0], ma_project.bodyparts,
                             ma_project.skeleton)
    lines = fig.axes[0].lines
    dots = [line for line in lines if line.get_marker() == "o"]
    assert len(dots) == 5 and len(lines) == 5 + 2  # every point; a skeleton line per animal
    colors = [matplotlib.colors.to_hex(d.get_color()) for d in dots]
    assert colors[0] == colors[1] != colors[2] == colors[3] != colors[4]
    assert [t.get_text() for t in fig.axes[0].texts] == ["snout", "tail"] * 2 + ["feeder"]


def test_label_notebook_runs_headless_on_a_multianimal_project(ma_project, tmp_path):
    labels = make_labels_frame(np.full((1, 3, 3, 2), 20.0), [
        f"labeled-data/{VIDEO}/{p.name}"
        for p in sorted(ma_project.labeled_data_dir(VIDEO).glob("*.png"))[:1]],
        "me", ma_project.bodyparts, ma_project.layout)
    save_labels(ma_project, VIDEO, labels)
    result = run_notebook(NOTEBOOKS / "02_label_frames.ipynb",
                          {"project_dir": str(ma_project.root)},
                          runs_dir=tmp_path / "runs", log_to_console=False)
    assert "1 labeled frames drawn into" in result.notebook.read_text()


def test_multianimal_suggestions_drawn_and_accepted(ma_project, open_labeler):
    names = [n.as_posix().split("/pair/")[-1] for n in
             sorted(ma_project.labeled_data_dir(VIDEO).glob("*.png"))[:1]]
    columns = ma_project.layout.columns("net", ("x", "y", "likelihood"))
    values = np.array([[10, 10, 0.9, 12, 12, 0.9, 40, 40, 0.3, 42, 42, 0.95, 60, 5, 0.99]], float)
    labeler = open_labeler(ma_project, suggestions=pd.DataFrame(values, names, columns))
    assert labeler.view.doubtful.get_xydata().tolist() == [[40.0, 40.0]]  # m2 snout, 0.3
    labeler.on_press(41.0, 41.0)  # a click on m2's snout suggestion accepts it for m2
    labeler.on_release(41.0, 41.0)
    assert ma_on_disk(ma_project, names[0])[1, 0].tolist() == [40.0, 40.0]
    labeler.on_key("a")  # the rest, every individual's, above pcutoff
    points = ma_on_disk(ma_project, names[0])
    assert points[0, :2].tolist() == [[10.0, 10.0], [12.0, 12.0]]
    assert points[1, 1].tolist() == [42.0, 42.0] and points[2, 2].tolist() == [60.0, 5.0]


def test_multianimal_concurrent_change_is_merged(ma_project, open_labeler):
    labeler = open_labeler(ma_project)
    other = f"labeled-data/{VIDEO}/" + labeler.images[1].rsplit("/", 1)[-1]
    points = np.full((1, 3, 3, 2), np.nan)
    points[0, 1, 0] = (7.0, 8.0)  # another kernel labels m2's snout in the next frame
    save_labels(ma_project, VIDEO, make_labels_frame(points, [other], "me", ma_project.bodyparts,
                                                     ma_project.layout))
    with pytest.warns(UserWarning, match="changed by someone else"):
        labeler.on_click(3.0, 4.0)
    assert ma_on_disk(ma_project, other)[1, 0].tolist() == [7.0, 8.0]
    assert ma_on_disk(ma_project, labeler.name)[0, 0].tolist() == [3.0, 4.0]
    assert labeler.store.all_points(other)[1, 0].tolist() == [7.0, 8.0]
