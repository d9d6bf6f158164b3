"""notebooks/08_live.ipynb runs headless on a tiny trained synthetic project, given its
folder and training fraction (papermill, through kit's runner)."""

import pandas as pd
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
