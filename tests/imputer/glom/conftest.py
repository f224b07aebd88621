"""Fixtures of the GLOM tests: the simulated table with missing cells in both parts and its reference."""

from __future__ import annotations

import json
from pathlib import Path

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
