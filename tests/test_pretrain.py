"""Pretraining on the project's own frames: masks, batches, the run, and 03_train's weights."""

import numpy as np
import pytest

from kit.net.pretrain import (
    PretrainConfig,
    feature_model,
    make_batch,
    masked_mse,
    patch_mask,
    pretrain,
    pretrain_on_frames,
    pretrained_source,
    pretraining_seconds,
    project_videos,
    reconstruct,
    sample_frames,
)

TINY = dict(net_type="mobilenet_v2_0.35", crop_size=64, batch_size=4, num_frames=12,
            scale=1.0, learning_rate=3e-3)


def test_patch_mask_masks_the_asked_share_of_whole_patches():
    mask = patch_mask(128, 32, 0.6, np.random.default_rng(0))
    cells = mask.reshape(4, 32, 4, 32).mean(axis=(1, 3))
    assert set(np.unique(cells)) == {0.0, 1.0}  # whole patches, nothing in between
    assert cells.sum() == round(0.6 * 16)


def test_batches_grey_out_the_masked_pixels_and_depend_on_seed_and_step_only():
    frames = [np.full((80, 90, 3), v, np.uint8) for v in (10, 200, 90)]
    config = PretrainConfig(**TINY)
    masked, targets = make_batch(frames, config, step=3)
    again, _ = make_batch(frames, config, step=3)
    other, _ = make_batch(frames, config, step=4)
    assert masked.shape == (4, 64, 64, 3) and targets.shape == (4, 64, 64, 4)
    np.testing.assert_array_equal(masked, again)
    assert not np.array_equal(masked, other)
    mask = targets[..., 3].astype(bool)
    assert np.all(masked[mask] == 127.5)
    np.testing.assert_allclose(masked[~mask] / 127.5 - 1, targets[..., :3][~mask], atol=1e-6)


def test_masked_mse_counts_only_the_masked_pixels():
    target = np.zeros((1, 2, 2, 4), np.float32)
    target[0, 0, 0, 3] = 1  # one masked pixel
    pred = np.zeros((1, 2, 2, 3), np.float32)
    pred[0, 1, 1] = 5.0  # wrong where unmasked: ignored
    pred[0, 0, 0] = 2.0  # wrong by 2 on each channel where masked
    assert float(np.asarray(masked_mse(target, pred))[0]) == pytest.approx(4.0)


def test_bad_settings_are_refused_with_the_value():
    with pytest.raises(ValueError, match="multiple of mobilenet_v2_0.35's stride 32"):
        PretrainConfig(net_type="mobilenet_v2_0.35", crop_size=48)
    with pytest.raises(ValueError, match="mask_ratio"):
        PretrainConfig(mask_ratio=1.0)


def test_pretraining_logs_from_grey_fill_and_03_train_starts_from_its_backbone(small_synthetic,
                                                                           tmp_path):
    from kit.net.model import build_model

    frames = sample_frames(project_videos(small_synthetic), 12, span=(0.0, 0.5))
    assert len(frames) == 12 and frames[0].shape == (48, 64, 3)
    config = PretrainConfig(train_steps=4, **TINY)
    result = pretrain_on_frames(frames, config, tmp_path / "b.weights.h5", verbose=0)
    assert result.weights_file.is_file() and (tmp_path / "b.json").is_file()
    assert 0 < pretraining_seconds(result.weights_file) <= result.seconds  # recorded beside it
    assert np.isnan(pretraining_seconds(tmp_path / "other.weights.h5"))  # no settings file
    losses = result.log["loss"].to_numpy()
    # Whether it helps a pose network is benchmarks/pretrain_bench.py's question; here: the
    # loss is logged per interval, and the decoder starts at grey fill (zero weights), whose
    # masked error is the mean squared pixel of the masked patches (-1..1).
    masked, targets = make_batch(frames, config, 0)
    grey = float(np.mean(np.asarray(masked_mse(targets, np.zeros_like(masked)))))
    assert len(losses) == 4 and np.all(np.isfinite(losses))
    assert losses[0] == pytest.approx(grey, rel=1e-4)
    originals, masked, filled = reconstruct(result.model, frames, config)
    assert originals.shape == masked.shape == filled.shape == (4, 64, 64, 3)

    model = build_model(3, weights=str(result.weights_file), net_type="mobilenet_v2_0.35")
    trained = feature_model("mobilenet_v2_0.35")
    trained.load_weights(result.weights_file)
    for name in ("Conv1", "block_16_project"):
        for got, want in zip(model.get_layer(name).get_weights(),
                             trained.get_layer(name).get_weights()):
            np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match="holds no resnet_50 backbone weights"):
        build_model(3, weights=str(result.weights_file), net_type="resnet_50")


def test_pretrain_saves_in_the_project_and_names_the_folder_without_videos(tmp_path):
    from kit.experiments.synthetic import SyntheticConfig, make_synthetic_project

    project = make_synthetic_project(tmp_path / "p", SyntheticConfig(
        image_size=(64, 64), num_frames=10, num_labeled=2))
    result = pretrain(project, PretrainConfig(train_steps=2, **TINY), verbose=0)
    assert result.weights_file == (project.root / "kit-models" / "pretrained"
                                   / "mobilenet_v2_0.35-mask2.weights.h5")
    assert result.weights_file.is_file()
    for video in project.videos_dir.iterdir():
        video.unlink()
    with pytest.raises(FileNotFoundError, match="No videos in .*videos"):
        pretrain(project, PretrainConfig(train_steps=2, **TINY), verbose=0)


def test_a_weights_file_that_fills_part_of_the_backbone_stops_with_the_fix(monkeypatch):
    import warnings

    import kit.net.pretrain as pretrain_module

    class HalfFilled:  # Keras's load of a file lacking some layers: warns, keeps fresh weights
        def load_weights(self, path):
            warnings.warn("Skipping variable loading for layer 'Conv1': no matching group",
                          UserWarning)

    monkeypatch.setattr(pretrain_module, "feature_model", lambda net_type: HalfFilled())
    with pytest.raises(ValueError, match=r"b\.weights\.h5 fills only part of a "
                                         r"mobilenet_v2_0\.35 backbone \(1 of its layers.*07_pretrain"):
        pretrained_source("b.weights.h5", "mobilenet_v2_0.35")
