"""The drawn animal: its body part positions are where the drawing puts them."""

import cv2
import numpy as np

from kit.experiments.synthetic import SyntheticConfig, load_ground_truth, make_synthetic_project
from kit.project.labels import load_labels


def test_left_ear_is_on_the_animals_left(small_synthetic):
    truth = load_ground_truth(small_synthetic, "animal1", include_occluded=True)
    snout, left, right, tailbase = (truth[:, i] for i in range(4))
    heading, to_left, to_right = snout - tailbase, left - tailbase, right - tailbase

    def cross(a, b):
        return a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]

    # y points down, so "left of the heading" is a negative cross product.
    assert (cross(heading, to_left) < 0).all() and (cross(heading, to_right) > 0).all()


def test_labeled_images_show_the_animal_at_the_labels(tmp_path):
    width, height = 128, 96
    project = make_synthetic_project(tmp_path / "p",
        SyntheticConfig(seed=5, num_frames=120, num_labeled=40, image_size=(width, height)))
    labels = load_labels(project)
    images = np.stack([cv2.imread(str(project.image_path(i))) for i in labels.index]).astype(int)
    assert images.shape == (40, height, width, 3)
    background = np.median(images, axis=0)  # the animal moves; the scene does not
    points = labels.to_numpy().reshape(len(labels), -1, 2)

    def difference_at(pts: np.ndarray) -> np.ndarray:
        out = []
        for image, frame_points in zip(images, pts):
            for x, y in frame_points[~np.isnan(frame_points[:, 0])]:
                r, c = round(y), round(x)
                patch = np.abs(image - background)[max(r - 1, 0) : r + 2, max(c - 1, 0) : c + 2]
                out.append(patch.sum(-1).max())
        return np.array(out)

    at_labels = difference_at(points)
    elsewhere = difference_at(np.stack([width - 1 - points[..., 0], points[..., 1]], -1)[::-1])
    assert np.mean(at_labels > 40) > 0.9
    assert np.mean(elsewhere > 40) < 0.5
