"""Fixtures of the mixture tests: Old Faithful complete and with holes."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.imputer.mixture.helpers import DATA, with_holes


@pytest.fixture(scope="session")
def faithful() -> pd.DataFrame:
    return pd.read_csv(DATA / "faithful.csv")


@pytest.fixture(scope="session")
def faithful_holes(faithful: pd.DataFrame) -> pd.DataFrame:
    """Old Faithful with 40 missing eruption times and 40 missing waiting times (different rows)."""
    return with_holes(faithful, 40, 0)
