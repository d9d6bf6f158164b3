"""The ensemble Kalman smoother of ``eks`` (``ensemble-kalman-smoother``), run in a process of
its own by :func:`kit.results.ensemble.smooth_ensemble`; never imported by kit.

Why a process of its own: eks imports dynamax, which imports TensorFlow Probability, whose
package refuses to load when TensorFlow is already loaded and ``tf_keras`` is not installed
(kit has Keras 3, and ``tf_keras`` would pull the full ``tensorflow`` wheel beside kit's
``tensorflow-cpu``). A fresh interpreter that never loads TensorFlow also lets JAX run in
float64 (``JAX_ENABLE_X64``, without touching a Keras JAX backend in the caller) and keeps
JAX from reserving GPU memory next to TensorFlow's.

Usage: ``python eks_worker.py IN.npz OUT.npz``. IN holds ``members`` (num_members,
num_frames, num_individuals, num_bodyparts, 3) x, y (image pixels), likelihood; a body part
to smooth has no NaN (the caller fills gaps), one NaN throughout is skipped; ``smooth_param``
(NaN: eks optimises it per body part), ``avg_mode``, ``var_mode``. OUT holds, per frame,
individual and body part: ``xy`` (smoothed), ``ens_median``, ``ens_var``, ``posterior_var``
(each x then y, pixels or squared pixels), ``ens_likelihood`` (the members' mean) and
``smooth_params`` (num_individuals, num_bodyparts).
"""

import sys

import numpy as np

# eks's output coords, in its order (eks.singlecam_smoother)
EKS_COORDS = ("x", "y", "likelihood", "x_ens_median", "y_ens_median", "x_ens_var", "y_ens_var",
              "x_posterior_var", "y_posterior_var")


def smooth_individual(members: np.ndarray, smooth_param: float | None, avg_mode: str,
                      var_mode: str) -> tuple[np.ndarray, np.ndarray]:
    """eks on one individual. members: (M, F, K, 3), no NaN. Returns ((F, K, 9) in
    ``EKS_COORDS`` order, (K,) smoothing parameters)."""
    from eks.marker_array import MarkerArray
    from eks.singlecam_smoother import ensemble_kalman_smoother_singlecam

    num_frames, num_parts = members.shape[1:3]
    if num_parts == 1:  # eks squeezes a lone keypoint's axis away and fails: smooth it twice
        values, params = smooth_individual(np.repeat(members, 2, axis=2), smooth_param,
                                           avg_mode, var_mode)
        return values[:, :1], params[:1]
    names = [f"part{k}" for k in range(num_parts)]  # eks needs names only for its table
    markers = MarkerArray(members[:, None], data_fields=["x", "y", "likelihood"])
    table, params = ensemble_kalman_smoother_singlecam(
        markers, names, smooth_param=smooth_param, avg_mode=avg_mode, var_mode=var_mode)
    columns = [(table.columns[0][0], name, coord) for name in names for coord in EKS_COORDS]
    values = table[columns].to_numpy(np.float64).reshape(num_frames, num_parts, len(EKS_COORDS))
    return values, np.asarray(params, np.float64)


def smooth(members: np.ndarray, smooth_param: float | None, avg_mode: str,
           var_mode: str) -> dict[str, np.ndarray]:
    """Each individual's body parts that have values, through eks (see the module docstring)."""
    _, num_frames, num_individuals, num_parts, _ = members.shape
    out = np.full((num_frames, num_individuals, num_parts, len(EKS_COORDS)), np.nan)
    params = np.full((num_individuals, num_parts), np.nan)
    for i in range(num_individuals):
        parts = np.flatnonzero(np.isfinite(members[:, :, i, :, :2]).any(axis=(0, 1, 3)))
        if len(parts):
            out[:, i, parts], params[i, parts] = smooth_individual(
                members[:, :, i][:, :, parts], smooth_param, avg_mode, var_mode)
    return {"xy": out[..., 0:2], "ens_likelihood": out[..., 2], "ens_median": out[..., 3:5],
            "ens_var": out[..., 5:7], "posterior_var": out[..., 7:9], "smooth_params": params}


def main(argv: list[str]) -> None:
    """``argv``: the input and output ``.npz`` files (see the module docstring)."""
    source, target = argv
    with np.load(source) as inputs:
        param = float(inputs["smooth_param"])
        result = smooth(inputs["members"], None if np.isnan(param) else param,
                        str(inputs["avg_mode"]), str(inputs["var_mode"]))
    np.savez(target, **result)


if __name__ == "__main__":
    main(sys.argv[1:])
