"""Left and right body parts: which part is which in a mirrored image (mirrored training
crops, :mod:`kit.net.data`; flipped test-time passes, :mod:`kit.net.test_scales`). Pure
Python, no Keras, so the live predictor's ONNX path (:mod:`kit.live`) runs where Keras is
not installed."""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence


def mirror_permutation(bodyparts: Sequence[str], warn: bool = False) -> list[int]:
    """Index of each part's mirror image, others to themselves: ``leftear`` <-> ``rightear``
    (``left``/``right`` in any case), and a side written as a letter of its own (SLEAP's
    flies: ``wingL`` <-> ``wingR``, ``forelegL1`` <-> ``forelegR1``; ``L_paw`` <-> ``R_paw``,
    ``ear_l`` <-> ``ear_r``) where the twin is one of ``bodyparts``. ``warn`` (mirrored
    training): warn when no two parts pair, as with names such as ``paw1LH`` / ``paw4RH``,
    whose mirrored crops would teach each left part's label on the right one."""
    index = {name: i for i, name in enumerate(bodyparts)}
    swapped = [index.get(mirror_name(name), i) for i, name in enumerate(bodyparts)]
    if warn and len(bodyparts) > 1 and swapped == list(range(len(bodyparts))):
        warnings.warn(
            f"mirror=True, but no two of the body parts {list(bodyparts)} pair as left and "
            "right (leftear/rightear, wingL/wingR, ear_l/ear_r): mirrored crops keep every "
            "label where it was, right only for parts on the animal's midline. Rename the "
            "sided parts so that their names pair, or train with mirror=False.", stacklevel=2)
    return swapped


def mirror_name(name: str) -> str:
    """``name`` with its side swapped (:func:`mirror_permutation`), or ``name``."""
    for a, b in (("left", "right"), ("Left", "Right"), ("LEFT", "RIGHT")):
        if a in name or b in name:
            return name.replace(a, "\0").replace(b, a).replace("\0", b)
    # words: capitals run (not before a lower-case letter), a word, digits, separators
    tokens = re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+|[^A-Za-z\d]+", name)
    sides = {"L": "R", "R": "L", "l": "r", "r": "l"}
    return "".join(sides.get(token, token) for token in tokens)
