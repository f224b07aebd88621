"""In-place edits a user might try on a pandas object read from a result (test helper).

Each function mutates its argument in place; the result tests apply them to what a
result hands out and check that the result itself is unchanged (or that the edit
raises).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd


def set_cell(obj: Any) -> None:
    if isinstance(obj, pd.DataFrame):
        obj.iloc[0, 0] = 99.0
    else:
        obj.iloc[0] = 99.0


def add_label(obj: Any) -> None:
    obj["__new__"] = 1.0


def rename_axis(obj: Any) -> None:
    obj.index.name = "__renamed__"


def relabel(obj: Any) -> None:
    obj.index = [f"r{i}" for i in range(len(obj))]


def write_values(obj: Any) -> None:
    obj.to_numpy()[0] = 99.0


def sort_inplace(obj: Any) -> None:
    obj.sort_index(ascending=False, inplace=True)


#: the edits applied to every pandas field of both results
BASIC: list[Callable[[Any], None]] = [set_cell, add_label, write_values, rename_axis]
#: every edit (the read-only field machinery itself is tested with these)
ALL: list[Callable[[Any], None]] = [set_cell, add_label, rename_axis, relabel, write_values, sort_inplace]
