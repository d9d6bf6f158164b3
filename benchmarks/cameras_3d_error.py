"""3D error of a trained kit network on a synthetic camera rig, against its 2D error.

The rig (``kit.cameras.synthetic.make_rig_project``: cameras ~600 mm from a stick animal,
exact 2D and 3D truth) gives one video per camera. A single-animal kit project is built
from them: every camera's video, its even frames labeled with the exact 2D points (so
the odd frames are poses the network never saw). A ResNet-50 is trained from scratch
(``weights=None``: no ImageNet weights here), each camera's video is analysed, the
analyses are triangulated with the rig's true calibration, and the script prints, over
the odd (unlabeled) frames and over all frames:

- the 2D error per camera (pixels, against the exact projections),
- the 3D error (mm, against the true 3D),
- the 2D error times the scene scale (mm per pixel at the animal: distance / focal length),
  what a 3D error of the same size as the 2D one would be,
- a table per rig and individual: median and 90th-percentile 3D error (mm) and median
  reprojection error (px).

With ``--noise-px`` no network is trained: the rig's exact 2D points plus Gaussian noise
of that many pixels (x and y, every camera) are triangulated, for the one-animal rig and
for the two-animal rig (two animals apart, multi-animal analyses matched by name), and
the table compares them (seconds, no GPU).

    .venv/bin/python benchmarks/cameras_3d_error.py --steps 300 --size 160 120 --frames 60
    .venv/bin/python benchmarks/cameras_3d_error.py --noise-px 1.0 --frames 200
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from kit.cameras.calibration_file import read_calibration
from kit.cameras.pose_tables import read_points_2d, read_poses_3d
from kit.cameras.synthetic import BODYPARTS, SKELETON, make_rig_project
from kit.cameras.triangulate import TriangulateConfig, load_views, triangulate
from kit.project import create_project
from kit.project.frame_picking import frame_image_name
from kit.project.labels import make_labels_frame, save_labels
from kit.project.video import iter_frames, save_image


def build_project(rig, calibration, folder: Path):
    """A kit project of the rig's videos (``<camera>.mp4``), even frames labeled exactly."""
    videos = []
    for name in calibration.names:
        videos.append(folder / "videos-in" / f"{name}.mp4")
        videos[-1].parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(rig.video(name), videos[-1])
    project = create_project(folder / "project", "rig", "synthetic", list(BODYPARTS),
                             videos=videos, skeleton=SKELETON)
    for name in calibration.names:
        points, parts, _ = read_points_2d(rig.analysis(name))  # (frames, 1, bodyparts, 3)
        points = points[:, 0]
        frames = dict(iter_frames(rig.video(name), step=2))
        out = project.labeled_data_dir(name)
        out.mkdir(parents=True, exist_ok=True)
        names = [save_image(out / frame_image_name(i, len(points)), frame)
                 .relative_to(project.root).as_posix() for i, frame in frames.items()]
        labels = points[sorted(frames), :, :2][:, [parts.index(b) for b in BODYPARTS]]
        save_labels(project, name, make_labels_frame(labels, names, project.scorer,
                                                     list(BODYPARTS)))
    return project


def report(error_2d, error_3d, mm_per_px, frames, label):
    """Print over ``frames`` the 2D errors (C, N, K) per camera (px), the 3D error (N, K)
    (mm) and the 2D error times each camera's mm per px (C,)."""
    error_2d, error_3d = error_2d[:, frames], error_3d[frames]
    print(f"{label}: {len(frames)} frames")
    for c, scale in enumerate(mm_per_px):
        print(f"  camera {c}: 2D error median {np.nanmedian(error_2d[c]):.2f} px, mean "
              f"{np.nanmean(error_2d[c]):.2f} px; x {scale:.2f} mm/px = "
              f"{np.nanmedian(error_2d[c]) * scale:.2f} mm (median)")
    print(f"  3D error median {np.nanmedian(error_3d):.2f} mm, mean {np.nanmean(error_3d):.2f} mm, "
          f"95th percentile {np.nanpercentile(error_3d, 95):.2f} mm; "
          f"triangulated {np.isfinite(error_3d).mean():.0%}")
    print(f"  2D error x scene scale: median {np.nanmedian(error_2d * mm_per_px[:, None, None]):.2f}"
          f" mm; 3D / that: {np.nanmedian(error_3d) / np.nanmedian(error_2d * mm_per_px[:, None, None]):.2f}")


def error_table(rig: str, points_3d: np.ndarray, truth_3d: np.ndarray,
                individuals: list[str] | None) -> pd.DataFrame:
    """Per individual: median and 90th-percentile 3D error (mm) over frames and body parts,
    median reprojection error (px) and the fraction triangulated.

    Args:
        points_3d, truth_3d: (N, I, K, 5) x, y, z (mm), error (px), views.
    """
    error = np.linalg.norm(points_3d[..., :3] - truth_3d[..., :3], axis=-1)  # (N, I, K)
    rows = []
    for i, name in enumerate(individuals or ["(one animal)"]):
        rows.append({"rig": rig, "individual": name,
                     "median_3d_mm": np.nanmedian(error[:, i]),
                     "p90_3d_mm": np.nanpercentile(error[:, i], 90),
                     "median_reprojection_px": np.nanmedian(points_3d[:, i, :, 3]),
                     "triangulated": np.isfinite(error[:, i]).mean()})
    return pd.DataFrame(rows)


def noise_rigs(args, folder: Path) -> pd.DataFrame:
    """The table of :func:`error_table` for the one- and two-animal rigs, their exact 2D
    points plus ``args.noise_px`` pixels of Gaussian noise."""
    tables = []
    for num_animals in (1, 2):
        rig = make_rig_project(folder / f"rig{num_animals}", num_cameras=args.cameras,
                               num_views=1, num_frames=args.frames,
                               image_size=tuple(args.size), seed=0, num_animals=num_animals)
        calibration = read_calibration(rig.calibration)
        points_2d, _, individuals = load_views(calibration, [[rig.analysis(n)]
                                                             for n in calibration.names])
        rng = np.random.default_rng(args.seed)
        points_2d[..., :2] += rng.normal(0, args.noise_px, points_2d[..., :2].shape)
        points_3d = triangulate(calibration, points_2d, TriangulateConfig())
        truth_3d, _, _ = read_poses_3d(rig.ground_truth)
        label = "1 animal" if num_animals == 1 else f"{num_animals} animals"
        tables.append(error_table(label, points_3d, truth_3d, individuals))
    return pd.concat(tables, ignore_index=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=300, help="training steps")
    parser.add_argument("--batch", type=int, default=4, help="images per step")
    parser.add_argument("--size", type=int, nargs=2, default=(160, 120), help="width height")
    parser.add_argument("--frames", type=int, default=60, help="frames per camera video")
    parser.add_argument("--cameras", type=int, default=3)
    parser.add_argument("--workdir", default="", help="folder to keep (default: a temporary one)")
    parser.add_argument("--noise-px", type=float, default=None,
                        help="no training: exact 2D plus this Gaussian noise (px), 1 and 2 animals")
    parser.add_argument("--seed", type=int, default=0, help="noise seed (--noise-px)")
    args = parser.parse_args(argv)
    folder = Path(args.workdir or tempfile.mkdtemp(prefix="kit-cameras-3d-"))
    if args.noise_px is not None:
        print(f"{args.cameras} cameras {args.size[0]}x{args.size[1]}, {args.frames} frames, "
              f"exact 2D + {args.noise_px} px Gaussian noise; workdir {folder}")
        print(noise_rigs(args, folder).to_string(index=False, float_format="%.3f"))
        return
    train_and_report(args, folder)


def train_and_report(args, folder: Path) -> None:
    """Train kit on the one-animal rig's views, triangulate its analyses, print the errors."""
    from kit.net.data import AugmentConfig  # heavy (Keras): only when training
    from kit.net.train import TrainConfig, train
    from kit.results.analyze import AnalyzeConfig, analyze_videos

    start = time.time()
    rig = make_rig_project(folder / "rig", num_cameras=args.cameras, num_views=1,
                           num_frames=args.frames, image_size=tuple(args.size), seed=0)
    calibration = read_calibration(rig.calibration)
    project = build_project(rig, calibration, folder)
    width, height = args.size
    config = TrainConfig(train_steps=args.steps, batch_size=args.batch, weights=None,
                         optimizer="adam", learning_rate=1e-3, batchnorm_batches=5,
                         augment=AugmentConfig(crop_size=(height, width)))
    train(project, config, verbose=0)
    trained = time.time()
    videos = [project.videos_dir / f"{name}.mp4" for name in calibration.names]
    results = analyze_videos(project, videos, AnalyzeConfig(train_fraction=config.train_fraction,
                                                             progress=False))
    points_2d = np.stack([read_points_2d(r.h5)[0] for r in results])  # (C, N, 1, K, 3)
    truth_2d = np.stack([read_points_2d(rig.analysis(n))[0] for n in calibration.names])
    truth_3d, _, _ = read_poses_3d(rig.ground_truth)
    points_3d = triangulate(calibration, points_2d, TriangulateConfig(pcutoff=0.1))
    distance = np.array([np.linalg.norm(truth_3d[..., :3] - c.center, axis=-1).mean()
                         for c in calibration.cameras])
    mm_per_px = distance / np.array([c.matrix[[0, 1], [0, 1]].mean() for c in calibration.cameras])
    print(f"{args.cameras} cameras {width}x{height}, {args.frames} frames, {args.steps} steps "
          f"(batch {args.batch}): trained in {trained - start:.0f} s, analysed and triangulated "
          f"in {time.time() - trained:.0f} s; workdir {folder}")
    error_2d = np.linalg.norm(points_2d[..., :2] - truth_2d[..., :2], axis=-1)[:, :, 0]  # (C, N, K)
    error_3d = np.linalg.norm(points_3d[..., :3] - truth_3d[..., :3], axis=-1)[:, 0]  # (N, K)
    frames = np.arange(args.frames)
    report(error_2d, error_3d, mm_per_px, frames[1::2], "unlabeled (odd)")
    report(error_2d, error_3d, mm_per_px, frames, "all frames")
    print(error_table("1 animal (trained)", points_3d, truth_3d, None).to_string(
        index=False, float_format="%.3f"))


if __name__ == "__main__":
    main()
