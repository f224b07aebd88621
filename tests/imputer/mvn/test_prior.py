"""``prior="amelia"``: Amelia's ``empri`` convention for the ridge prior.

References:

* ``tests/data/amelia_empri/reference.json``: Amelia 1.8.1's EM estimate (``amelia(x, m = 1,
  boot.type = "none", empri = lambda, tolerance = 1e-12)``, back on the data's scale) on
  airquality, Little & Rubin's ``missvals`` and ``marijuana``, made by
  ``make_amelia_empri.R`` beside it (its ``sessionInfo.txt`` too).
* :mod:`tests.reference.mvn_information`: the log-posterior written down row by row with
  Amelia's kernel ``-((lambda + p + 2)/2) log|Sigma| - (lambda/2) tr(Sigma^-1 D)``, ``D`` the
  sample variances: the reported objective must equal it at the estimate.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import imputer
from tests.readme import run_python_block
from tests.reference import mvn_information as ref

from .conftest import DATA

REFERENCE = json.loads((DATA / "amelia_empri" / "reference.json").read_text())
FILES = {"airquality.csv": DATA / "airquality.csv", "missvals.csv": DATA / "classics" / "missvals.csv",
         "marijuana.csv": DATA / "classics" / "marijuana.csv"}
CASES = [name for name in REFERENCE if name != "versions"]


def _case(name: str) -> tuple[pd.DataFrame, dict]:
    case = REFERENCE[name]
    return pd.read_csv(FILES[case["file"]])[case["columns"]], case


@pytest.mark.parametrize("name", CASES)
def test_estimates_equal_amelia_with_the_same_empri(name: str) -> None:
    df, case = _case(name)
    res = imputer.impute(df, ridge=case["empri"], prior="amelia", tol=1e-12, max_iter=10_000)
    cov = np.array(case["cov"])
    sd = np.sqrt(np.diag(cov))
    np.testing.assert_allclose(res.mean.to_numpy() / sd, np.array(case["mean"]) / sd, rtol=0, atol=1e-9)
    np.testing.assert_allclose(res.cov.to_numpy() / np.outer(sd, sd), cov / np.outer(sd, sd), rtol=0, atol=1e-9)
    # imputer's own convention is a different estimate: the test can tell them apart
    other = imputer.impute(df, ridge=case["empri"], tol=1e-12, max_iter=10_000)
    assert np.abs(other.cov.to_numpy() - cov).max() / sd.max() ** 2 > 1e-3


@pytest.mark.parametrize("name", ["airquality_empri5", "missvals_empri2"])
def test_objective_is_the_amelia_log_posterior_and_never_decreases(name: str) -> None:
    df, case = _case(name)
    res = imputer.impute(df, ridge=case["empri"], prior="amelia", tol=1e-11)
    assert np.all(np.diff(res.loglik_history) >= -1e-9 * np.abs(res.loglik_history[1:]))
    x = df.to_numpy(dtype=float)
    theta = ref.pack(res.mean.to_numpy(), res.cov.to_numpy())
    expected = ref.loglik(x, theta, case["empri"], prior="amelia")
    assert res.loglik_history[-1] == pytest.approx(expected, rel=1e-10)
    assert res.loglik == pytest.approx(ref.loglik(x, theta), rel=1e-10)  # the likelihood itself, prior excluded


def test_prior_is_reported_and_case_insensitive() -> None:
    df, case = _case("missvals_empri10")
    res = imputer.impute(df, ridge=10, prior="Amelia")
    assert res.prior == "amelia"
    assert res.to_dict()["options"]["prior"] == "amelia"
    assert "ridge prior 10 (Amelia's empri)" in res.summary()


def test_without_a_ridge_the_convention_changes_nothing() -> None:
    df, _ = _case("airquality_empri5")
    a, b = imputer.impute(df), imputer.impute(df, prior="amelia")
    pd.testing.assert_frame_equal(a.cov, b.cov)
    assert a.loglik == b.loglik


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda df: imputer.impute(df, ridge=1, prior="norm"), r"prior must be one of \['ridge', 'amelia'\], got 'norm'"),
        (lambda df: imputer.impute(df, ridge=1, prior=2), r"prior must be one of \['ridge', 'amelia'\], got 2"),
        (lambda df: imputer.EMImputer(ridge=1, prior="amelia", model="t").fit(df),
         r"prior='amelia' is available for model='normal' only, got model='t'"),
        (lambda df: imputer.multiple_impute(df, m=2, ridge=1, prior="amelia", model="t", method="bootstrap"),
         r"prior='amelia' is available for model='normal' only, got model='t'"),
    ],
    ids=["unknown", "not-a-string", "estimator-t", "mi-t"],
)
def test_bad_prior_is_a_clear_error(call, message: str) -> None:
    df, _ = _case("airquality_empri5")
    with pytest.raises(imputer.ImputerValueError, match=message):
        call(df)


def test_estimator_transforms_and_multiple_imputation_use_the_same_estimate() -> None:
    df, case = _case("missvals_empri10")
    res = imputer.impute(df, ridge=10, prior="amelia")
    est = imputer.EMImputer(ridge=10, prior="amelia").fit(df)
    np.testing.assert_allclose(est.covariance_, res.cov.to_numpy(), rtol=1e-12)
    mi = imputer.multiple_impute(df, m=2, ridge=10, prior="amelia", seed=1)
    np.testing.assert_allclose(mi.em.cov.to_numpy(), res.cov.to_numpy(), rtol=1e-12)
    assert mi.to_dict()["options"]["prior"] == "amelia"
    tr = imputer.impute(df, ridge=10, prior="amelia", transforms={"x1": "sqrt"})
    assert tr.model.prior == "amelia"


def test_readme_example(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    namespace = run_python_block("For users moving from Amelia, the same λ in Amelia's convention:", monkeypatch)
    assert capsys.readouterr().out.strip() == "estimate:                     posterior mode, ridge prior 5 (Amelia's empri)"
    assert namespace["res"].prior == "amelia"  # type: ignore[attr-defined]
