"""Ensembles through the notebooks (kit.net.ensemble_train, kit.results.ensemble_analysis):
03_train with ensemble_size=2 trains two members on one split, 05_analyze_videos with
ensemble=True analyses with both and smooths them with eks, 06_refine with
rank_by="disagreement" extracts the frames they disagree on."""

import pandas as pd
import pytest
from test_ensemble import needs_eks
from test_model_query import _trained
from test_notebooks import NOTEBOOKS

from kit.experiments.runner import run_notebook
from kit.net.ensemble_train import member_configs
from kit.net.model_folder import ModelFolder
from kit.net.model_query import find_models
from kit.net.train import TrainConfig
from kit.project import load_project
from kit.project.analysis_file import load_poses
from kit.results.ensemble_analysis import models_to_analyze, models_to_refine


def test_members_differ_by_their_seed_only():
    configs = member_configs(TrainConfig(seed=3), 3)
    assert [c.seed for c in configs] == [3, 4, 5]
    assert [c.variant for c in configs] == ["-seed3", "-seed4", "-seed5"]
    with pytest.raises(ValueError, match="ensemble_size=0"):
        member_configs(TrainConfig(), 0)


def test_rank_by_is_checked(tmp_path):
    with pytest.raises(ValueError, match="rank_by='labels'"):
        models_to_refine(None, "labels")


@pytest.fixture()
def two_seeds(tmp_path):
    """A project holding an ensemble of two members (seeds 0 and 1, model folders as
    training leaves them) and one other model (shuffle 2): (project, seed 0's, seed 1's)."""
    from kit.project import create_project

    project = create_project(tmp_path / "p", "t", "ann", ["a", "b"])
    members = [_trained(project, config.to_dict(), config.variant)
               for config in member_configs(TrainConfig(), 2)]
    _trained(project, TrainConfig(shuffle=2).to_dict())
    return project, *members


def test_models_to_analyze_one_or_every_member(two_seeds):
    """05: ensemble=False the one model asked for (an ensemble's member by its seed; both
    members listed when the seed is not given), ensemble=True every member, in name order."""
    project, first, second = two_seeds
    assert models_to_analyze(project, False, shuffle=1, seed=1) == [second]
    assert models_to_analyze(project, True, shuffle=1, seed=-1) == [first, second]
    assert models_to_analyze(project, True, shuffle=2) == [ModelFolder(
        project.model_dir(2, 0.95))]
    with pytest.raises(ValueError, match=r"(?s)2 trained models.*-p seed 0.*-p seed 1"):
        models_to_analyze(project, False, shuffle=1)


def test_models_to_refine_picks_an_ensemble_member_by_its_seed(two_seeds):
    """06's model_seed (passed as seed): with rank_by="outliers" it picks one member; left at
    -1 the error lists both and names model_seed (06's seed seeds k-means); "disagreement"
    takes every member and refuses a seed."""
    project, first, second = two_seeds
    assert models_to_refine(project, "outliers", shuffle=1, seed=1) == [second]
    assert models_to_refine(project, "outliers", shuffle=1, seed=0) == [first]
    with pytest.raises(ValueError, match=r"(?s)-p seed 0.*-p seed 1.*-p model_seed"):
        models_to_refine(project, "outliers", shuffle=1, seed=-1)
    assert models_to_refine(project, "disagreement", shuffle=1, seed=-1) == [first, second]
    with pytest.raises(ValueError, match=r"seed=1 \(06_refine's model_seed\)"):
        models_to_refine(project, "disagreement", shuffle=1, seed=1)


@pytest.mark.slow  # three papermill kernels and two eks runs: about 2 minutes on 2 cores
@needs_eks
def test_an_ensemble_through_notebooks_03_05_06(tmp_path):
    from kit.experiments.synthetic import (
        SyntheticConfig,
        make_synthetic_project,
        save_ground_truth_corrections,
    )

    project = make_synthetic_project(tmp_path / "p", SyntheticConfig(
        num_frames=24, num_labeled=8, image_size=(64, 64)))
    runs, root = tmp_path / "runs", str(project.root)
    run_notebook(NOTEBOOKS / "03_train.ipynb", {
        "project_dir": root, "ensemble_size": 2, "train_fraction": 0.5, "train_steps": 1,
        "batch_size": 2, "crop_size": 64, "weights": "", "net_type": "mobilenet_v2_0.35",
        "optimizer": "adam", "train_settings": "batchnorm_batches=2"}, runs_dir=runs,
        log_to_console=False)
    members = find_models(project, shuffle=1, seed=-1)
    assert ["-seed1-" in m.path.name for m in members] == [False, True]
    first, second = (ModelFolder(m.path).load_split() for m in members)
    assert first.test == second.test and len(first.test) == 4  # the same test frames

    result = run_notebook(NOTEBOOKS / "05_analyze_videos.ipynb", {
        "project_dir": root, "ensemble": True, "smooth_param": 1.0, "batch_size": 8,
        "make_labeled_video": False, "num_stills": 1, "pcutoff": 0.0},
        runs_dir=runs, log_to_console=False)
    assert "mean_error_px_labeled_frames" in result.notebook.read_text()  # of the smoothed one
    ensemble_dir = project.videos_dir / "ensemble"
    member_h5s = [next((ensemble_dir / m.path.name).glob("animal0DLC_*shuffle1_1.h5"))
                  for m in members]
    smoothed = ensemble_dir / f"{member_h5s[0].stem}_eks.h5"
    poses, bodyparts, individuals = load_poses(smoothed)
    assert poses.shape[:3] == (24, 1, len(project.bodyparts)) and individuals is None
    assert (ensemble_dir / f"{member_h5s[0].stem}_eks_filtered.h5").is_file()

    truth = save_ground_truth_corrections(project, "animal0", tmp_path / "truth.h5")
    result = run_notebook(NOTEBOOKS / "06_refine.ipynb", {
        "project_dir": root, "rank_by": "disagreement", "num_frames": 3,
        "corrections_file": str(truth), "train_steps": 1, "num_suggestions": 1},
        runs_dir=runs, log_to_console=False)
    text = result.notebook.read_text()
    assert "merged 3 corrected frames" in text and "test RMSE on the same 4 frames" in text
    assert load_project(root).iteration == 1
    refined = pd.read_hdf(next(project.labeled_data_root.glob("animal0/CollectedData_*.h5")))
    assert len(refined) == 8 + 3
