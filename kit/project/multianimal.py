"""Multi-animal projects as DeepLabCut 2.2+ writes them: which individuals, and which body
parts each has.

A multi-animal ``config.yaml`` says ``multianimalproject: true``, lists the animals under
``individuals``, the body parts every animal has under ``multianimalbodyparts``, the body
parts that exist once per frame (a feeder, a second light) under ``uniquebodyparts``, and
writes ``bodyparts: MULTI!``. Its label and analysis tables have four column levels
``scorer/individuals/bodyparts/coords``; the unique body parts sit under the individual
``single``. Inside kit the body parts are the animals' then the unique ones, and arrays
carry one row per table individual (the animals, then ``single``), NaN where an individual
has no such part.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kit.project.dlc_tables import MULTI_COLUMN_NAMES

SINGLE = "single"  # DeepLabCut's individual that holds the unique body parts
MULTI_BODYPARTS = "MULTI!"  # DeepLabCut's bodyparts value in a multi-animal config


@dataclass(frozen=True)
class AnimalLayout:
    """The individuals of a multi-animal project and their body parts.

    Attributes:
        individuals: the animals' names, in the config's order.
        multianimal_bodyparts: the body parts every animal has.
        unique_bodyparts: body parts found at most once per frame (DeepLabCut's
            ``uniquebodyparts``), under the individual ``single`` in tables.
    """

    individuals: tuple[str, ...]
    multianimal_bodyparts: tuple[str, ...]
    unique_bodyparts: tuple[str, ...] = ()

    @property
    def bodyparts(self) -> list[str]:
        """Every body part: the animals', then the unique ones."""
        return [*self.multianimal_bodyparts, *self.unique_bodyparts]

    @property
    def table_individuals(self) -> list[str]:
        """The individuals level of a table: the animals, then ``single`` if there are
        unique body parts."""
        return [*self.individuals, *([SINGLE] if self.unique_bodyparts else [])]

    def pairs(self) -> list[tuple[str, str]]:
        """(individual, body part) of every column pair of a table, in DeepLabCut's order."""
        return [(i, b) for i in self.individuals for b in self.multianimal_bodyparts] + [
            (SINGLE, b) for b in self.unique_bodyparts]

    def columns(self, scorer: str, coords: Sequence[str] = ("x", "y")) -> pd.MultiIndex:
        """The 4-level columns of a label (``x, y``) or analysis (``x, y, likelihood``) table."""
        return pd.MultiIndex.from_tuples(
            [(scorer, i, b, c) for i, b in self.pairs() for c in coords], names=MULTI_COLUMN_NAMES)

    def has_part(self) -> np.ndarray:
        """(num_table_individuals, num_bodyparts) bool: which individual has which part."""
        parts, rows = self.bodyparts, self.table_individuals
        out = np.zeros((len(rows), len(parts)), bool)
        for individual, part in self.pairs():
            out[rows.index(individual), parts.index(part)] = True
        return out


def _names(config: Mapping[str, Any], key: str, path: Path, required: bool) -> tuple[str, ...]:
    value = config.get(key)
    if value is None and not required:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"{path}: a multi-animal project needs {key} as a list of names "
                         f"(e.g. {key}: [mouse1, mouse2]). Received: {key}={value!r}.")
    if len(set(value)) != len(value):
        raise ValueError(f"{path}: {key} has duplicates. Received: {value!r}.")
    return tuple(value)


def read_layout(config: Mapping[str, Any], path: Path) -> AnimalLayout | None:
    """The layout of a multi-animal config (None for a single-animal one); raises naming
    ``path`` and the key when the multi-animal keys are missing or inconsistent."""
    if not config.get("multianimalproject"):
        return None
    layout = AnimalLayout(_names(config, "individuals", path, True),
                          _names(config, "multianimalbodyparts", path, True),
                          _names(config, "uniquebodyparts", path, False))
    if not layout.individuals or not layout.multianimal_bodyparts:
        raise ValueError(f"{path}: a multi-animal project needs at least one individual and one "
                         "multi-animal body part (individuals, multianimalbodyparts).")
    both = sorted(set(layout.multianimal_bodyparts) & set(layout.unique_bodyparts))
    if both or SINGLE in layout.individuals:
        raise ValueError(f"{path}: body parts {both} are both multi-animal and unique, or an "
                         f"individual is named {SINGLE!r} (DeepLabCut's name for the unique "
                         "body parts). Rename them.")
    return layout


def multianimal_keys(bodyparts: Sequence[str], individuals: Sequence[str],
                     unique_bodyparts: Sequence[str] = (), identity: bool = False
                     ) -> dict[str, Any]:
    """The config keys of a new multi-animal project, as DeepLabCut writes them."""
    return {"multianimalproject": True, "identity": identity,
            "individuals": list(individuals), "uniquebodyparts": list(unique_bodyparts),
            "multianimalbodyparts": list(bodyparts), "bodyparts": MULTI_BODYPARTS}
