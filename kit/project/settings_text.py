"""Further settings of a notebook in one text parameter: ``"name=value name=value"``.

A notebook's ``parameters`` cell lists what most runs change, one parameter a line; the
rest of what its kit call takes goes in one text parameter: ``03_train``'s
``train_settings`` (the losses on unlabeled frames, ...: any ``TrainConfig`` setting),
``05_analyze_videos``' ``analysis_settings`` (crop, downscale, ...), e.g.
``-p train_settings "unlabeled_pairs=4 temporal_loss_weight=0.001"``. Each value takes the
type of the setting's default; a value holding spaces is quoted (``shlex``). Each notebook
has a name of its own for it: a pipeline shares a parameter with every step declaring it.
"""

from __future__ import annotations

import shlex
from collections.abc import Collection, Mapping
from typing import Any

_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "text"}


def parse_settings(text: str, defaults: Mapping[str, Any], where: str,
                   own: Collection[str] = ()) -> dict[str, Any]:
    """``text`` ("name=value ...") as a dict, each value of the type of ``defaults[name]``
    (bool, int, float or str). ``own``: names the notebook takes as parameters of their own,
    refused here. ``where`` names the parameter in errors (an unknown name, one of ``own``,
    a value of the wrong type, a token without "=")."""
    settings: dict[str, Any] = {}
    valid = sorted(set(defaults) - set(own))
    for token in shlex.split(text or ""):
        name, sep, value = token.partition("=")
        if not sep or not name:
            raise ValueError(f"{where}: {token!r} is not name=value (e.g. "
                             f"\"{valid[0] if valid else 'name'}=...\").")
        if name in own:
            raise ValueError(f"{where}: {name!r} is a parameter of its own: give it as "
                             f"-p {name} <value>, not in this text.")
        if name not in defaults:
            raise ValueError(f"{where}: no setting {name!r}. Valid: {valid}.")
        if name in settings:
            raise ValueError(f"{where}: {name!r} is given twice.")
        settings[name] = _typed(value, defaults[name], f"{where}: {name}")
    return settings


def _typed(value: str, default: Any, where: str) -> Any:
    """``value`` as the type of ``default``."""
    try:
        if isinstance(default, bool):
            if value.lower() not in _TRUE + _FALSE:
                raise ValueError
            return value.lower() in _TRUE
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
    except ValueError:
        raise ValueError(f"{where}={value!r}: expected {_NAMES[type(default)]} "
                         f"(the default is {default!r}).") from None
    return value
