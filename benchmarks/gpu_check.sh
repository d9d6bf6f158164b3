#!/usr/bin/env bash
# The GPU check (benchmarks/gpu_check.py), ready to run on a machine with an NVIDIA GPU:
# makes .venv-gpu, installs kit and, as available, TensorFlow with CUDA, jax[cuda12] and
# torch from the package index, then prints one table (training with mixed precision and
# compilation per backend, analysis at batch 1/8/32/64, live latency, data-wait fraction).
# Meant to finish within 8 minutes; a backend that fails to install is left out, one
# that fails to run gets a FAILED row. Without a GPU it runs the CPU fallback (tiny sizes).
#
#     bash benchmarks/gpu_check.sh            # PYTHON=python3.11 to choose the interpreter
set -euo pipefail
cd "$(dirname "$0")/.."
if ! (command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1); then
    echo "No NVIDIA GPU (nvidia-smi -L failed): running the CPU fallback."
    exec "${KIT_PYTHON:-.venv/bin/python}" benchmarks/gpu_check.py --tiny
fi
nvidia-smi -L
VENV=.venv-gpu
[ -x "$VENV/bin/python" ] || "${PYTHON:-python3}" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip install -q --disable-pip-version-check)
"${PIP[@]}" -e .
# tensorflow-cpu (kit's dependency on x86_64) has no CUDA kernels: add TensorFlow's own.
"${PIP[@]}" "tensorflow[and-cuda]" || echo "tensorflow[and-cuda] not installed: TensorFlow runs on the CPU"
"${PIP[@]}" "jax[cuda12]" || echo "jax[cuda12] not installed: no JAX row"
"${PIP[@]}" torch || echo "torch not installed: no PyTorch row"
"${PIP[@]}" onnxruntime-gpu || true
exec timeout 420 "$VENV/bin/python" benchmarks/gpu_check.py --timeout 130
