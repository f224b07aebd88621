"""``mcar_test`` and ``patterns`` against R (fixtures in tests/data/mcar/, made by its make_fixtures.R).

little.json: Little's statistic at the MLE found by a plain EM written out in R (iterated
to a parameter change below 1e-14); md_pattern.json: ``mice::md.pattern(airquality)``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import imputer

DATA = Path(__file__).resolve().parents[2] / "data"
AIR = pd.read_csv(DATA / "airquality.csv")
LITTLE = json.loads((DATA / "mcar" / "little.json").read_text())
MD_PATTERN = json.loads((DATA / "mcar" / "md_pattern.json").read_text())


@pytest.mark.parametrize("ref", LITTLE, ids=lambda r: "+".join(r["columns"]))
def test_little_equals_r(ref: dict) -> None:
    res = imputer.mcar_test(AIR, ref["columns"])
    assert (res.df, res.n_patterns) == (ref["df"], ref["n_patterns"])
    assert res.statistic == pytest.approx(ref["statistic"], rel=1e-9)
    assert res.p_value == pytest.approx(ref["p_value"], rel=1e-8)
    sd = np.sqrt(np.diag(np.array(ref["cov"])))
    assert np.max(np.abs(res.mean.to_numpy() - np.array(ref["mean"])) / sd) < 1e-9
    assert np.max(np.abs(res.cov.to_numpy() - np.array(ref["cov"])) / np.outer(sd, sd)) < 1e-9


def test_patterns_equal_mice_md_pattern() -> None:
    ref = MD_PATTERN
    res = imputer.patterns(AIR)
    table = res.table
    # the same set of (pattern, count, n_missing) rows; mice orders variables by number
    # missing and patterns by n_missing, imputer keeps the column order and sorts by count
    ours = {
        (tuple(int(row[v]) for v in ref["variables"]), int(row["count"]), int(row["n_missing"]))
        for _, row in table.iterrows()
    }
    theirs = {(tuple(p), c, m) for p, c, m in zip(ref["patterns"], ref["counts"], ref["n_missing"])}
    assert ours == theirs
    assert [int(res.column_missing[v]) for v in ref["variables"]] == ref["column_missing"]
