"""Stage after results: real time. A trained model exported to one file
(:mod:`kit.live.export`), run one frame at a time with the lowest latency
(:mod:`kit.live.predictor`, as DeepLabCut-Live's ``DLCLive.get_pose``), with dynamic
cropping, a per-frame processor (:mod:`kit.live.processor`) and a forward predictor
(:mod:`kit.live.forward`); streams from a video or a camera and their latency
(:mod:`kit.live.stream`).

Poses carry kit's individuals axis: ``(rows, num_bodyparts, 3)`` per frame, x and y in
full-frame pixels, likelihood in [0, 1]; one row for a single-animal model; a multi-animal
model's individuals, assembled and tracked online (:mod:`kit.live.animals`), then ``single``
if it has unique body parts. The ONNX runtime imports neither Keras nor TensorFlow.
"""
