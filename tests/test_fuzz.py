"""Property-based tests (hypothesis): label files round-trip exactly, targets decode to labels."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kit.net.targets import TargetConfig, decode, make_targets, map_shape
from kit.project import Project
from kit.project.labels import make_labels_frame, read_labels_file, save_labels

# KIT_FUZZ_EXAMPLES=2000 searches harder (e.g. after changing kit.project.labels or kit.net.targets).
FUZZ = settings(max_examples=int(os.environ.get("KIT_FUZZ_EXAMPLES", "40")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow])

# Names as people type them: letters of any script, digits, punctuation, spaces inside.
_CHARS = st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp"),
                       exclude_characters="/\\")
_NAME = st.text(_CHARS, min_size=1, max_size=12).filter(
    lambda s: s.strip() == s and s not in (".", "..") and len(s.encode()) < 100)
_BODYPART = st.text(_CHARS.filter(lambda c: c not in " ,"), min_size=1, max_size=10)
_COORD = st.one_of(
    st.just(float("nan")),
    st.floats(allow_nan=False, allow_infinity=False, width=64),  # any magnitude, subnormals too
    st.floats(-10.0, 5000.0),  # pixel-like values with many decimals
)


@st.composite
def label_tables(draw):
    bodyparts = draw(st.lists(_BODYPART, min_size=1, max_size=4, unique=True))
    scorer = draw(_BODYPART)
    video = draw(_NAME)
    images = draw(st.lists(_NAME, min_size=1, max_size=6, unique=True))
    coords = draw(st.lists(_COORD, min_size=len(images) * len(bodyparts) * 2,
                           max_size=len(images) * len(bodyparts) * 2))
    points = np.array(coords, dtype=np.float64).reshape(len(images), len(bodyparts), 2)
    index = [f"labeled-data/{video}/{name}.png" for name in images]
    return scorer, bodyparts, video, make_labels_frame(points, index, scorer, bodyparts)


@FUZZ
@given(label_tables())
def test_label_tables_round_trip_exactly(table):
    scorer, bodyparts, video, df = table
    with tempfile.TemporaryDirectory(prefix="fuzz é ") as tmp:
        project = Project(root=Path(tmp), config={"scorer": scorer, "bodyparts": bodyparts,
                                                  "Task": "t"})
        path = save_labels(project, video, df)
        assert path.parent.name == video
        for suffix in (".h5", ".csv"):
            back = read_labels_file(path.with_suffix(suffix))
            pd.testing.assert_frame_equal(back, df, check_exact=True, check_names=False)
            assert list(back.index) == list(df.index)
        assert list(back.columns.names) == ["scorer", "bodyparts", "coords"]


@st.composite
def images_with_points(draw):
    height, width = draw(st.integers(1, 300)), draw(st.integers(1, 300))
    stride = draw(st.sampled_from([4, 8, 16]))
    num_parts = draw(st.integers(1, 5))
    x = st.floats(0, width, exclude_max=True)
    y = st.floats(0, height, exclude_max=True)
    points = [[draw(x), draw(y)] if draw(st.integers(0, 4)) else [np.nan, np.nan]
              for _ in range(num_parts)]
    return (height, width), stride, np.array(points, dtype=np.float64)


@FUZZ
@given(images_with_points())
def test_targets_decode_to_the_labels(case):
    (height, width), stride, points = case
    config = TargetConfig(stride=stride, pos_dist_thresh=max(17.0, stride))
    map_hw = map_shape(height, width) if stride == 8 else (
        -(-height // stride), -(-width // stride))
    scmap, weights, locref, _ = make_targets(points, map_hw, config)
    decoded = decode(scmap, locref, config)
    visible = np.isfinite(points).all(axis=1)
    assert (weights[0, 0] == visible).all()
    np.testing.assert_array_equal(decoded[:, 2], visible.astype(float))  # likelihood
    error = np.abs(decoded[visible, :2] - points[visible])
    assert (error <= 0.5).all(), (points, decoded)
