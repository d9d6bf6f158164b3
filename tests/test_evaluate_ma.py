"""Multi-animal evaluation: matching, errors, OKS mAP/mAR, tracking metrics, evaluate()."""

import numpy as np
import pytest

from kit.net.predict import Predictor
from kit.results import evaluate_ma as ma


def _animals(num_frames=5, num_animals=3, num_parts=4, seed=0, spread=10.0):
    """(N, J, K, 2) labeled animals far apart (100 px in x and y), 2 * spread px across."""
    rng = np.random.default_rng(seed)
    centres = 100.0 * np.arange(num_animals)[None, :, None, None] + 50
    offsets = rng.uniform(-spread, spread, (num_frames, num_animals, num_parts, 2))
    return centres + offsets


def _with_likelihood(points, likelihood=0.9):
    return np.concatenate([points, np.full((*points.shape[:-1], 1), likelihood)], -1)


def test_match_animals_with_shuffled_rows_and_missing_animals():
    truth = _animals()[0]  # (3, 4, 2)
    pred = _with_likelihood(truth[[2, 0, 1]] + 1.0)
    assert ma.match_animals(pred, truth) == [(1, 0), (2, 1), (0, 2)]
    pred[0] = np.nan  # truth animal 2 missed
    truth_missing = truth.copy()
    truth_missing[0] = np.nan  # pred row 1 (animal 0) is an extra animal now
    assert ma.match_animals(pred, truth_missing) == [(2, 1)]
    assert ma.match_animals(pred, truth, max_distance_px=0.5) == []
    with pytest.raises(ValueError, match="pred must be"):
        ma.match_animals(pred[..., :1], truth)


def test_matched_errors_equal_the_noise_and_counts_of_missed_and_extra():
    truth = _animals(num_frames=6)
    rng = np.random.default_rng(1)
    angle = rng.uniform(0, 2 * np.pi, truth.shape[:3])
    noise = 3.0 * np.stack([np.cos(angle), np.sin(angle)], -1)  # every error is 3 px
    pred = _with_likelihood(truth + noise)
    pred = np.stack([p[rng.permutation(3)] for p in pred])  # rows in no order
    errors = ma.matched_errors(pred, truth)
    np.testing.assert_allclose(errors, 3.0)
    truth[0, 1] = np.nan  # frame 0: one animal unlabeled, its prediction is extra
    pred[1, :2] = np.nan  # frame 1: two animals missed
    errors = ma.matched_errors(pred, truth)
    assert np.isnan(errors[0, 1]).all() and np.isnan(errors[1]).sum() == 8
    np.testing.assert_allclose(errors[np.isfinite(errors)], 3.0)
    counts = ma.animal_counts(pred, truth)
    assert counts.num_extra.tolist() == [1, 0, 0, 0, 0, 0]
    assert counts.num_missed.tolist() == [0, 2, 0, 0, 0, 0]
    aligned = ma.align_to_truth(pred, truth)
    assert aligned.shape == pred.shape and np.isfinite(aligned[0, 1]).all()  # extra kept


def test_oks_by_hand():
    truth = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [np.nan, np.nan]])
    pred = np.array([[0.0, 0.0], [12.0, 0.0], [np.nan, np.nan], [50.0, 50.0]])
    # box 10 x 10 (area 100), sigma 0.1: exp(-d^2 / (2 * 100 * 0.04)) = exp(-d^2 / 8);
    # parts: d = 0 -> 1, d = 2 -> exp(-0.5), not predicted -> 0; the unlabeled one ignored
    assert ma.oks(pred, truth) == pytest.approx((1 + np.exp(-0.5) + 0) / 3)
    # margin 5 on each side: area 20 x 20 = 400 -> exp(-4 / 32)
    assert ma.oks(pred, truth, margin=5) == pytest.approx((1 + np.exp(-4 / 32)) / 3)
    assert np.isnan(ma.oks(pred, truth[[0, 3, 3, 3]]))  # one labeled part: no scale


def test_oks_map_perfect_then_worse_with_noise_and_misses():
    truth = _animals(num_frames=8)
    perfect = ma.oks_map(_with_likelihood(truth), truth)
    assert perfect == {"mAP": pytest.approx(100.0), "mAR": pytest.approx(100.0)}
    shuffled = _with_likelihood(truth[:, [1, 2, 0]])
    assert ma.oks_map(shuffled, truth)["mAP"] == pytest.approx(100.0)
    noisy = [ma.oks_map(_with_likelihood(truth + np.random.default_rng(2).normal(
        0, s, truth.shape)), truth) for s in (0.5, 2.0, 5.0)]
    assert 100 > noisy[0]["mAP"] > noisy[1]["mAP"] > noisy[2]["mAP"]
    assert noisy[0]["mAR"] > noisy[2]["mAR"]
    missed = _with_likelihood(truth)
    missed[:, 0] = np.nan  # a third of the animals never found: recall 2/3, precision 1
    result = ma.oks_map(missed, truth)
    assert result["mAR"] == pytest.approx(100 * 2 / 3)
    # precision 1 up to recall 2/3 (67 of the 101 recall points), 0 beyond
    assert result["mAP"] == pytest.approx(100 * 67 / 101)
    extra = _with_likelihood(np.concatenate([truth, truth[:, :1] + 40], 1), 0.9)
    extra[:, 3, :, 2] = 0.1  # an invented animal, least confident: ranked last
    assert ma.oks_map(extra, truth)["mAP"] == pytest.approx(100.0)
    extra[:, 3, :, 2] = 0.95  # ranked first now: precision drops
    assert ma.oks_map(extra, truth)["mAP"] < 100.0


def test_tracking_metrics_count_an_identity_swap():
    truth = _animals(num_frames=10)
    tracks = _with_likelihood(truth + 0.5)
    perfect = ma.tracking_metrics(tracks, truth)
    assert perfect["num_switches"] == 0 and perfect["mota"] == pytest.approx(1.0)
    assert perfect["idf1"] == pytest.approx(1.0)
    swapped = tracks.copy()
    swapped[5:, [0, 1]] = tracks[5:, [1, 0]]  # tracks 0 and 1 trade animals from frame 5 on
    result = ma.tracking_metrics(swapped, truth)
    assert result["num_switches"] == 2  # both animals change track once
    assert result["mota"] == pytest.approx(1 - 2 / 30)
    assert result["idf1"] < 1.0
    lost = tracks.copy()
    lost[:, 2, :, 2] = 0.1  # one track below pcutoff: its animal missed in every frame
    assert ma.tracking_metrics(lost, truth, pcutoff=0.5)["num_misses"] == 10


# --- evaluate() on a multi-animal project, with a fake network ----------------------------

ANIMALS, PARTS, UNIQUE = ["a1", "a2", "a3"], ["snout", "ear", "tail"], ["feeder"]
NOISE_PX = 2.0


class FakePredictor:
    """What evaluate uses of :class:`kit.net.predict.Predictor`: the labels themselves,
    moved NOISE_PX, rows shuffled, some animals missed and one invented. The image's first
    pixel says which frame it is."""

    def __init__(self, truth, layout):
        rng = np.random.default_rng(0)
        self.bodyparts, self.train_steps = layout.bodyparts, 7
        angle = rng.uniform(0, 2 * np.pi, truth.shape[:3])
        pred = truth + NOISE_PX * np.stack([np.cos(angle), np.sin(angle)], -1)
        pred = np.concatenate([pred, np.full((*pred.shape[:3], 1), 0.9)], -1)
        pred[:, :, 1, 2] = 0.2  # every ear below pcutoff
        self.num_missed = 0
        for n in range(len(pred)):
            pred[n, :3] = pred[n, rng.permutation(3)]  # animals in no order; feeder last
        pred[1, 0] = np.nan  # frame 1: one animal missed
        pred[2, 1:3] = np.nan  # frame 2: two missed
        pred[3, 2, :3, :2] = [[300.0, 20.0], [310.0, 25.0], [320.0, 30.0]]  # frame 3: a miss
        # and an extra animal (in the missed one's row)
        self.poses, self.num_rows = pred, pred.shape[1]

    def predict_batch(self, images):
        return self.poses[images[:, 0, 0, 0].astype(int)]

    predict_images = Predictor.predict_images  # evaluate's way in: batches of equal sizes


@pytest.fixture
def ma_project(tmp_path):
    from kit.project import create_project
    from kit.project.labels import make_labels_frame, save_labels
    from kit.project.splits import Split, save_split
    from kit.project.video import save_image

    project = create_project(tmp_path / "p", "group", "me", PARTS, individuals=ANIMALS,
                             uniquebodyparts=UNIQUE, TrainingFraction=[0.5])
    layout = project.layout
    num_frames = 6
    truth = np.full((num_frames, 4, 4, 2), np.nan)  # rows a1 a2 a3 single; parts + feeder
    truth[:, :3, :3] = _animals(num_frames, 3, 3, spread=30.0)
    truth[:, 3, 3] = [200.0, 100.0]
    names = [f"labeled-data/v/img{i:03d}.png" for i in range(num_frames)]
    project.labeled_data_dir("v").mkdir(parents=True)
    for i, name in enumerate(names):
        image = np.zeros((300, 400, 3), np.uint8)
        image[0, 0, 0] = i
        save_image(project.image_path(name), image)
    save_split(Split(tuple(names[:3]), tuple(names[3:]), 0.5, 1, 0),
               project.model_dir(1, 0.5) / "split.json")
    fake = FakePredictor(truth, layout)
    truth[4, 2] = np.nan  # frame 4: a3 not labeled, yet the network finds it: extra
    save_labels(project, "v", make_labels_frame(truth, names, "me", layout.bodyparts, layout))
    return project, truth, fake


def test_evaluate_multi_animal_with_a_fake_network(ma_project, monkeypatch):
    from kit.plots import evaluation_figure
    from kit.project.analysis_file import load_poses
    from kit.results import evaluate

    project, truth, fake = ma_project
    monkeypatch.setattr(evaluate, "Predictor", lambda model_dir: fake)
    result = evaluate.evaluate(project, pcutoff=0.5)
    table = result.table.set_index(["split", "bodypart"])
    # every matched error is NOISE_PX; the ears are all below pcutoff
    np.testing.assert_allclose(table.rmse_px, NOISE_PX)
    assert table.loc[("train", "ear"), "num_above_pcutoff"] == 0
    assert np.isnan(table.loc[("test", "ear"), "rmse_px_pcutoff"])
    assert table.loc[("test", "all"), "rmse_px_pcutoff"] == pytest.approx(NOISE_PX)
    # train frames 0-2: 3 + 3 + 3 animals labeled, 1 missed in frame 1, 2 in frame 2;
    # test frames 3-5: 3 + 2 (a3 unlabeled in frame 4) + 3; frame 3: a miss and an extra
    # animal, frame 4: an extra one (a3, found)
    assert table.loc[("train", "snout"), "num_labels"] == 9 - 3
    assert table.loc[("test", "snout"), "num_labels"] == 8 - 1
    counts = result.animals
    assert counts.num_missed.tolist() == [0, 1, 2, 1, 0, 0]
    assert counts.num_extra.tolist() == [0, 0, 0, 1, 1, 0]
    oks = result.oks
    assert oks.loc["train", "num_missed"] == 3 and oks.loc["test", "num_extra"] == 2
    # mAR: per OKS threshold, the share of labeled animals matched with OKS above it
    for split, frames, num_labeled in (("train", [0, 1, 2], 9), ("test", [3, 4, 5], 8)):
        similarity = [ma.oks(fake.poses[n, i, :3], truth[n, j, :3]) for n in frames
                      for i, j in ma.match_animals(fake.poses[n, :3], truth[n, :3])]
        expected = np.mean([np.sum(np.array(similarity) >= t) for t in ma.OKS_THRESHOLDS])
        assert 0 < oks.loc[split, "mAR"] == pytest.approx(100 * expected / num_labeled)
    assert oks.loc["train", "mAR"] <= 100 * 6 / 9 and oks.loc["test", "mAP"] < 100
    summary = result.summary()
    assert {"mAP", "mAR", "rmse_px"} <= set(summary.columns)
    # files: the table, the counts, 4-level predictions aligned to the labeled animals
    assert (result.folder / "evaluation.csv").is_file() and (result.folder / "oks.csv").is_file()
    poses, parts, individuals = load_poses(result.folder / "predictions.h5")
    assert individuals == [*ANIMALS, "single"] and parts == [*PARTS, *UNIQUE]
    errors = np.linalg.norm(poses[..., :2] - truth[..., :2], axis=-1)  # same image order
    assert np.isfinite(poses[4, 2, :3, :2]).all()  # the extra animal, kept in the free row
    assert np.sort(errors[np.isfinite(errors)])[-1] > 100  # frame 3's: in a missed one's row
    np.testing.assert_allclose(errors[np.isfinite(errors) & (errors < 100)], NOISE_PX)
    assert evaluation_figure(project, result, num_frames=2).is_file()


def test_compare_iterations_matches_animals(ma_project, monkeypatch):
    from kit.results import refine

    project, truth, fake = ma_project
    monkeypatch.setattr(refine, "Predictor", lambda model_dir: fake)
    monkeypatch.setattr(refine, "model_iteration", lambda model_dir: int(str(model_dir)[-1]))
    images = [f"labeled-data/v/img{i:03d}.png" for i in (0, 5)]
    fake.poses[5, 3, 3, :2] = truth[5, 3, 3] + [30.0, 0.0]  # the feeder, far off: still its
    table = refine.compare_iterations(project, ["model0", "model1"], images, pcutoff=0.5)
    assert table.iteration.tolist() == [0] * 5 + [1] * 5  # snout, ear, tail, feeder, all
    table = table.set_index(["iteration", "bodypart"])
    np.testing.assert_allclose(table.rmse_px.drop(["feeder", "all"], level=1), NOISE_PX)
    assert table.loc[(1, "feeder"), "rmse_px"] == pytest.approx((NOISE_PX + 30) / 2)
    assert table.loc[0].num_labels.tolist() == [6, 6, 6, 2, 20]


def test_align_keeps_extra_animals_in_every_frame_not_only_until_one_has_none():
    """A frame without an extra animal must not switch the extras off for later frames."""
    truth = np.array([[[[10.0, 10.0], [20.0, 10.0]]]] * 2)  # (2 frames, 1 animal, 2 parts, 2)
    pred = np.full((2, 2, 2, 3), np.nan)
    pred[:, 0, :, :2], pred[:, 0, :, 2] = truth[:, 0], 0.9  # the labeled animal, both frames
    pred[1, 1] = [[80.0, 80.0, 0.9], [90.0, 80.0, 0.9]]  # an extra one in frame 1 only
    aligned = ma.align_to_truth(pred, truth)
    np.testing.assert_array_equal(aligned[1, 1], pred[1, 1])
    assert np.isnan(aligned[0, 1]).all()
