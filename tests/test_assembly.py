"""Peaks and assembly on ideal maps drawn from known poses of 2-5 animals: every animal is
found exactly, apart and close; extra animals are dropped; missing parts stay NaN; unique
parts land in ``single``; identity maps vote; find_peaks agrees with decode."""

from __future__ import annotations

import time

import numpy as np
import pytest

from kit.net.assembly import AssemblyConfig, pair_affinities, poses_from_maps
from kit.net.peaks import find_peaks, find_peaks_batch
from kit.net.targets import TargetConfig, decode, make_targets

STRIDE, STDEV = 8, 7.2801
TARGETS = TargetConfig(stride=STRIDE, locref_stdev=STDEV)
MOUSE = ["snout", "leftear", "rightear", "tailbase"]
MOUSE_GRAPH = [[0, 1], [0, 2], [1, 3], [2, 3]]
PAF_HALF_WIDTH = 10.0  # input pixels either side of a limb


def mouse(centre, heading_deg, length=60.0) -> np.ndarray:
    """(4, 2) snout, leftear, rightear, tailbase of an animal ``length`` px long."""
    u = np.array([np.cos(np.radians(heading_deg)), np.sin(np.radians(heading_deg))])
    v = np.array([-u[1], u[0]])
    c = np.asarray(centre, float)
    return np.stack([c + length / 2 * u, c + length / 4 * u + length / 6 * v,
                     c + length / 4 * u - length / 6 * v, c - length / 2 * u])


def worm(centre, heading_deg, num_parts=10, length=90.0) -> np.ndarray:
    """(num_parts, 2) points evenly along a straight body."""
    u = np.array([np.cos(np.radians(heading_deg)), np.sin(np.radians(heading_deg))])
    t = np.linspace(0.5, -0.5, num_parts)[:, None] * length
    return np.asarray(centre, float) + t * u


def worm_graph(num_parts):
    """A chain plus skip edges every 3 parts (13 edges for 10 parts)."""
    return [[i, i + 1] for i in range(num_parts - 1)] + [
        [i, i + 3] for i in range(0, num_parts - 3, 2)]


def _cell_centres(h, w):
    return np.arange(w) * STRIDE + STRIDE / 2, np.arange(h) * STRIDE + STRIDE / 2


def ideal_maps(animals, graph, map_hw=(60, 80), heights=None, unique=None,
               identity=False, shape="gaussian"):
    """The maps a perfect network would give for ``animals``.

    animals: (M, K, 2) x, y input pixels, NaN = missing (not drawn); unique: (U, 2) or
    None, appended as the last body parts; heights: (M,) peak scores (default 1);
    shape: "gaussian" (sigma one stride) or "disk" (flat, radius 17 px, ties).
    Returns maps (1, h, w, C) float32 as Predictor.predict_maps gives them.
    """
    animals = np.asarray(animals, float)
    num_animals, num_multi = animals.shape[:2]
    parts = [[animals[m, k] for m in range(num_animals)] for k in range(num_multi)]
    part_heights = [list(np.ones(num_animals) if heights is None else heights)] * num_multi
    if unique is not None:
        parts += [[np.asarray(p, float)] for p in unique]
        part_heights += [[1.0]] * len(unique)
    h, w = map_hw
    cx, cy = _cell_centres(h, w)
    scores = np.zeros((h, w, len(parts)))
    locref = np.zeros((h, w, 2 * len(parts)))
    for k, (points, tops) in enumerate(zip(parts, part_heights)):
        for (x, y), top in zip(points, tops):
            if not np.isfinite(x):
                continue
            d2 = (cx[None, :] - x) ** 2 + (cy[:, None] - y) ** 2
            s = top * (np.exp(-d2 / (2 * STRIDE**2)) if shape == "gaussian" else d2 <= 17**2)
            wins = s > scores[:, :, k]
            scores[:, :, k] = np.where(wins, s, scores[:, :, k])
            locref[:, :, 2 * k] = np.where(wins, (x - cx[None, :]) / STDEV, locref[:, :, 2 * k])
            locref[:, :, 2 * k + 1] = np.where(wins, (y - cy[:, None]) / STDEV,
                                               locref[:, :, 2 * k + 1])
    maps = {"part_pred": scores, "locref": locref, "paf": _pafs(animals, graph, h, w)}
    if identity:
        maps["identity"] = _identity(animals, h, w)
    return {key: value[None].astype(np.float32) for key, value in maps.items()}


def _pafs(animals, graph, h, w):
    """Unit vectors from part a to part b within PAF_HALF_WIDTH of each limb; the mean
    where limbs overlap."""
    cx, cy = _cell_centres(h, w)
    px, py = np.meshgrid(cx, cy)
    paf = np.zeros((h, w, 2 * len(graph)))
    for e, (a, b) in enumerate(graph):
        total, count = np.zeros((h, w, 2)), np.zeros((h, w, 1))
        for pose in animals:
            start, end = pose[a], pose[b]
            if not (np.isfinite(start).all() and np.isfinite(end).all()):
                continue
            delta = end - start
            unit = delta / np.linalg.norm(delta)
            t = np.clip(((px - start[0]) * delta[0] + (py - start[1]) * delta[1])
                        / (delta @ delta), 0, 1)
            near = np.hypot(px - start[0] - t * delta[0],
                            py - start[1] - t * delta[1]) <= PAF_HALF_WIDTH
            total[near] += unit
            count[near] += 1
        paf[:, :, 2 * e:2 * e + 2] = total / np.maximum(count, 1)
    return paf


def _identity(animals, h, w):
    """Channel m is 1 within 17 px of animal m's keypoints."""
    cx, cy = _cell_centres(h, w)
    out = np.zeros((h, w, len(animals)))
    for m, pose in enumerate(animals):
        for x, y in pose[np.isfinite(pose).all(axis=1)]:
            out[:, :, m] = np.maximum(out[:, :, m], ((cx[None, :] - x) ** 2
                                                     + (cy[:, None] - y) ** 2) <= 17**2)
    return out


def pose_config(num_multi, graph, num_individuals, unique=()):
    names = [f"part{k}" for k in range(num_multi)]
    return {"bodyparts": [*names, *unique], "unique_bodyparts": list(unique),
            "individuals": [f"animal{i + 1}" for i in range(num_individuals)],
            "paf_graph": graph, "identity": False, "stride": STRIDE, "locref_stdev": STDEV}


def assert_same_animals(found, truth, tol=0.01):
    """Each true animal is one row of ``found`` (rows in any order), within ``tol`` px;
    parts missing from the truth are NaN."""
    used = set()
    for pose in truth:
        visible = np.isfinite(pose).all(axis=1)
        errors = [np.nanmax(np.abs(row[visible, :2] - pose[visible])) for row in found]
        best = int(np.argmin(errors))
        assert errors[best] < tol, f"animal {pose.tolist()} not found; rows: {found}"
        assert best not in used, f"two animals in row {best}"
        used.add(best)
        assert np.isnan(found[best, ~visible]).all()


LAYOUTS = {
    "apart": [mouse((120, 120), 0), mouse((450, 150), 100), mouse((300, 380), 225)],
    # within one body length (60 px), limbs not overlapping
    "side_by_side": [mouse((300, 200), 0), mouse((300, 245), 0), mouse((300, 290), 0)],
    "head_to_tail": [mouse((250, 240), 0), mouse((320, 240), 0), mouse((280, 300), 180)],
    "crossing_paths": [mouse((300, 240), 45), mouse((350, 190), 135), mouse((245, 180), 90)],
    "two": [mouse((200, 200), 30), mouse((250, 250), 30)],
    "four": [mouse((150, 120), 0), mouse((150, 170), 0), mouse((400, 300), 90),
             mouse((450, 300), 90)],
}


def _disks_apart(layout):
    """Whether no two disks (17 px) of one body part touch: touching flat disks are one
    plateau, i.e. one peak, on any readout."""
    truth = np.array(LAYOUTS[layout])
    d = np.linalg.norm(truth[:, None] - truth[None], axis=-1)  # (M, M, K)
    return d[~np.eye(len(truth), dtype=bool)].min() > 2 * 17 + STRIDE


CASES = [(layout, "gaussian") for layout in sorted(LAYOUTS)] + [
    (layout, "disk") for layout in sorted(LAYOUTS) if _disks_apart(layout)]


@pytest.mark.parametrize(("layout", "shape"), CASES)
@pytest.mark.parametrize("greedy", [False, True])
def test_every_animal_is_assembled_exactly(layout, shape, greedy):
    truth = np.array(LAYOUTS[layout])
    maps = ideal_maps(truth, MOUSE_GRAPH, shape=shape)
    poses, identity, dropped = poses_from_maps(
        maps, pose_config(4, MOUSE_GRAPH, len(truth)), AssemblyConfig(greedy=greedy))
    assert poses.shape == (1, len(truth), 4, 3) and identity is None
    assert dropped.tolist() == [0]
    assert_same_animals(poses[0], truth)
    # the peak cell is within half a cell diagonal of the keypoint: exp(-32 / 128) > 0.77
    assert np.all(poses[0, :, :, 2] > 0.77 if shape == "gaussian" else poses[0, :, :, 2] == 1)


@pytest.mark.parametrize("seed", range(4))
def test_random_worms_many_parts(seed):
    rng = np.random.default_rng(seed)
    graph = worm_graph(10)
    truth = np.array([worm(c, a) for c, a in zip([(140, 120), (480, 140), (320, 360)],
                                                 rng.uniform(0, 360, 3))])
    truth += rng.uniform(-20, 20, (3, 1, 2))
    poses, _, dropped = poses_from_maps(ideal_maps(truth, graph), pose_config(10, graph, 3))
    assert dropped.tolist() == [0]
    assert_same_animals(poses[0], truth)


@pytest.mark.parametrize("seed", range(3))
def test_noisy_maps_close_animals(seed):
    # what a trained network gives: scores and fields off by noise, fields weaker
    rng = np.random.default_rng(seed)
    truth = np.array(LAYOUTS["side_by_side"])
    maps = ideal_maps(truth, MOUSE_GRAPH)
    maps["part_pred"] = np.clip(maps["part_pred"] * rng.uniform(0.7, 1.0)
                                + rng.uniform(0, 0.08, maps["part_pred"].shape), 0, 1)
    maps["paf"] = 0.6 * maps["paf"] + rng.normal(0, 0.2, maps["paf"].shape)
    poses, _, dropped = poses_from_maps(maps, pose_config(4, MOUSE_GRAPH, 3))
    assert dropped.tolist() == [0]
    assert_same_animals(poses[0], truth)


def test_extra_animals_are_dropped():
    truth = np.array(LAYOUTS["apart"] + [mouse((500, 400), 0), mouse((100, 400), 300)])
    heights = [1.0, 0.95, 0.9, 0.6, 0.5]  # the last two are the weakest
    maps = ideal_maps(truth, MOUSE_GRAPH, heights=heights, shape="disk")
    poses, _, dropped = poses_from_maps(maps, pose_config(4, MOUSE_GRAPH, 3))
    assert dropped.tolist() == [2]
    assert_same_animals(poses[0], truth[:3])
    assert poses[0, :, 0, 2].tolist() == pytest.approx(heights[:3])  # best first


def test_missing_parts_are_nan_not_wrong_points():
    truth = np.array(LAYOUTS["side_by_side"])
    truth[0, 1] = np.nan  # leftear of animal 0 not drawn
    truth[2, 3] = np.nan  # tailbase of animal 2 not drawn
    maps = ideal_maps(truth, MOUSE_GRAPH)
    poses, _, _ = poses_from_maps(maps, pose_config(4, MOUSE_GRAPH, 3))
    assert_same_animals(poses[0], truth)
    assert np.isnan(poses[0]).any(axis=2).sum() == 2


def test_below_threshold_is_missing_and_empty_rows_are_nan():
    truth = np.array(LAYOUTS["two"])
    maps = ideal_maps(truth, MOUSE_GRAPH)
    maps["part_pred"][..., 3] *= 0.05  # every tailbase below peak_threshold 0.1
    poses, _, dropped = poses_from_maps(maps, pose_config(4, MOUSE_GRAPH, 3))
    truth[:, 3] = np.nan
    assert_same_animals(poses[0, :2], truth)
    assert np.isnan(poses[0, 2]).all() and dropped.tolist() == [0]


def test_empty_frame_is_all_nan():
    maps = ideal_maps(np.full((1, 4, 2), np.nan), MOUSE_GRAPH, identity=True)
    poses, identity, dropped = poses_from_maps(maps, pose_config(4, MOUSE_GRAPH, 1))
    assert np.isnan(poses).all() and np.isnan(identity).all() and dropped.tolist() == [0]


def test_unique_bodyparts_in_single_row():
    truth = np.array(LAYOUTS["two"])
    unique = np.array([[600.0, 40.0], [33.3, 444.4]])
    maps = ideal_maps(truth, MOUSE_GRAPH, unique=unique)
    pose = pose_config(4, MOUSE_GRAPH, 2, unique=("feeder", "light"))
    poses, _, _ = poses_from_maps(maps, pose)
    assert poses.shape == (1, 3, 6, 3)
    assert np.allclose(poses[0, 2, 4:, :2], unique, atol=0.01)
    assert np.isnan(poses[0, 2, :4]).all() and np.isnan(poses[0, :2, 4:]).all()
    assert_same_animals(poses[0, :2, :4], truth)


def test_identity_votes_pick_the_identity():
    truth = np.array(LAYOUTS["head_to_tail"])
    maps = ideal_maps(truth, MOUSE_GRAPH, identity=True)
    poses, identity, _ = poses_from_maps(maps, pose_config(4, MOUSE_GRAPH, 3))
    assert identity.shape == (1, 3, 3)
    for row in range(3):
        animal = np.argmin(np.abs(poses[0, row, :, :2] - truth).max(axis=(1, 2)))
        assert identity[0, row].argmax() == animal and identity[0, row, animal] == 1.0


def test_batch_of_frames_and_bad_maps():
    frames = [ideal_maps(np.array(LAYOUTS[k]), MOUSE_GRAPH) for k in ("apart", "crossing_paths")]
    maps = {key: np.concatenate([f[key] for f in frames]) for key in frames[0]}
    poses, _, dropped = poses_from_maps(maps, pose_config(4, MOUSE_GRAPH, 3))
    assert poses.shape == (2, 3, 4, 3) and dropped.tolist() == [0, 0]
    assert_same_animals(poses[1], np.array(LAYOUTS["crossing_paths"]))
    with pytest.raises(ValueError, match="paf"):
        poses_from_maps({**maps, "paf": maps["paf"][..., :4]}, pose_config(4, MOUSE_GRAPH, 3))
    with pytest.raises(ValueError, match="paf_graph"):
        poses_from_maps(maps, pose_config(4, [[0, 7]], 3))


def test_line_integral_by_hand():
    # edge 1's field is (1, 0) everywhere (edge 0's is 0): a horizontal segment scores 1,
    # a vertical one 0, the reverse direction -1, a point 0.
    paf = np.zeros((10, 10, 4))
    paf[..., 2] = 1.0
    start = np.array([[12.0, 12.0]] * 5)
    end = np.array([[60.0, 12.0], [12.0, 60.0], [-30.0, 12.0], [12.0, 12.0], [60.0, 12.0]])
    edge = np.array([1, 1, 1, 1, 0])
    assert pair_affinities(paf, start, end, edge, 10, STRIDE) == pytest.approx([1, 0, -1, 0, 0])
    # samples x = 12 + 48 k / 9 fall in columns 1, 2, 2, 3, 4, 4, 5, 6, 6, 7: with the
    # field on columns 0-3 only, 4 of 10 samples are on it
    paf[:, 4:, 2] = 0.0
    part = pair_affinities(paf, start[:1], np.array([[60.0, 12.0]]), edge[:1], 10, STRIDE)
    assert part == pytest.approx([0.4])


def test_find_peaks_nms_radius():
    # two unit peaks 24 px apart on one part: kept with radius 16, one left with radius 30
    scores, _, locref, _ = make_targets(np.array([[100.0, 100.0]]), (30, 30),
                                        TargetConfig(pos_dist_thresh=4.0))
    other = np.zeros_like(scores)
    other[12, 12 - 3, 0] = 0.8  # cell centre (100 - 24, 100)
    both = np.maximum(scores, other)
    assert len(find_peaks(both, locref, 0.1, 16.0, TARGETS)[0]) == 2
    kept = find_peaks(both, locref, 0.1, 30.0, TARGETS)[0]
    assert len(kept) == 1 and kept[0, 2] == 1.0
    assert len(find_peaks(both, locref, 0.9, 16.0, TARGETS)[0]) == 1  # threshold
    # a flat plateau (disk) gives one peak, at the label after locref
    disk, _, disk_locref, _ = make_targets(np.array([[100.0, 100.0]]), (30, 30))
    peaks = find_peaks(disk, disk_locref, 0.1, 0.0, TARGETS)[0]
    assert peaks.shape == (1, 3) and np.allclose(peaks[0, :2], [100, 100])


@pytest.mark.parametrize("seed", range(5))
def test_best_peak_agrees_with_decode(seed):
    rng = np.random.default_rng(seed)
    scores = rng.random((2, 20, 30, 5)).astype(np.float32)
    locref = rng.normal(size=(2, 20, 30, 10)).astype(np.float32)
    best = decode(scores, locref, TARGETS)
    batch = find_peaks_batch(scores, locref, 0.0, 16.0, TARGETS)
    for n in range(2):
        single = find_peaks(scores[n], locref[n], 0.0, 16.0, TARGETS)
        for k in range(5):
            assert np.array_equal(single[k], batch[n][k])
            assert np.allclose(single[k][0], best[n, k])
            assert np.all(np.diff(single[k][:, 2]) <= 0)  # highest first
    assert find_peaks(scores[0], None, 2.0, 16.0, TARGETS)[0].shape == (0, 3)


@pytest.mark.parametrize("num_parts", [4, 10])
def test_report_time_per_frame(num_parts):
    """Not a speed assertion (benchmarks measure speed): prints ms per 640x480 frame."""
    if num_parts == 4:
        graph, truth = MOUSE_GRAPH, np.array(LAYOUTS["side_by_side"])
    else:
        graph = worm_graph(10)
        truth = np.array([worm((140, 120), 20), worm((480, 140), 80), worm((320, 360), 160)])
    maps = ideal_maps(truth, graph)
    pose = pose_config(num_parts, graph, 3)
    poses_from_maps(maps, pose)
    wall, cpu = [], []  # CPU time too: on a shared machine wall time counts the others
    for _ in range(5):
        start, start_cpu = time.perf_counter(), time.process_time()
        for _ in range(20):
            poses, _, _ = poses_from_maps(maps, pose)
        wall.append((time.perf_counter() - start) / 20 * 1e3)
        cpu.append((time.process_time() - start_cpu) / 20 * 1e3)
    print(f"\nassembly of one 80x60 frame, 3 animals, {num_parts} parts: {min(wall):.2f} ms "
          f"wall, {min(cpu):.2f} ms CPU (best of 5 x 20)")
    assert_same_animals(poses[0], truth)
