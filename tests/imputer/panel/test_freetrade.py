"""impute(panel=...) on Amelia's freetrade against Amelia's own EM estimate.

Fixtures in tests/data/amelia/ (make_freetrade.R, sessionInfo.txt): Amelia 1.8.1 with
boot.type="none" (EM on the data, no bootstrap), its $mu and $covMatrices converted from its
stacked, standardised scale to original units (see the script). Agreement is measured in
standard deviations of the variables: |mu - mu_A| / sd and |Sigma - Sigma_A| / (sd sd').
"plain" (ts, cs only) is Amelia's EM at tolerance 1e-8 (34 iterations); "polytime" (polytime=2,
intercs=TRUE: 26 time covariates) is at tolerance 1e-6 after 18,361 EM iterations (a nearly flat
likelihood), so it is Amelia's estimate, not ours, that limits the agreement there.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import imputer

DATA = Path(__file__).parents[2] / "data" / "amelia"


@pytest.fixture(scope="module")
def freetrade() -> pd.DataFrame:
    return pd.read_csv(DATA / "freetrade.csv")


@pytest.mark.parametrize(
    ("case", "options", "atol"),
    [
        ("plain", dict(idvars=["year", "country"]), 1e-6),
        ("polytime", dict(panel=dict(time="year", unit="country", polytime=2, intercs=True)), 1e-3),
    ],
)
def test_em_estimate_agrees_with_amelia(freetrade: pd.DataFrame, case: str, options: dict, atol: float) -> None:
    ref = pd.read_csv(DATA / f"freetrade_em_{case}.csv", index_col=0)
    v = list(ref.columns)
    res = imputer.impute(freetrade, tol=1e-9, **options)
    sd = np.sqrt(np.diag(ref.loc[v, v].to_numpy()))
    assert np.abs((res.mean[v] - ref.loc["mean", v]).to_numpy() / sd).max() < atol
    assert np.abs((res.cov.loc[v, v].to_numpy() - ref.loc[v, v].to_numpy()) / np.outer(sd, sd)).max() < atol
    assert res.completed.columns.equals(freetrade.columns)
    assert res.completed["country"].equals(freetrade["country"]) and res.completed["year"].equals(freetrade["year"])
