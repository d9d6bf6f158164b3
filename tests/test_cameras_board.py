"""Chessboard corners: sub-pixel positions and the board's own order, on rendered boards."""

import numpy as np
import pytest

from kit.cameras.board import Board, _subpixel_window, detect_corners, detect_views, view_sources
from kit.cameras.calibration_file import read_calibration
from kit.cameras.synthetic import board_poses, board_world_points, make_rig, render_board


def test_corners_of_a_rendered_board_are_found_in_the_board_order():
    rig, board = make_rig(2, (320, 240), seed=1), Board(9, 6, 20.0)
    rng = np.random.default_rng(0)
    errors = []
    for rotation, position in board_poses(6, seed=3):
        for camera in rig.cameras:
            truth = camera.project(board_world_points(board, rotation, position))
            image = render_board(camera, board, rotation, position, rng)
            found = detect_corners(image, board)
            if found is not None:  # steep views may be missed; the others must be exact
                errors.append(np.linalg.norm(found - truth, axis=1))
                # turning the image by 180 degrees must not change which corner is which
                turned = detect_corners(image[::-1, ::-1].copy(), board)
                assert turned is not None
                assert np.abs((np.array([319, 239]) - turned) - found).max() < 0.05
    errors = np.concatenate(errors)
    assert len(errors) >= 6 * board.num_corners
    assert errors.mean() < 0.15 and errors.max() < 0.5  # pixels


def test_a_blank_image_has_no_board():
    assert detect_corners(np.full((240, 320, 3), 128, np.uint8), Board()) is None


def test_detect_views_matches_views_by_order(rig_folder):
    names = read_calibration(rig_folder.calibration).names
    views, corners, size = detect_views(rig_folder.board_pattern, names, Board(9, 6, 20.0))
    assert size == (320, 240) and views[0] == "view000"
    assert corners.shape == (3, 25, 54, 2)
    assert np.isfinite(corners).all(axis=(2, 3)).sum() >= 0.7 * 75


def test_bad_inputs_name_the_fix(tmp_path):
    with pytest.raises(ValueError, match="columns != rows"):
        Board(6, 6)
    with pytest.raises(ValueError, match="{camera}"):
        view_sources(str(tmp_path / "*.png"), "left")
    with pytest.raises(ValueError, match="matches 0 files"):
        view_sources(str(tmp_path / "{camera}*.png"), "left")


def test_subpixel_window_fits_a_foreshortened_board():
    board = Board(9, 6, 20.0)
    c, r = np.meshgrid(np.arange(9) * 30.0, np.arange(6) * 8.0)  # rows 8 px apart
    assert _subpixel_window(np.stack([c.ravel(), r.ravel()], axis=1), board) == (3, 3)
