"""DeepLabCut 3.0.2 (PyTorch engine) trained from random weights on a kit project, on given
train/test frames, with DeepLabCut's defaults (its default single-animal net ``resnet_50``,
batch 8, AdamW, its augmentation and 448x448 crop sampling) and a snapshot every epoch.
Run in DeepLabCut's venv, by ``time_to_accuracy.py`` (ours; adapted from the peer recipe
../shared/peer/train_on_split.py):

    python dlc_tta_train.py PROJECT_COPY SPLIT_JSON EPOCHS START_FILE [CROP]

SPLIT_JSON holds {"train": [image names], "test": [...]} (kit's split). Just before
``train_network`` the wall clock (``time.time()``) is written to START_FILE, so snapshot
times can be read from their files' modification times; the caller stops the run when its
time budget is spent. With CROP, crop sampling takes CROP x CROP crops (not the default).
"""
import json
import sys
import time
from pathlib import Path

import deeplabcut
import pandas as pd
import torch
import yaml
from deeplabcut.pose_estimation_pytorch.models.model import PoseModel
from deeplabcut.utils import auxiliaryfunctions

proj, split_file = Path(sys.argv[1]).resolve(), Path(sys.argv[2])
epochs, start_file = int(sys.argv[3]), Path(sys.argv[4])
cfg = str(proj / "config.yaml")
split = json.loads(split_file.read_text())
videos = sorted((proj / "videos").glob("*.mp4"))
videos = [v for v in videos if not v.stem.endswith("_groundtruth")]
auxiliaryfunctions.edit_config(cfg, {
    "project_path": str(proj), "TrainingFraction": [round(len(split["train"]) / (len(split["train"]) + len(split["test"])), 2)],
    "video_sets": {str(v): {"crop": "0, 1, 0, 1"} for v in videos}})
df = pd.concat([pd.read_hdf(p) for p in sorted(proj.glob("labeled-data/*/CollectedData_*.h5"))])
names = ["/".join(i) if isinstance(i, tuple) else i for i in df.index]
train = [names.index(n) for n in split["train"]]
test = [names.index(n) for n in split["test"]]
deeplabcut.create_training_dataset(cfg, num_shuffles=1, net_type="resnet_50",
                                   engine=deeplabcut.Engine.PYTORCH, trainIndices=[train],
                                   testIndices=[test])
# Random initial weights (no download; DeepLabCut ignores "pretrained: false"): the peer's
# random_init.py recipe.
pcfg_path = next(proj.glob("dlc-models-pytorch/iteration-0/*shuffle1/train/pytorch_config.yaml"))
pcfg = yaml.safe_load(pcfg_path.read_text())
pcfg["model"]["backbone"].pop("pretrained", None)
torch.manual_seed(0)
model = PoseModel.build(dict(pcfg["model"]), pretrained_backbone=False)
torch.save({"model": model.state_dict()}, proj / "random_init.pt")
txt = pcfg_path.read_text().replace("    pretrained: false\n", "")
txt = txt.replace("  weight_init:\n", f"  weight_init:\n    snapshot_path: {proj / 'random_init.pt'}\n"
                  "    with_decoder: false\n    memory_replay: false\n", 1)
pcfg_path.write_text(txt)
if len(sys.argv) > 5:  # not DeepLabCut's default: crops of N x N instead of 448 x 448
    pcfg = yaml.safe_load(pcfg_path.read_text())
    crop = int(sys.argv[5])
    pcfg["data"]["train"]["crop_sampling"].update(width=crop, height=crop)
    pcfg_path.write_text(yaml.safe_dump(pcfg, sort_keys=False))
start_file.write_text(repr(time.time()))
deeplabcut.train_network(cfg, shuffle=1, epochs=epochs, save_epochs=1,
                         max_snapshots_to_keep=100_000, display_iters=50)
print(json.dumps({"finished": time.time()}))
