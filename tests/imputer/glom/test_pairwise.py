"""Pairwise log-linear cell probabilities (``probabilities="pairwise"``): against the direct maximisation.

Reference values: tests/data/glom/pairwise.json, made by tests/data/glom/make_pairwise.py with
tests/reference/glom_loglinear.py (BFGS on the log-linear parameterisation; no EM, no IPF).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import imputer
from imputer.errors import ImputerTypeError, ImputerValueError
from imputer.glom._loglinear import ipf, n_free
from tests.imputer.glom.conftest import DATA
from tests.reference.glom_direct import glom_loglik
from tests.reference.glom_loglinear import pairwise_design

LEVELS = {"a": ["u", "v", "w"], "b": [0.0, 1.0], "c": ["no", "yes"]}
MEANS = ["additive", "saturated"]


@pytest.fixture(scope="module")
def sim3() -> pd.DataFrame:
    """240 rows: ``a`` (u/v/w), ``b`` (0/1), ``c`` (no/yes), ``x1``, ``x2``, each with missing cells."""
    return pd.read_csv(DATA / "sim3.csv")


@pytest.fixture(scope="module")
def reference() -> dict:
    return json.loads((DATA / "pairwise.json").read_text())


@pytest.fixture(scope="module", params=MEANS)
def fitted(request: pytest.FixtureRequest, sim3: pd.DataFrame) -> tuple[str, imputer.GlomImputeResult]:
    res = imputer.impute_glom(sim3, categorical=list(LEVELS), means=request.param, probabilities="pairwise", tol=1e-10)
    return request.param, res


def _codes(df: pd.DataFrame) -> np.ndarray:
    return np.column_stack([pd.Categorical(df[c], categories=lv).codes for c, lv in LEVELS.items()])


def test_loglik_not_below_direct_maximum(fitted, reference) -> None:
    model, res = fitted
    assert (res.means, res.probability_model) == (model, "pairwise")
    assert res.converged
    assert res.loglik >= reference[model]["loglik"] - 1e-9


def test_estimates_match_direct_maximum(fitted, reference) -> None:
    model, res = fitted
    ref = reference[model]
    assert list(res.probabilities.index) == [(a, b, c) for a in "uvw" for b in (0.0, 1.0) for c in ("no", "yes")]
    np.testing.assert_allclose(res.probabilities.to_numpy(), ref["pi"], atol=1e-5, rtol=0)
    np.testing.assert_allclose(res.cell_means.to_numpy(), ref["means"], atol=1e-5, rtol=0)
    np.testing.assert_allclose(res.cov.to_numpy(), ref["sigma"], atol=1e-5, rtol=0)


def test_loglik_is_the_reference_formula_at_the_estimate(fitted, sim3) -> None:
    _, res = fitted
    direct = glom_loglik(
        _codes(sim3), sim3[["x1", "x2"]].to_numpy(), [3, 2, 2], res.probabilities.to_numpy(),
        res.cell_means.to_numpy(), res.cov.to_numpy(),
    )
    assert res.loglik == pytest.approx(direct, rel=1e-12)


def test_probabilities_have_no_three_way_association(fitted) -> None:
    """``log pi`` lies in the span of the intercept, main effects and pairwise terms (exactly, up to rounding)."""
    _, res = fitted
    d = np.c_[np.ones(12), pairwise_design([3, 2, 2])]
    logpi = np.log(res.probabilities.to_numpy())
    resid = logpi - d @ np.linalg.lstsq(d, logpi, rcond=None)[0]
    np.testing.assert_allclose(resid, 0.0, atol=1e-10)
    assert res.n_parameters == n_free((3, 2, 2)) + (5 if res.means == "additive" else 12) * 2 + 3


def test_pairwise_is_below_saturated(fitted, sim3) -> None:
    """The saturated probabilities nest the pairwise ones: a higher maximum, here clearly (a simulated 3-way term)."""
    model, res = fitted
    sat = imputer.impute_glom(sim3, categorical=list(LEVELS), means=model, tol=1e-10)
    assert sat.probability_model == "saturated"
    assert sat.loglik > res.loglik + 1.0
    assert sat.n_parameters == res.n_parameters + 2  # the (3-1)(2-1)(2-1) three-way terms


@pytest.mark.parametrize("means", MEANS)
def test_two_categorical_columns_pairwise_is_saturated(sim, means) -> None:
    """With two columns the pairwise model is the saturated one: same estimates, likelihood and parameter count."""
    pw = imputer.impute_glom(sim, categorical=["a", "b"], means=means, probabilities="pairwise", tol=1e-11)
    sat = imputer.impute_glom(sim, categorical=["a", "b"], means=means, tol=1e-11)
    assert pw.loglik == pytest.approx(sat.loglik, rel=1e-11)
    assert pw.n_parameters == sat.n_parameters
    np.testing.assert_allclose(pw.probabilities.to_numpy(), sat.probabilities.to_numpy(), atol=1e-8)
    np.testing.assert_allclose(pw.cell_means.to_numpy(), sat.cell_means.to_numpy(), atol=1e-7)
    np.testing.assert_allclose(pw.cov.to_numpy(), sat.cov.to_numpy(), atol=1e-7)


@pytest.mark.parametrize("means", MEANS)
@pytest.mark.parametrize("accelerate", [True, False])
def test_ecm_never_decreases_loglik(sim3, means, accelerate) -> None:
    res = imputer.impute_glom(
        sim3, categorical=list(LEVELS), means=means, probabilities="pairwise", accelerate=accelerate, tol=1e-9
    )
    hist = res.loglik_history
    assert hist.size > 2
    assert np.all(np.diff(hist) >= -1e-10 * abs(hist[-1]))
    assert hist[-1] <= res.loglik + 1e-9


def test_ipf_matches_margins_and_keeps_the_model() -> None:
    """IPF from uniform fits the two-way margins of any table; from a model point it stays in the model."""
    rng = np.random.default_rng(0)
    shape = (3, 2, 4)
    target = rng.random(24)
    target /= target.sum()
    fit = ipf(target, np.full(24, 1 / 24), shape)
    t, f = target.reshape(shape), fit.reshape(shape)
    for axis in range(3):
        np.testing.assert_allclose(f.sum(axis=axis), t.sum(axis=axis), atol=1e-12)
    d = np.c_[np.ones(24), pairwise_design(list(shape))]
    resid = np.log(fit) - d @ np.linalg.lstsq(d, np.log(fit), rcond=None)[0]
    np.testing.assert_allclose(resid, 0.0, atol=1e-10)


def test_categorical_only_pairwise(sim3) -> None:
    res = imputer.impute_glom(sim3[list(LEVELS)], categorical=list(LEVELS), probabilities="pairwise", tol=1e-10)
    direct = glom_loglik(_codes(sim3), np.zeros((len(sim3), 0)), [3, 2, 2], res.probabilities.to_numpy(),
                         np.zeros((12, 0)), np.zeros((0, 0)))
    assert res.loglik == pytest.approx(direct, rel=1e-12)
    assert res.to_dict()["probability_model"] == "pairwise"
    assert "cell probabilities" in res.summary()


@pytest.mark.parametrize(
    ("value", "error"), [("loglinear3", ImputerValueError), ("auto", ImputerValueError), (2, ImputerTypeError)]
)
def test_bad_probabilities(sim3, value, error) -> None:
    with pytest.raises(error, match="probabilities must be one of"):
        imputer.impute_glom(sim3, categorical=["a"], probabilities=value)
