"""Fixtures of the GLOM tests: the simulated table with missing cells in both parts and its reference."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

DATA = Path(__file__).resolve().parents[2] / "data" / "glom"


@pytest.fixture(scope="session")
def sim() -> pd.DataFrame:
    """150 rows: ``a`` (u/v/w, 22 missing), ``b`` (0/1, 15 missing), ``x1``, ``x2`` (32, 16 missing)."""
    return pd.read_csv(DATA / "sim.csv")


@pytest.fixture(scope="session")
def reference() -> dict:
    """tests/data/glom/make_reference.py's direct maximisation (tests/reference/glom_direct.py)."""
    return json.loads((DATA / "reference.json").read_text())


def kinds_columns(rng: np.random.Generator, n: int) -> dict[str, object]:
    """One column of each kind the automatic rule meets: a category with an unused level, an
    ordered category, a nullable boolean, a nullable 0/1 integer (no holes yet)."""
    return {
        "cat": pd.Categorical(rng.choice(["lo", "hi"], n), categories=["lo", "hi", "unused"]),
        "ordc": pd.Categorical(rng.choice(["s", "m", "l"], n), categories=["s", "m", "l"], ordered=True),
        "flag": pd.array(rng.random(n) < 0.5, dtype="boolean"),
        "bin": pd.array(rng.integers(0, 2, n), dtype="Int64"),
    }
