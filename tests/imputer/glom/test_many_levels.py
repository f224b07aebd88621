"""Bad input: a categorical column with 10,000 levels is a clear error from every entry point, raised
before anything of the cells' size is allocated (the peak of Python allocations stays a few times the table)."""

from __future__ import annotations

import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import imputer
from imputer import cli
from imputer.errors import ImputerValueError
from imputer.glom._validate import MAX_CELLS

N = 10_000
MESSAGE = rf"categorical column '{{}}' has {N} levels: .* exceed the limit of {MAX_CELLS}"


@pytest.fixture(scope="module")
def wide_levels() -> pd.DataFrame:
    """11,000 rows: ``id`` (10,000 text levels, some missing), ``cat`` (the same as a category), ``g`` (2 levels), ``x``."""
    rng = np.random.default_rng(1)
    n = N + 1000
    ids = np.char.add("id", (np.arange(n) % N).astype(str)).astype(object)
    ids[N::2] = None
    x = rng.normal(size=n)
    x[::5] = np.nan
    return pd.DataFrame({"id": ids, "cat": pd.Categorical(ids), "g": rng.choice(["a", "b"], n).astype(object), "x": x})


CALLS = {
    "impute_glom": lambda df: imputer.impute_glom(df.drop(columns="cat"), categorical=["id"]),
    "pairwise": lambda df: imputer.impute_glom(df.drop(columns="cat"), categorical=["g", "id"], probabilities="pairwise"),
    "additive": lambda df: imputer.impute_glom(df.drop(columns="cat"), categorical=["id", "g"], means="additive"),
    "impute_auto": lambda df: imputer.impute(df.drop(columns="id"), categorical="auto"),
    "multiple_impute": lambda df: imputer.multiple_impute(df.drop(columns="cat"), m=2, categorical=["id"], seed=0),
}


@pytest.mark.parametrize("entry", list(CALLS))
def test_clear_error_without_a_memory_blow_up(wide_levels: pd.DataFrame, entry: str) -> None:
    column = "cat" if entry == "impute_auto" else "id"
    table_bytes = int(wide_levels.memory_usage(deep=True).sum())
    tracemalloc.start()
    try:
        with pytest.raises(ImputerValueError, match=MESSAGE.format(column)):
            CALLS[entry](wide_levels)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # a 10,000-cell grid with an additive design would be 800 MB; the check comes first
    assert peak < 20 * table_bytes, (peak, table_bytes)


def test_command_line_names_the_column(wide_levels: pd.DataFrame, tmp_path: Path, capsys: Any) -> None:
    src = tmp_path / "levels.csv"
    wide_levels.drop(columns="cat").to_csv(src, index=False)
    code = cli.main(["impute", str(src), "-o", str(tmp_path / "out.csv"), "--no-progress", "--categorical", "id,g"])
    assert code != 0
    assert f"categorical column 'id' has {N} levels" in capsys.readouterr().err
