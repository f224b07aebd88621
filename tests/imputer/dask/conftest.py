"""Shared data for the Dask engine's tests: 200,000 x 10 MAR rows and their in-memory fit."""

from __future__ import annotations

import pandas as pd
import pytest

import imputer
from tests.imputer.dask._data import mar_table

pytest.importorskip("dask.dataframe")


@pytest.fixture(scope="session")
def big() -> pd.DataFrame:
    return mar_table(200_000, 10, seed=12)


@pytest.fixture(scope="session")
def big_ref(big: pd.DataFrame) -> imputer.ImputeResult:
    return imputer.impute(big)
