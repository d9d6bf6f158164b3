"""Left and right body parts: which part is which in a mirrored image (mirrored training
crops, :mod:`kit.net.data`; flipped test-time passes, :mod:`kit.net.test_scales`). Pure
Python, no Keras, so the live predictor's ONNX path (:mod:`kit.live`) runs where Keras is
not installed."""

from __future__ import annotations

import re
from collections.abc import Sequence


def mirror_permutation(bodyparts: Sequence[str]) -> list[int]:
    """Index of each part's mirror image, others to themselves: ``leftear`` <-> ``rightear``
    (``left``/``right`` in any case), and a side written as a letter of its own (SLEAP's
    flies: ``wingL`` <-> ``wingR``, ``forelegL1`` <-> ``forelegR1``; ``L_paw`` <-> ``R_paw``,
    ``ear_l`` <-> ``ear_r``) where the twin is one of ``bodyparts``."""
    index = {name: i for i, name in enumerate(bodyparts)}
    return [index.get(mirror_name(name), i) for i, name in enumerate(bodyparts)]


def mirror_name(name: str) -> str:
    """``name`` with its side swapped (:func:`mirror_permutation`), or ``name``."""
    for a, b in (("left", "right"), ("Left", "Right"), ("LEFT", "RIGHT")):
        if a in name or b in name:
            return name.replace(a, "\0").replace(b, a).replace("\0", b)
    # words: capitals run (not before a lower-case letter), a word, digits, separators
    tokens = re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+|[^A-Za-z\d]+", name)
    sides = {"L": "R", "R": "L", "l": "r", "r": "l"}
    return "".join(sides.get(token, token) for token in tokens)
