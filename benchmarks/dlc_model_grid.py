"""DeepLabCut 3's own ResNet-50 PoseModel timed on any list of shapes (run it with the python
of the DeepLabCut venv; ``dlc_peer.model_grid`` does). The peer's ``model_bench.py`` times
six fixed shapes; this times the issue's grid too (640x480 and 256x256 at batch 1, 8, 32).

As in the peer script: the model of the project's ``pytorch_config.yaml`` (timm
resnet50_gn, output stride 16, deconv head), random weights; a train step is forward, MSE
on every head output, backward and an AdamW step (``model.train()``); predict is a forward
pass under ``torch.inference_mode`` (``model.eval()``). Each shape is timed after 2
warm-up steps, and peak memory is this process's so far (shapes run in the order given).

Usage: python dlc_model_grid.py PROJECT_DIR REPS KIND:HxW:BATCH [...]
       e.g. train:256x256:8 predict:480x640:32
"""

import json
import resource
import statistics
import sys
from pathlib import Path

from train_bench import time_steps  # this folder is on sys.path when run as a script


def main() -> None:
    import torch
    import yaml
    from deeplabcut.pose_estimation_pytorch.models.model import PoseModel

    project, reps, shapes = Path(sys.argv[1]).resolve(), int(sys.argv[2]), sys.argv[3:]
    config_path = next(project.glob(
        "dlc-models-pytorch/iteration-0/*shuffle1/train/pytorch_config.yaml"))
    config = yaml.safe_load(config_path.read_text())
    torch.manual_seed(0)
    model = PoseModel.build(dict(config["model"]), pretrained_backbone=False)
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-4)
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads()}), flush=True)

    def outputs(x):
        return [t for head in model(x).values() for t in head.values()]

    for shape in shapes:
        kind, hw, batch = shape.split(":")
        h, w = map(int, hw.split("x"))
        b = int(batch)
        x = torch.randn(b, 3, h, w)
        if kind == "train":
            model.train()

            def step():
                optimizer.zero_grad(set_to_none=True)
                loss = sum(torch.nn.functional.mse_loss(o, torch.zeros_like(o)) for o in outputs(x))
                loss.backward()
                optimizer.step()
        else:
            model.eval()

            def step():
                with torch.inference_mode():
                    outputs(x)
        median = statistics.median(time_steps(step, reps, warmup=2))
        print(json.dumps({"bench": "train_step" if kind == "train" else "predict",
                          "batch": b, "hw": [h, w], "reps": reps,
                          "median_s_per_step": round(median, 4),
                          "images_per_s": round(b / median, 3),
                          "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}),
              flush=True)


if __name__ == "__main__":
    main()
