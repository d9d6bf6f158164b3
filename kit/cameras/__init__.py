"""Several cameras: calibration, triangulation and 3D poses (the last room of the chain).

- ``board``: the chessboard and its corners in images and videos.
- ``calibration_file``: Anipose's ``calibration.toml`` (the one module reading and writing it),
  and the camera model (projection, undistortion).
- ``calibrate``: intrinsics, extrinsics and bundle adjustment from board views.
- ``triangulate``: 2D analyses of every camera -> 3D points (DLT, camera-subset consensus).
- ``pose_tables``: every camera's 2D analysis and the 3D table (scorer/[individuals/]
  bodyparts/coords x, y, z, error, views), through :mod:`kit.project.dlc_tables`.
- ``synthetic``: a calibrated rig with exact truth (boards, one animal or several apart,
  their 2D and 3D).
- ``figures``: error figures, 3D trajectories and a video of the 3D skeleton beside the views.

World units are those of the board's square size (e.g. millimetres); image
coordinates are pixels, x to the right, y down.
"""
