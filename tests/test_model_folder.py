"""kit.net.model_folder: one module owns a model folder's files and its typed pose config."""

import json
import re
import sys
from pathlib import Path

import pytest

from kit.net.model_folder import (
    BOTTOM_UP_DECODER,
    SINGLE_ANIMAL_DECODER,
    ModelFolder,
    PoseConfig,
)
from kit.project.splits import Split

REPO = Path(__file__).resolve().parent.parent
FILE_NAMES = re.compile(r"pose_config\.json|train_config\.json|split\.json|model\.keras")


def test_no_module_but_model_folder_names_the_folders_files():
    """The file names live in kit/net/model_folder.py alone (code, notebooks, benchmarks)."""
    owners = {REPO / "kit" / "net" / "model_folder.py"}
    files = [p for folder in ("kit", "notebooks", "benchmarks") for p in (REPO / folder).rglob("*")
             if p.suffix in (".py", ".ipynb") and p not in owners]
    offenders = [f"{p.relative_to(REPO)}: {match}" for p in files
                 for match in FILE_NAMES.findall(p.read_text(encoding="utf-8"))]
    assert not offenders, offenders


def test_model_folder_imports_no_keras():
    """The live rig reads a model folder without Keras or TensorFlow."""
    code = ("import sys; import kit.net.model_folder; "
            "print(any(m.split('.')[0] in ('keras', 'tensorflow') for m in sys.modules))")
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=REPO)
    assert out.stdout.strip() == "False"


def test_old_folder_dicts_load_with_todays_defaults():
    old = {"bodyparts": ["a", "b"], "global_scale": 0.8, "stride": 8, "locref_stdev": 7.2801,
           "train_steps": 5, "crop_hw": [64, 64], "iteration": 0, "keras_backend": "tensorflow"}
    pose = PoseConfig.from_dict(old)
    assert pose.bodyparts == ("a", "b") and pose.crop_hw == (64, 64)
    assert (pose.net_type, pose.backbone_stride, pose.heads) == ("resnet_50", 16,
                                                                 ("part_pred", "locref"))
    assert (pose.multianimal, pose.individuals, pose.decoder) == (False, (), SINGLE_ANIMAL_DECODER)
    assert pose.num_rows == 1
    bare = PoseConfig.from_dict({"bodyparts": ["a"]})  # the least a folder ever held
    assert (bare.stride, bare.global_scale, bare.train_steps) == (8, 0.8, 0)


def test_multianimal_pose_round_trips_and_names_its_decoder():
    pose = PoseConfig(bodyparts=("a", "b", "feeder"), heads=("part_pred", "locref", "paf"),
                      multianimal=True, individuals=("m1", "m2"), unique_bodyparts=("feeder",),
                      paf_graph=((0, 1),))
    assert pose.decoder == BOTTOM_UP_DECODER and pose.num_rows == 3
    again = PoseConfig.from_dict(json.loads(json.dumps(pose.to_dict())))
    assert again == pose


def test_unknown_keys_and_missing_individuals_raise():
    with pytest.raises(ValueError, match=r"Unknown pose config keys \['nettype'\]"):
        PoseConfig.from_dict({"bodyparts": ["a"], "nettype": "resnet_50"})
    with pytest.raises(ValueError, match="needs individuals"):
        PoseConfig(bodyparts=("a",), multianimal=True)


def test_model_folder_round_trips_its_files(tmp_path):
    folder = ModelFolder(tmp_path / "m")
    assert not folder.is_trained() and not folder.has_split()
    with pytest.raises(FileNotFoundError, match="Train it first"):
        folder.check_trained()
    with pytest.raises(FileNotFoundError, match="not a finished kit model folder"):
        folder.load_pose_config()
    pose = PoseConfig(bodyparts=("a", "b"), net_type="mobilenet_v2_0.35", backbone_stride=32,
                      train_steps=3, crop_hw=(64, 64), iteration=2)
    folder.save_pose_config(pose)
    assert folder.load_pose_config() == pose
    split = Split(("x/img1.png",), ("x/img2.png",), 0.5, 1, 0)
    folder.save_split(split)
    assert folder.load_split() == split
    folder.save_train_config_dict({"shuffle": 1, "train_steps": 3})
    assert folder.load_train_config_dict() == {"shuffle": 1, "train_steps": 3}
    assert folder.load_train_config().train_steps == 3
    assert ModelFolder(str(folder.path)) == folder and Path(folder) == folder.path



def test_a_folder_trained_before_this_change_evaluates_analyzes_and_streams(trained_synthetic,
                                                                            tmp_path):
    """A model folder as kit wrote it before the model folder had an owner: pose_config.json
    without decoder (and, older still, without net_type, strides and heads), settings
    without split_method, seed or the unlabeled losses. find_model finds it by what it was
    trained with; evaluation, video analysis and the live predictor run it as before."""
    import shutil

    import numpy as np

    from kit.live.predictor import LiveConfig, LivePredictor
    from kit.net.model_query import find_model
    from kit.project import load_project
    from kit.project.analysis_file import load_poses
    from kit.project.video import read_frames
    from kit.results import analyze
    from kit.results.evaluate import evaluate_model

    source, predictor, video = trained_synthetic
    shutil.copytree(source.root, tmp_path / "p")
    project = load_project(tmp_path / "p")
    folder = ModelFolder(project.model_dir(1, 0.75))
    pose = json.loads(folder.pose_config_file.read_text())
    old_pose = {key: pose[key] for key in ("bodyparts", "global_scale", "stride",
                                           "locref_stdev", "train_steps", "crop_hw",
                                           "iteration", "keras_backend")}
    folder.pose_config_file.write_text(json.dumps(old_pose))
    settings = json.loads(folder.train_config_file.read_text())
    for key in ("split_method", "unlabeled_pairs", "rotation_deg"):
        settings.pop(key, None)
    folder.train_config_file.write_text(json.dumps(settings))

    assert find_model(project) == folder and find_model(project, net_type="resnet_50") == folder
    evaluation = evaluate_model(project, folder, pcutoff=0.1)
    assert set(evaluation.table.split) == {"train", "test"}
    config = analyze.AnalyzeConfig(train_fraction=0.75, output_dir=str(tmp_path / "out"),
                                   progress=False, max_frames=6)
    result = analyze.analyze_videos(project, [project.videos_dir / video.name], config)[0]
    poses, bodyparts, individuals = load_poses(result.h5)
    assert poses.shape == (6, 1, len(pose["bodyparts"]), 3) and individuals is None
    live = LivePredictor.load(folder.path, LiveConfig(runtime="keras", warmup_hw=None))
    frame = read_frames(project.videos_dir / video.name, [3])[3]
    np.testing.assert_allclose(live.get_pose(frame), predictor.predict_batch(frame[None])[0],
                               atol=1e-3)
