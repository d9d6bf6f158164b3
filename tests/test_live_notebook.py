"""notebooks/08_live.ipynb runs headless on a tiny trained synthetic project, given its
folder and training fraction (papermill, through kit's runner)."""

import dataclasses

import pandas as pd
import pytest
from conftest import REPO

from kit.experiments.runner import run_notebook


def test_live_notebook_tiny(trained_synthetic, tmp_path):
    project, predictor, _ = trained_synthetic
    result = run_notebook(REPO / "notebooks" / "08_live.ipynb",
                          {"project_dir": str(project.root), "train_fraction": 0.75, "num_frames": 12,
                           "report_every": 5, "num_stills": 2},
                          runs_dir=tmp_path / "runs", log_to_console=False)
    text = result.notebook.read_text()
    assert "frame 10: latency" in text  # progress as it goes
    assert "12 frames, 12 poses given to the processor" in text
    live = predictor.model_dir / "live"
    table = pd.read_csv(live / "latency.csv", index_col="stream")
    assert table.index.tolist() == ["onnx, dynamic=True, resize=1.0"]
    row = table.iloc[0]
    assert row.frames == 11 and 0 < row.mean_ms <= row.p99_ms + 0.01 and row.fps > 0
    assert (predictor.model_dir / "exported" / "model.onnx").is_file()
    assert sorted(p.name for p in live.glob("*.png")) == ["live_frame00000.png",
                                                          "live_frame00011.png"]


def test_live_notebook_takes_the_one_trained_model_and_lists_several(tmp_path):
    """08 with only project_dir streams the project's one model (MobileNetV2-0.35 here, whose
    folder is not the default one); with two models of the shuffle it stops before any work
    and lists both with the parameters that select each."""
    from kit.experiments.runner import NotebookFailed
    from kit.experiments.synthetic import SyntheticConfig, make_synthetic_project
    from kit.net.data import AugmentConfig
    from kit.net.train import TrainConfig, train

    project = make_synthetic_project(tmp_path / "p", SyntheticConfig(
        image_size=(64, 64), num_frames=10, num_labeled=8))
    config = TrainConfig(train_steps=1, batch_size=2, train_fraction=0.75, batchnorm_batches=1,
                         weights=None, net_type="mobilenet_v2_0.35",
                         augment=AugmentConfig(crop_size=(64, 64)))
    model_dir = train(project, config, verbose=0)
    result = run_notebook(REPO / "notebooks" / "08_live.ipynb", {"project_dir": str(project.root)},
                          runs_dir=tmp_path / "runs", log_to_console=False)
    assert "10 frames, 10 poses given to the processor" in result.notebook.read_text()
    assert (model_dir / "live" / "latency.csv").is_file()

    train(project, dataclasses.replace(config, seed=1), verbose=0)
    with pytest.raises(NotebookFailed, match=r"(?s)2 trained models.*-p seed 0.*-p seed 1"):
        run_notebook(REPO / "notebooks" / "08_live.ipynb", {"project_dir": str(project.root)},
                     runs_dir=tmp_path / "runs", redo=True, log_to_console=False)
