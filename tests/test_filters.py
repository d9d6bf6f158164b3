"""Filters on signals whose answers can be worked out by hand."""

import numpy as np
import pandas as pd
import pytest

from kit.project.analysis_file import predictions_frame
from kit.results import filters


def test_median_filter_removes_a_spike():
    signal = np.array([1.0, 2, 3, 100, 5, 6, 7])
    out = filters.median_filter(signal, 3)
    np.testing.assert_array_equal(out, [1.5, 2, 3, 5, 6, 6, 6.5])  # ends: median of 2
    with_gap = filters.median_filter(np.array([1.0, np.nan, 3, 4]), 3)
    np.testing.assert_array_equal(with_gap, [1, np.nan, 3.5, 3.5])


@pytest.mark.parametrize("window,order", [(5, 2), (7, 3), (9, 3), (5, 0)])
def test_savgol_keeps_polynomials_up_to_its_order(window, order):
    t = np.arange(30, dtype=np.float64)
    polynomial = np.polyval(np.arange(1, order + 2) * 0.1, t)  # degree == order
    np.testing.assert_allclose(filters.savgol_filter(polynomial, window, order), polynomial,
                               atol=1e-8 * np.abs(polynomial).max())


def test_savgol_smooths_noise_and_matches_the_known_kernel():
    # Savitzky-Golay's classic 5-point quadratic kernel: (-3, 12, 17, 12, -3) / 35.
    np.testing.assert_allclose(filters.savgol_coefficients(5, 2)[0],
                               np.array([-3, 12, 17, 12, -3]) / 35)
    rng = np.random.default_rng(0)
    noisy = np.sin(np.linspace(0, 3, 200)) + rng.normal(0, 0.1, 200)
    smooth = filters.savgol_filter(noisy, 11, 3)
    assert np.std(smooth - np.sin(np.linspace(0, 3, 200))) < 0.06


def test_savgol_filters_each_stretch_between_gaps():
    line = np.arange(20, dtype=np.float64)
    line[[5, 6]] = np.nan
    out = filters.savgol_filter(line, 7, 1)
    np.testing.assert_allclose(out, line, atol=1e-9)  # a line stays a line, short stretches too
    assert np.isnan(out[[5, 6]]).all()


def test_fill_gaps_interpolates_short_gaps_only():
    signal = np.array([0.0, np.nan, np.nan, 3, np.nan, np.nan, np.nan, np.nan, 8, np.nan])
    out = filters.fill_gaps(signal, max_gap=3)
    np.testing.assert_array_equal(out[:4], [0, 1, 2, 3])
    assert np.isnan(out[4:8]).all() and out[8] == 8 and np.isnan(out[9])  # too long; at the end
    np.testing.assert_array_equal(filters.fill_gaps(signal, max_gap=4)[3:9], [3, 4, 5, 6, 7, 8])


def test_low_likelihood_points_are_gaps():
    x = np.array([0.0, 1, 50, 3, 4, 5])
    p = np.array([1.0, 1, 0.1, 1, 1, 1])
    points = np.stack([x, 2 * x, p], axis=1)[:, None, None, :]  # (N, 1, 1, 3)
    config = filters.FilterConfig(method="median", window=3, pcutoff=0.5, max_gap=1)
    out = filters.filter_points(points, config)
    np.testing.assert_array_equal(out[:, 0, 0, 0], [0.5, 1, 2, 3, 4, 4.5])  # 50 replaced by 2
    np.testing.assert_array_equal(out[:, 0, 0, 1], 2 * out[:, 0, 0, 0])
    np.testing.assert_array_equal(out[:, 0, 0, 2], p)  # likelihood kept as analysed
    long_gap = filters.FilterConfig(method="savgol", window=3, order=1, pcutoff=0.5, max_gap=0)
    assert np.isnan(filters.filter_points(points, long_gap)[2, 0, 0, :2]).all()


def test_filter_analysis_writes_deeplabcut_filtered_file(tmp_path):
    t = np.arange(12, dtype=np.float64)
    points = np.stack([t, t + 1, np.ones_like(t)], axis=1)[:, None, :].repeat(2, axis=1)
    points[4, 1] = [99, 99, 0.01]
    points = points[:, None]  # one individual
    h5 = tmp_path / "videoDLC_resnet50_xshuffle1_5.h5"
    df = predictions_frame(points, range(12), "DLC_resnet50_xshuffle1_5", ["a", "b"])
    df.to_hdf(h5, key="df_with_missing", format="table")
    config = filters.FilterConfig(method="savgol", window=5, order=2, pcutoff=0.5, save_csv=True)
    out = filters.filter_analysis(h5, config)
    assert out.name == "videoDLC_resnet50_xshuffle1_5_filtered.h5"
    assert out.with_suffix(".csv").is_file()
    filtered = pd.read_hdf(out, key="df_with_missing")
    assert filtered.columns.equals(df.columns) and filtered.index.equals(df.index)
    values = filtered.to_numpy().reshape(12, 2, 3)
    np.testing.assert_allclose(values[:, :, 0], np.stack([t, t], 1), atol=1e-9)  # 99 -> 4


def test_bad_settings_are_rejected():
    for kw in ({"method": "mean"}, {"window": 4}, {"method": "savgol", "order": 5},
               {"pcutoff": 2}, {"max_gap": -1}):
        with pytest.raises(ValueError):
            filters.FilterConfig(**kw)
