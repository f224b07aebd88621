"""Fits the figure tests draw (airquality, Dyestuff), on matplotlib's Agg canvas.

Figures are checked by what they hold (axes, labels, the data of each line, image array,
texts), not by pixels. The tests need matplotlib (the ``plot`` extra, in ``dev``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("matplotlib", reason="imputer.plot needs matplotlib (pip install 'imputer[plot]')")

import imputer  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "data"


@dataclass(frozen=True)
class FakeMI:
    """A multiple-imputation result as :mod:`imputer.plot` sees one (duck typing)."""

    imputations: tuple[pd.DataFrame, ...]
    em: imputer.ImputeResult


@pytest.fixture(scope="session")
def air() -> pd.DataFrame:
    return pd.read_csv(DATA / "airquality.csv")


@pytest.fixture(scope="session")
def air_fit(air: pd.DataFrame) -> imputer.ImputeResult:
    return imputer.impute(air)


@pytest.fixture(scope="session")
def air_mi(air: pd.DataFrame, air_fit: imputer.ImputeResult) -> FakeMI:
    """Three completed tables: the conditional means plus fixed-seed noise at missing cells."""
    rng = np.random.default_rng(15)
    miss = air.isna()
    tables = []
    for _ in range(3):
        t = air_fit.completed.copy()
        for col in miss.columns[miss.any()]:
            rows = miss[col].to_numpy()
            t.loc[rows, col] = t.loc[rows, col] + rng.normal(0.0, 10.0, rows.sum())
        tables.append(t)
    return FakeMI(imputations=tuple(tables), em=air_fit)


@pytest.fixture(scope="session")
def dyestuff_fit() -> imputer.MixedResult:
    return imputer.fit_mixed_frame(pd.read_csv(DATA / "dyestuff.csv"), "Yield", random=["Batch"])
