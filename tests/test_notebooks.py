"""Every notebook runs headless under papermill with tiny parameters (through kit's runner)."""

import json
from pathlib import Path

import pandas as pd
import papermill
import pytest
from conftest import REPO

from kit.experiments.runner import NotebookFailed, resolve_parameters, run_notebook

NOTEBOOKS = REPO / "notebooks"


def test_notebooks_are_stored_clean_and_parameterized():
    for path in NOTEBOOKS.glob("*.ipynb"):
        cells = json.loads(path.read_text())["cells"]
        code = [c for c in cells if c["cell_type"] == "code"]
        assert not any(c.get("outputs") for c in code), f"{path.name} has outputs"
        assert "parameters" in code[0]["metadata"].get("tags", []), path.name
        assert not any("def " in "".join(c["source"]) for c in code), f"{path.name} defines code"
        # papermill must read every parameter (`--help-notebook`, and no "Unable to parse"
        # warning in every run): it skips a line whose comment holds " = ".
        assigned = [line.split(":")[0] for line in "".join(code[0]["source"]).splitlines()
                    if line and not line.startswith("#")]
        assert list(papermill.inspect_notebook(str(path))) == assigned, path.name


def test_quickstart_tiny(tmp_path):
    result = run_notebook(NOTEBOOKS / "00_quickstart.ipynb", {
        "workdir": str(tmp_path / "qs"), "train_steps": 2, "batch_size": 2, "image_size": 64,
        "num_labeled": 10, "crop_size": 64}, runs_dir=tmp_path / "runs", log_to_console=False)
    text = result.notebook.read_text()
    assert "test RMSE:" in text
    assert (result.folder / "done.json").is_file()
    evaluation = next((tmp_path / "qs" / "project").glob("evaluation-results-kit/*/*/evaluation.csv"))
    assert {"test", "train"} == set(pd.read_csv(evaluation).split)
    again = run_notebook(NOTEBOOKS / "00_quickstart.ipynb", {
        "workdir": str(tmp_path / "qs"), "train_steps": 2, "batch_size": 2, "image_size": 64,
        "num_labeled": 10, "crop_size": 64}, runs_dir=tmp_path / "runs", log_to_console=False)
    assert again.skipped and again.folder == result.folder


def _train_and_evaluate(project_dir: Path, runs: Path, **train):
    params = {"project_dir": str(project_dir), "train_steps": 2, "batch_size": 1,
              "crop_size": 64, "save_every": 1, "weights": "",
              "train_settings": "batchnorm_batches=2", **train}
    run_notebook(NOTEBOOKS / "03_train.ipynb", params, runs_dir=runs, log_to_console=False)
    result = run_notebook(NOTEBOOKS / "04_evaluate.ipynb", {
        "project_dir": str(project_dir), "train_fraction": params.get("train_fraction", 0.95),
        "pcutoff": 0.1}, runs_dir=runs, log_to_console=False)
    return result


@pytest.mark.slow  # ResNet-50 on the real project's frames: minutes on 2 cores
def test_train_and_evaluate_on_openfield(openfield, tmp_path):
    import shutil

    project = tmp_path / "openfield"  # the shared copy stays read-only
    shutil.copytree(openfield, project)
    _train_and_evaluate(project, tmp_path / "runs")
    table = pd.read_csv(next(project.glob("evaluation-results-kit/iteration-0/*/evaluation.csv")))
    assert table.query("bodypart == 'all'").num_labels.tolist() == [110 * 4, 6 * 4]
    assert next(project.glob("evaluation-results-kit/iteration-0/*/test_frames.png")).is_file()


def test_train_without_imagenet_weights_stops_at_once(tmp_path, monkeypatch):
    """03_train with its defaults (weights="imagenet") on a machine without the file in
    Keras's cache and without internet: it stops before any work, saying how to go on."""
    from conftest import make_blob_project

    project = make_blob_project(tmp_path / "p", num_frames=4)
    (tmp_path / "home").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # an empty Keras cache
    monkeypatch.delenv("KERAS_HOME", raising=False)
    for proxy in ("https_proxy", "HTTPS_PROXY"):  # offline even where the internet is not
        monkeypatch.setenv(proxy, "http://127.0.0.1:9")
    with pytest.raises(NotebookFailed) as error:
        run_notebook(NOTEBOOKS / "03_train.ipynb", {"project_dir": str(project.root)},
                     runs_dir=tmp_path / "runs", log_to_console=False)
    message = str(error.value)
    for part in ("resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
                 str(tmp_path / "home" / ".keras" / "models"), 'weights=""'):
        assert part in message, part
    assert not list(project.root.glob("kit-models/*/*/train_config.json"))


def test_failing_cell_is_named(tmp_path):
    with pytest.raises(NotebookFailed, match=r"04_evaluate.ipynb failed in cell \d+: FileNotFoundError"):
        run_notebook(NOTEBOOKS / "04_evaluate.ipynb", {"project_dir": str(tmp_path)},
                     runs_dir=tmp_path / "runs", log_to_console=False)


def test_path_parameters_are_made_absolute(tmp_path):
    (tmp_path / "proj").mkdir()
    out = resolve_parameters({"project_dir": "proj", "workdir": "a/b", "weights": "imagenet",
                              "steps": 3, "empty": ""}, tmp_path)
    assert out == {"project_dir": str(tmp_path / "proj"), "workdir": str(tmp_path / "a/b"),
                   "weights": "imagenet", "steps": 3, "empty": ""}


def test_analyze_videos_tiny(tmp_path):
    from kit.experiments.synthetic import SyntheticConfig, make_synthetic_project
    from kit.net.data import AugmentConfig
    from kit.net.train import TrainConfig, train

    project = make_synthetic_project(tmp_path / "p",
        SyntheticConfig(image_size=(64, 64), num_frames=12, num_labeled=6))
    train(project, TrainConfig(train_steps=2, batch_size=2, train_fraction=0.75, batchnorm_batches=2, weights=None,
                               augment=AugmentConfig(crop_size=(64, 64))), verbose=0)
    params = {"project_dir": str(project.root), "train_fraction": 0.75, "batch_size": 4,
              "filter": "savgol", "filter_window": 5, "pcutoff": 0.0,
              "analysis_settings": "trail_length=2 num_workers=1", "num_stills": 1}
    result = run_notebook(NOTEBOOKS / "05_analyze_videos.ipynb", params, runs_dir=tmp_path / "runs",
                          log_to_console=False)
    text = result.notebook.read_text()
    assert "mean_error_px_labeled_frames" in text
    name = f"animal0DLC_resnet50_synthetic{project.date}shuffle1_2"
    for suffix in (".h5", ".csv", "_meta.json", "_filtered.h5", "_filtered_labeled.mp4",
                   "_trajectories.png", "_filtered_frame00000.png"):
        assert (project.videos_dir / f"{name}{suffix}").is_file(), suffix


TINY_EXPERIMENT = {"shuffles": 1, "train_steps": 1, "batch_size": 2, "crop_size": 64,
                   "image_size": 64, "num_videos": 2, "num_labeled": 6}


@pytest.mark.slow  # four trainings in one kernel: about 4 minutes on 2 cores
def test_learning_curve_notebook_tiny(tmp_path):
    """Two backbones (the light ones): a curve each, on the same sizes and test sets."""
    run_notebook(NOTEBOOKS / "10_learning_curves.ipynb", {
        **TINY_EXPERIMENT, "workdir": str(tmp_path / "lc"), "train_sizes": [2, 4],
        "net_type": "mobilenet_v2_0.35,efficientnet-b0"},
        runs_dir=tmp_path / "runs", log_to_console=False)
    results = tmp_path / "lc" / "project" / "experiments"
    table = pd.read_csv(results / "learning_curve.csv")
    assert sorted(table.train_size.unique()) == [2, 4]
    assert table.groupby("net_type").train_size.nunique().to_dict() == {
        "efficientnet-b0": 2, "mobilenet_v2_0.35": 2}
    assert set(table.split) == {"train", "test"}
    assert table.query("split == 'train' and bodypart == 'all'").num_labels.max() <= 4 * 4
    assert (results / "learning_curve.png").is_file() and (results / "learning_curve.svg").is_file()


@pytest.mark.slow  # several papermill kernels: minutes on 2 cores
def test_bodypart_experiment_notebook_tiny(tmp_path):
    run_notebook(NOTEBOOKS / "11_bodypart_experiment.ipynb", {
        **TINY_EXPERIMENT, "workdir": str(tmp_path / "bp"), "train_sizes": [3],
        "augmentation": False, "novel_videos": "animal1"},
        runs_dir=tmp_path / "runs", log_to_console=False)
    results = tmp_path / "bp" / "project" / "experiments"
    parts = pd.read_csv(results / "bodypart_experiment.csv")
    assert set(parts.condition) == {"all body parts", "snout only"}
    assert set(parts[parts.condition == "snout only"].bodypart) == {"snout", "all"}
    novel = pd.read_csv(results / "novel_animals.csv")
    assert {"train", "test", "novel"} == set(novel.split)
    assert (results / "bodypart_experiment.png").is_file()


@pytest.mark.slow  # several papermill kernels: minutes on 2 cores
def test_refine_tiny_with_corrections_file(tmp_path):
    """06 on one member of a two-member ensemble (seeds 0 and 1), chosen by model_seed:
    without it, it stops listing both and naming model_seed (06's seed seeds k-means)."""
    import dataclasses

    from kit.experiments.synthetic import (
        SyntheticConfig,
        make_synthetic_project,
        save_ground_truth_corrections,
    )
    from kit.net.data import AugmentConfig
    from kit.net.train import TrainConfig, train
    from kit.project import load_project

    project = make_synthetic_project(tmp_path / "p",
        SyntheticConfig(num_frames=40, num_labeled=8, image_size=(64, 64)))
    config = TrainConfig(train_fraction=0.5, train_steps=2, batch_size=2, optimizer="adam",
                         batchnorm_batches=2, weights=None, net_type="mobilenet_v2_0.35",
                         augment=AugmentConfig(crop_size=(64, 64)))
    train(project, config, verbose=0)  # a non-default backbone: a model folder with a suffix
    member = dataclasses.replace(config, seed=1)  # its ensemble's second member
    train(project, member, verbose=0)
    truth = save_ground_truth_corrections(project, "animal0", tmp_path / "truth.h5")  # every frame
    params = {
        "project_dir": str(project.root), "train_fraction": 0.5, "net_type": config.net_type,
        "num_frames": 3, "pcutoff": 1.0,
        "corrections_file": str(truth), "train_steps": 2, "num_suggestions": 2,
        "extract_suggestions": True}
    with pytest.raises(NotebookFailed, match=r"(?s)-p seed 0.*-p seed 1.*-p model_seed"):
        run_notebook(NOTEBOOKS / "06_refine.ipynb", params, runs_dir=tmp_path / "runs",
                     log_to_console=False)
    assert load_project(project.root).iteration == 0  # stopped before any work
    result = run_notebook(NOTEBOOKS / "06_refine.ipynb", {**params, "model_seed": 1},
                          runs_dir=tmp_path / "runs", log_to_console=False)
    text = result.notebook.read_text()
    assert f"shuffle1{member.variant}" in text  # the model it refines, printed
    assert "merged 3 corrected frames" in text and "test RMSE on the same 4 frames" in text
    project = load_project(project.root)
    assert project.iteration == 1
    assert (project.evaluation_dir(1, 0.5, variant=member.variant) / "iterations.png").is_file()
    assert not project.model_dir(1, 0.5, iteration=1, variant=config.variant).exists()
    assert len(pd.read_hdf(project.machine_labels_file("animal0"))) == 2  # the suggestions


def test_multiple_animals_notebook_tiny(tmp_path):
    """12: a one-animal network's peaks on frames of three animals, drawn and scored."""
    work = tmp_path / "ma"
    result = run_notebook(NOTEBOOKS / "12_multiple_animals.ipynb", {
        "workdir": str(work), "image_size": 64, "num_videos": 1, "num_labeled": 6,
        "crop_size": 64, "train_steps": 2, "batch_size": 2, "num_frames": 2,
        "net_type": "mobilenet_v2_0.35", "threshold": 0.01}, runs_dir=tmp_path / "runs",
        log_to_console=False)
    assert (result.folder / "done.json").is_file()
    assert (work / "results" / "several_animals_peaks.png").stat().st_size > 10_000
    table = pd.read_csv(work / "results" / "several_animals_peaks.csv", index_col="bodypart")
    assert list(table.index) == ["snout", "leftear", "rightear", "tailbase"]
    assert (table.visible > 0).all() and table.found.between(0, 1).all()


def test_blocks_split_and_full_rotation_through_03_and_04(tmp_path):
    """03_train with split_method="blocks" and rotation_deg=180: the test set is the video's
    last frames, the settings are saved with the model, and 04 reports the error against
    the distance to the training frames."""
    from conftest import make_blob_project

    project = make_blob_project(tmp_path / "blobs", num_frames=10)
    runs = tmp_path / "runs"
    run_notebook(NOTEBOOKS / "03_train.ipynb", {
        "project_dir": str(project.root), "train_steps": 2, "batch_size": 1, "crop_size": 64,
        "weights": "", "net_type": "mobilenet_v2_0.35", "train_fraction": 0.8,
        "split_method": "blocks", "rotation_deg": 180.0, "scale_min": 0.9, "scale_max": 1.1,
        "train_settings": "num_workers=0 locref_loss_weight=0.1 batchnorm_batches=2"}, runs_dir=runs, log_to_console=False)
    model_dir = next(project.root.glob("kit-models/*/*-blocks-rot180-mobilenet_v2_0.35"))
    saved = json.loads((model_dir / "train_config.json").read_text())
    assert saved["split_method"] == "blocks" and saved["augment"]["rotation_deg"] == 180.0
    assert (saved["num_workers"], saved["locref_loss_weight"]) == (0, 0.1)  # from settings
    assert saved["augment"]["scale_range"] == [0.9, 1.1]
    split = json.loads((model_dir / "split.json").read_text())
    assert split["test"] == ["labeled-data/v/img0008.png", "labeled-data/v/img0009.png"]
    run_notebook(NOTEBOOKS / "04_evaluate.ipynb", {
        "project_dir": str(project.root), "train_fraction": 0.8, "pcutoff": 0.1,
        "split_method": "blocks"}, runs_dir=runs, log_to_console=False)
    folder = next(project.root.glob("evaluation-results-kit/*/*-blocks-rot180-mobilenet_v2_0.35"))
    table = pd.read_csv(folder / "generalization.csv", index_col=0)
    assert list(table.index) == ["training frames", "1-2"] and table.num_frames.tolist() == [8, 2]
    assert (folder / "generalization.png").is_file()


def test_multi_animal_project_through_notebooks_03_to_06(tmp_path):
    """A synthetic group project (3 animals) through the same notebooks as one animal: train,
    evaluate (matched RMSE, mAP), analyse with tracking (_el.h5, per-individual labeled video,
    tracking scores against the truth), refine (outliers incl. identity switches)."""
    from kit.experiments.synthetic_group import GroupConfig, make_synthetic_group_project
    from kit.project import load_project
    from kit.project.analysis_file import load_poses
    from kit.project.labels import load_labels, save_labels

    project = make_synthetic_group_project(
        tmp_path / "group", GroupConfig(num_animals=3, num_frames=40, image_size=(96, 96)),
        num_labeled=8)
    labels = load_labels(project)  # animal2's ears swapped in the first labeled frame
    ears = [(project.scorer, "animal2", part, c) for part in ("leftear", "rightear")
            for c in ("x", "y")]
    labels.loc[labels.index[0], ears] = labels.loc[labels.index[0], ears[2:] + ears[:2]].values
    save_labels(project, "group0", labels)
    runs = tmp_path / "runs"
    evaluated = _train_and_evaluate(project.root, runs, crop_size=96, train_fraction=0.75,
                                    net_type="mobilenet_v2_0.35")
    assert "\"1 labeled frame(s) with a left and right body part the other way round" in (
        evaluated.notebook.read_text())  # 04 lists it
    oks = next(project.root.glob("evaluation-results-kit/*/*/oks.csv"))
    assert {"mAP", "mAR", "num_missed", "num_extra"} <= set(pd.read_csv(oks).columns)
    result = run_notebook(NOTEBOOKS / "05_analyze_videos.ipynb", {
        "project_dir": str(project.root), "train_fraction": 0.75, "max_frames": 30,
        "num_stills": 1, "pcutoff": 0.0}, runs_dir=runs, log_to_console=False)
    h5 = next(project.videos_dir.glob("group0DLC_*_el.h5"))
    poses, _, individuals = load_poses(h5)
    assert poses.shape[:3] == (30, 3, 4) and individuals == ["animal1", "animal2", "animal3"]
    assert next(project.videos_dir.glob("group0DLC_*_el*_labeled.mp4")).stat().st_size > 0
    assert "idf1" in result.notebook.read_text()
    machine_labels = project.machine_labels_file("group0")  # written by 06's extraction
    result = run_notebook(NOTEBOOKS / "06_refine.ipynb", {  # a labeler accepting every point
        "project_dir": str(project.root), "train_fraction": 0.75, "num_frames": 2,
        "num_suggestions": 1, "corrections_file": str(machine_labels), "train_steps": 2},
        runs_dir=runs, log_to_console=False)
    assert "merged 2 corrected frames" in result.notebook.read_text()
    assert pd.read_hdf(machine_labels).columns.nlevels == 4
    merged = load_labels(load_project(project.root))
    assert merged.columns.nlevels == 4 and len(merged) == 8 + 2  # the outliers joined


@pytest.mark.slow  # three kernels on 384x384 frames: minutes on 2 cores
def test_sleap_pair_end_to_end(tmp_path):
    """SLEAP's two flies: import (command line), a short training (03), analysis with
    tracking and the per-individual labeled video (05), the result exported as .slp and
    opened by SLEAP's own reader (sleap-io)."""
    import subprocess
    import sys

    import sleap_io
    from conftest import shared_dataset

    from kit.project.sleap_file import analysis_to_slp

    data = shared_dataset("sleap-centered-pair")
    project_dir, runs = tmp_path / "flies", tmp_path / "runs"
    subprocess.run([sys.executable, "-m", "kit", "import-slp",
                    str(data / "centered_pair_predictions.slp"), str(project_dir),
                    "--instances", "predicted", "--num-individuals", "2", "--max-frames", "24"],
                   check=True, cwd=REPO)
    run_notebook(NOTEBOOKS / "03_train.ipynb", {
        "project_dir": str(project_dir), "train_steps": 2, "batch_size": 2, "crop_size": 128,
        "weights": "", "net_type": "mobilenet_v2_0.35", "train_fraction": 0.9,
        "train_settings": "batchnorm_batches=2"}, runs_dir=runs, log_to_console=False)
    run_notebook(NOTEBOOKS / "05_analyze_videos.ipynb", {
        "project_dir": str(project_dir), "train_fraction": 0.9, "max_frames": 40,
        "net_type": "mobilenet_v2_0.35",
        "num_stills": 1, "pcutoff": 0.0}, runs_dir=runs, log_to_console=False)
    videos = project_dir / "videos"
    h5 = next(videos.glob("*_el.h5"))
    assert next(videos.glob("*_el*_labeled.mp4")).stat().st_size > 0
    slp = analysis_to_slp(h5, next(videos.glob("*.mp4")), tmp_path / "kit.slp")
    labels = sleap_io.load_slp(str(slp))
    assert len(labels.skeletons[0].nodes) == 24
    assert {t.name for t in labels.tracks} == {"animal1", "animal2"}
    assert len(labels.labeled_frames) <= 40


@pytest.mark.slow  # a papermill kernel training several times: minutes on 2 cores
def test_learning_curve_notebook_on_a_multi_animal_project(tmp_path):
    """10 on a synthetic group project: the matched-animal errors per training size."""
    from kit.experiments.synthetic_group import GroupConfig, make_synthetic_group_project

    project = make_synthetic_group_project(
        tmp_path / "group", GroupConfig(num_animals=2, num_frames=30, image_size=(64, 64)),
        num_labeled=10)
    run_notebook(NOTEBOOKS / "10_learning_curves.ipynb", {
        **TINY_EXPERIMENT, "project_dir": str(project.root), "workdir": str(tmp_path / "lc"),
        "train_sizes": [2, 4]}, runs_dir=tmp_path / "runs", log_to_console=False)
    table = pd.read_csv(project.root / "experiments" / "learning_curve.csv")
    assert sorted(table.train_size.unique()) == [2, 4]
    assert set(table.split) == {"train", "test"} and table.rmse_px.notna().any()


def test_pretrain_notebook_then_train_from_its_weights(tmp_path):
    from kit.experiments.synthetic import SyntheticConfig, make_synthetic_project

    project = make_synthetic_project(tmp_path / "p", SyntheticConfig(
        image_size=(64, 64), num_frames=12, num_labeled=6))
    result = run_notebook(NOTEBOOKS / "07_pretrain.ipynb", {
        "project_dir": str(project.root), "net_type": "mobilenet_v2_0.35", "train_steps": 2,
        "batch_size": 2, "crop_size": 64, "num_frames": 6, "scale": 1.0},
        runs_dir=tmp_path / "runs", log_to_console=False)
    weights = project.root / "kit-models" / "pretrained" / "mobilenet_v2_0.35-mask2.weights.h5"
    assert weights.is_file() and weights.with_name(weights.name[:-11] + ".png").is_file()
    assert f"03_train -p weights {weights}" in result.notebook.read_text()
    run_notebook(NOTEBOOKS / "03_train.ipynb", {
        "project_dir": str(project.root), "train_steps": 2, "batch_size": 1, "crop_size": 64,
        "weights": str(weights), "net_type": "mobilenet_v2_0.35", "train_fraction": 0.75,
        "train_settings": "batchnorm_batches=2"}, runs_dir=tmp_path / "runs", log_to_console=False)
    trained = list(project.root.glob("kit-models/iteration-0/*/train_config.json"))
    assert [json.loads(p.read_text())["weights"] for p in trained] == [str(weights)]


@pytest.mark.slow
def test_beyond_labels_notebook_compares_methods_and_draws_them(tmp_path):
    from kit.experiments.synthetic import SyntheticConfig, make_synthetic_project

    project = make_synthetic_project(tmp_path / "p", SyntheticConfig(
        image_size=(64, 64), num_frames=16, num_labeled=10))
    run_notebook(NOTEBOOKS / "15_beyond_labels.ipynb", {
        "project_dir": str(project.root), "methods": "supervised,full_rotation",
        "train_sizes": "4", "train_steps": 2, "net_type": "mobilenet_v2_0.35", "batch_size": 2,
        "crop_size": 64, "video_frames": 4, "pcutoff": 0.0, "rotation_by_video": True,
        "train_settings": "test_scales=0.85,1,1.15"},  # every model scored at three scales
        runs_dir=tmp_path / "runs", log_to_console=False)
    poses = list(project.root.glob("kit-models/iteration-0/*/pose_config.json"))
    assert len(poses) == 3 and all(json.loads(p.read_text())["test_scales"] == [0.85, 1, 1.15]
                                   for p in poses)
    results = project.root / "experiments" / "beyond_labels"
    table = pd.read_csv(results / "beyond_labels.csv")
    assert table[["method", "split"]].values.tolist() == [
        ["supervised", "blocks"], ["full_rotation", "blocks"], ["supervised", "random"]]
    assert (results / "beyond_labels.png").stat().st_size > 0
    points = pd.read_csv(results / "beyond_labels_points.csv")  # what the against cell reads
    assert (points.frames == "test").sum() == table.num_points.sum()
    # the notebook's validation block (its default): every run scored there too
    assert table.val_median_px.notna().all() and (points.frames == "validation").any()
