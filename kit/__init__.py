"""kit: markerless animal pose estimation with the DeepLabCut method, in notebooks.

Modules form one pipeline, each importing only the ones before it:
project/labels -> splits -> targets -> data -> model -> train -> predict -> evaluate.
Import what you need (``from kit.net import train``); nothing heavy runs on import.

Importing kit before Keras turns on TensorFlow's oneDNN CPU kernels, which TensorFlow
enables by itself only on CPUs with AVX-512 VNNI, BF16 or AMX. On the 2-core AVX2 machine
they made a ResNet-50 train step at batch 8 about 1.4x and prediction at batch 8 about
1.3x faster (prediction at batch 1: 0.7x); see benchmarks/RESULTS.md. Set
``TF_ENABLE_ONEDNN_OPTS=0`` before starting Python to keep TensorFlow's default. The
setting does nothing on the JAX and PyTorch backends, or once TensorFlow is imported.
"""

import os

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

__version__ = "0.1.0"
