"""kit on every Keras backend: the same weights predict the same positions on TensorFlow,
JAX and PyTorch, training runs on each, and the multi-animal heads and losses compute (one
subprocess per backend, as KERAS_BACKEND is read once per process). A backend whose framework is not installed is skipped."""

import importlib.util
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from conftest import REPO

from kit.net.model import build_model
from kit.net.predict import Predictor

FRAMEWORK = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}

# Run in a fresh interpreter with KERAS_BACKEND set: predict the fixed images with the
# reference model, then train a tiny run per precision and predict with its model.
WORKER = """
import json, sys
from pathlib import Path
import keras, numpy as np
sys.path.insert(0, {tests!r})
from conftest import make_blob_project
from kit.net import train
from kit.net.data import AugmentConfig
from kit.net.predict import Predictor

out = Path({out!r})
np.save(out / "positions.npy", Predictor({model_dir!r}).predict_batch(np.load({images!r})))
project = make_blob_project(out / "project")
logs = {{}}
for shuffle, precision in enumerate({precisions!r}, 1):
    config = train.TrainConfig(shuffle=shuffle, train_steps={steps}, batch_size=2, save_every=1,
                               optimizer="adam", precision=precision, weights=None,
                               augment=AugmentConfig(crop_size=(64, 64)))
    model_dir = train.train(project, config, verbose=0)
    logs[precision] = train.read_train_log(model_dir)["loss"].tolist()
    positions = Predictor(model_dir).predict_batch(np.load({images!r}))
    assert np.isfinite(positions).all(), positions
# the multi-animal heads and losses: forward pass and losses in keras.ops alone
from kit.net.model import build_model, identity_loss, paf_loss
maps = build_model(3, weights=None, num_limbs=2, num_identities=2)(np.load({images!r}).astype("float32"))
paf, identity = (keras.ops.convert_to_numpy(m) for m in maps[2:])
assert paf.shape[-1] == 4 and identity.shape[-1] == 2, (paf.shape, identity.shape)
for loss, pred in ((paf_loss, paf), (identity_loss, identity)):
    packed = np.concatenate([np.zeros_like(pred), np.ones_like(pred)], -1)
    assert np.isfinite(float(keras.ops.convert_to_numpy(loss(packed, pred))))
print(json.dumps({{"backend": keras.backend.backend(), "losses": logs}}))
"""


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """A model folder with seeded random weights, fixed images, and this process's predictions."""
    root = tmp_path_factory.mktemp("backends")
    keras.utils.set_random_seed(3)
    model_dir = root / "model"
    model_dir.mkdir()
    build_model(2).save(model_dir / "model.keras")
    (model_dir / "pose_config.json").write_text(json.dumps({
        "bodyparts": ["a", "b"], "global_scale": 0.8, "stride": 8, "locref_stdev": 7.2801,
        "train_steps": 0}))
    images = np.random.default_rng(0).integers(0, 256, (2, 64, 80, 3)).astype(np.uint8)
    np.save(root / "images.npy", images)
    return root, model_dir, Predictor(model_dir).predict_batch(images)


def _run_worker(backend, reference, tmp_path, precisions, steps) -> dict:
    if backend == keras.backend.backend():
        pytest.skip(f"{backend} is this process's backend: it made the reference predictions")
    if importlib.util.find_spec(FRAMEWORK[backend]) is None:
        pytest.skip(f"{FRAMEWORK[backend]} is not installed (pip install -e '.[{backend}]')")
    root, model_dir, expected = reference
    code = WORKER.format(tests=str(REPO / "tests"), out=str(tmp_path), model_dir=str(model_dir),
                         images=str(root / "images.npy"), precisions=precisions, steps=steps)
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=900, check=False, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["backend"] == backend
    positions = np.load(tmp_path / "positions.npy")
    np.testing.assert_allclose(positions[..., :2], expected[..., :2], atol=1e-3)  # pixels
    np.testing.assert_allclose(positions[..., 2], expected[..., 2], atol=1e-4)  # likelihood
    for precision, losses in report["losses"].items():
        assert len(losses) == steps and np.isfinite(losses).all(), (precision, losses)
    return report


@pytest.mark.parametrize("backend", ["tensorflow", "jax", "torch"])
def test_same_weights_same_predictions_and_a_training_step(backend, reference, tmp_path):
    _run_worker(backend, reference, tmp_path, ["float32"], steps=1)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["tensorflow", "jax", "torch"])
def test_mixed_precision_trains_on_every_backend(backend, reference, tmp_path):
    _run_worker(backend, reference, tmp_path, ["mixed_bfloat16", "mixed_float16"], steps=2)


def test_mixed_precision_policy_is_applied_to_the_model_only():
    from kit.net.train import TrainConfig, _compiled_model

    before = keras.config.dtype_policy().name
    model = _compiled_model(2, TrainConfig(precision="mixed_bfloat16", optimizer="adam", weights=None))
    assert keras.config.dtype_policy().name == before  # the global policy is left as it was
    assert model.get_layer("conv1_conv").compute_dtype == "bfloat16"
    assert model.get_layer("conv1_conv").variable_dtype == "float32"
    assert [t.dtype for t in model.outputs] == ["float32", "float32"]  # the heads
