"""DeepLabCut's own readers on a kit project. Run in DeepLabCut's environment (see
../shared/peer/README.md), on a copy of the project (DeepLabCut writes into it):

    venv-dlc/bin/python tests/interop/dlc_reads_kit.py PROJECT_COPY [ANALYSIS.h5 ...]

Reads the config with DeepLabCut's reader, checks the labels (labeled frames drawn into
labeled-data/<video>_labeled), creates a training dataset (PyTorch engine, no weights
needed), and reads each analysis file with DeepLabCut's loader (its finder picks the file
from the folder, as plot_trajectories and create_labeled_video do) and draws it with its
trajectory plots. Prints one JSON line.
"""

import json
import sys
import tempfile
from pathlib import Path

import deeplabcut
import pandas as pd
from deeplabcut.utils import auxiliaryfunctions
from deeplabcut.utils.plotting import _plot_trajectories

project = Path(sys.argv[1]).resolve()
config = str(project / "config.yaml")
cfg = auxiliaryfunctions.read_config(config)
report = {"deeplabcut": deeplabcut.__version__, "pandas": pd.__version__,
          "bodyparts": cfg["bodyparts"], "video_sets": len(cfg["video_sets"])}
deeplabcut.check_labels(config, draw_skeleton=False, visualizeindividuals=False)
report["check_labels_images"] = len(list(project.glob("labeled-data/*_labeled/*.png")))
deeplabcut.create_training_dataset(config, num_shuffles=1, net_type="resnet_50",
                                   engine=deeplabcut.Engine.PYTORCH)
datasets = sorted(project.glob("training-datasets/iteration-*/*/CollectedData_*.h5"))
report["training_dataset_rows"] = len(pd.read_hdf(datasets[0])) if datasets else 0
report["analyses"] = {}
for h5 in map(Path, sys.argv[2:]):
    df = pd.read_hdf(h5)
    scorer = df.columns.get_level_values("scorer")[0]
    video = h5.name[: h5.name.index(scorer)]
    filtered = h5.stem.endswith("_filtered")
    data, found, _, _ = auxiliaryfunctions.load_analyzed_data(h5.parent, video, scorer, filtered)
    plots = Path(tempfile.mkdtemp())
    _plot_trajectories(str(h5), dest_folder=str(plots))  # plot_trajectories' drawing
    report["analyses"][h5.name] = {"rows": len(data), "columns": len(data.columns),
                                   "found": Path(found).name,
                                   "equal_to_read_hdf": bool(data.equals(df)),
                                   "plots": len(list(plots.glob("*.png")))}
print("RESULT " + json.dumps(report))
