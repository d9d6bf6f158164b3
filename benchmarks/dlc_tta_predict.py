"""Predictions of every epoch snapshot of a DeepLabCut 3 run (``dlc_tta_train.py``) on given
images. Run in DeepLabCut's venv, by ``time_to_accuracy.py``:

    python dlc_tta_predict.py PROJECT_COPY IMAGES_JSON OUT_JSON

IMAGES_JSON: a list of image names relative to the project. OUT_JSON gets
{snapshot file name: (num_images, num_bodyparts, 3) nested lists of x, y, score}, the
best-scoring individual's pose (single animal), image pixels.
"""
import json
import re
import sys
from pathlib import Path

import numpy as np
from deeplabcut.pose_estimation_pytorch.apis.utils import get_pose_inference_runner

proj, images_file, out_file = Path(sys.argv[1]).resolve(), Path(sys.argv[2]), Path(sys.argv[3])
images = [str(proj / name) for name in json.loads(images_file.read_text())]
train_dir = next(proj.glob("dlc-models-pytorch/iteration-0/*shuffle1/train"))
snapshots = sorted(p for p in train_dir.glob("snapshot-*.pt")
                   if re.fullmatch(r"snapshot-\d+\.pt", p.name))
out = {}
for snapshot in snapshots:
    runner = get_pose_inference_runner(train_dir / "pytorch_config.yaml", snapshot, batch_size=4,
                                       device="cpu")
    poses = [np.asarray(p["bodyparts"])[0] for p in runner.inference(images)]
    out[snapshot.name] = np.stack(poses).tolist()
out_file.write_text(json.dumps(out))
